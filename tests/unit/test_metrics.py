"""Mesh metrics against the DESIGN.md section 5 reference values and analytic shapes."""

from __future__ import annotations

import re

import numpy as np
import pytest
import trimesh

from implicit_studio.errors import InputError
from implicit_studio.evaluate.inside import inside_mesh
from implicit_studio.evaluate.metrics import (evaluate_against_samples, evaluate_files, evaluate_meshes,
                                              format_metrics, fscore)


def sphere(radius: float, shift_x: float = 0.0) -> trimesh.Trimesh:
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=radius)
    mesh.apply_translation([shift_x, 0.0, 0.0])
    return mesh


@pytest.fixture(scope="module")
def gt() -> trimesh.Trimesh:
    return sphere(0.40)


@pytest.fixture(scope="module")
def reference(gt) -> dict:
    """DESIGN.md reference pair with the default settings (what the CLI runs)."""
    return evaluate_meshes(sphere(0.42, shift_x=0.01), gt)


@pytest.fixture(scope="module")
def query_points() -> np.ndarray:
    return np.random.default_rng(7).uniform(-0.55, 0.55, size=(50_000, 3))


# --- DESIGN.md reference values -------------------------------------------------------


def test_reference_iou_and_normal_consistency(reference):
    assert reference["iou"] == pytest.approx((0.40 / 0.42) ** 3, rel=0.01)
    assert reference["iou"] == pytest.approx(0.864, rel=0.01)
    assert reference["normal_consistency"] == pytest.approx(0.9988, rel=0.01)


def test_reference_chamfer(reference):
    assert reference["chamfer_l1"] == pytest.approx(0.0201, rel=0.03)
    assert reference["chamfer_l1_x10"] == pytest.approx(10 * reference["chamfer_l1"])


def test_reference_fscores(reference):
    assert reference["fscore_1pct"] < 0.01
    assert reference["fscore_2pct"] == pytest.approx(0.495, rel=0.10)
    assert reference["empty_prediction"] is False
    assert reference["failure"] is None
    assert reference["n_points"] == 100_000


def test_reference_ground_truth_is_not_rescaled(reference):
    """The 0.8-wide reference sphere is evaluated in its own units (no scaling to 1)."""
    assert reference["frame_scale"] == 1.0


# --- independent oracles where precision, recall and the volumes differ --------------------


def lens_volume(r1: float, r2: float, d: float) -> float:
    """Volume shared by two balls of radii r1, r2 whose centres are d apart (|r1 - r2| < d < r1 + r2)."""
    return np.pi * (r1 + r2 - d) ** 2 * (d * d + 2 * d * (r1 + r2) - 3 * (r1 - r2) ** 2) / (12 * d)


def test_lens_volume_formula_limits():
    """The oracle itself: touching balls share nothing; a ball reaching the other's centre, a known cap pair."""
    assert lens_volume(0.3, 0.25, 0.55) == 0.0
    # equal radii r at distance r: two caps of height r/2, each pi h^2 (3r - h) / 3
    h = 0.15
    assert lens_volume(0.3, 0.3, 0.3) == pytest.approx(2 * np.pi * h * h * (3 * 0.3 - h) / 3)


def test_iou_of_partially_overlapping_spheres_is_lens_over_union():
    """Neither sphere holds the other: intersection / union = 0.631, where dividing by the prediction's
    volume gives 0.917 and by the ground truth's 0.669."""
    r_gt, r_pred, d = 0.40, 0.36, 0.10
    gt = sphere(r_gt, shift_x=-d / 2)
    pred = sphere(r_pred, shift_x=d / 2)
    shared = lens_volume(r_gt, r_pred, d)
    expected = shared / (4 / 3 * np.pi * (r_gt**3 + r_pred**3) - shared)
    # 20,000 points put about 4,300 in the union: one standard deviation of the estimate is 0.0074
    assert evaluate_meshes(pred, gt, n_points=20_000)["iou"] == pytest.approx(expected, abs=0.02)
    assert evaluate_meshes(gt, pred, n_points=20_000)["iou"] == pytest.approx(expected, abs=0.02)


def test_fscore_is_the_harmonic_mean():
    assert fscore(0.9, 0.3) == pytest.approx(0.45)                  # arithmetic mean: 0.6
    assert fscore(1.0, 0.0) == 0.0
    assert fscore(0.0, 0.0) == 0.0
    assert fscore(0.5, 0.5) == pytest.approx(0.5)


@pytest.fixture(scope="module")
def hemisphere_pair() -> tuple[trimesh.Trimesh, trimesh.Trimesh]:
    """A sphere of radius 0.4 and its upper half (an open mesh on the same surface)."""
    whole = trimesh.creation.icosphere(subdivisions=4, radius=0.4)
    half = whole.copy()
    half.update_faces(half.triangles_center[:, 2] > 0)
    half.remove_unreferenced_vertices()
    return whole, half


HALF_PAIR_FSCORE = (2 * 0.99 * 0.5 / 1.49, 2 * 0.525 / 1.525)
"""F = 2PR / (P + R) for P in [0.99, 1], R in [0.5, 0.525]: 0.664 to 0.689 (the arithmetic mean would be 0.75)."""


def test_half_prediction_has_full_precision_half_recall(hemisphere_pair):
    """Every sample of the half lies on the sphere (precision 1); it covers half the sphere's area plus
    at most a 2 % band at the rim (recall 0.5 to 0.525)."""
    whole, half = hemisphere_pair
    result = evaluate_meshes(half, whole, n_points=20_000)
    precision, recall = result["precision_2pct"], result["recall_2pct"]
    assert precision > 0.99
    assert 0.5 <= recall <= 0.525
    assert HALF_PAIR_FSCORE[0] <= result["fscore_2pct"] <= HALF_PAIR_FSCORE[1]
    assert result["fscore_2pct"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert result["fscore_1pct"] == pytest.approx(fscore(result["precision_1pct"], result["recall_1pct"]))


def test_whole_prediction_of_half_ground_truth_has_half_precision_full_recall(hemisphere_pair):
    """The same pair the other way round: precision and recall trade places."""
    whole, half = hemisphere_pair
    result = evaluate_meshes(whole, half, n_points=20_000)
    assert 0.5 <= result["precision_2pct"] <= 0.525
    assert result["recall_2pct"] > 0.99
    assert HALF_PAIR_FSCORE[0] <= result["fscore_2pct"] <= HALF_PAIR_FSCORE[1]


def analytic_sphere_samples(radius: float, n: int, seed: int) -> tuple:
    """A sphere stored as a data set shape: uniform points (n, 3) in the padded cube with their exact
    occupancy (n,), surface points (n, 3) and normals (n, 3) of lengths 2.5 and 0.4 (stored normals need not
    be unit)."""
    rng = np.random.default_rng(seed)
    uniform = rng.uniform(-0.55, 0.55, (n, 3))
    directions = rng.normal(size=(n, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    lengths = np.where(np.arange(n) % 2 == 0, 2.5, 0.4)[:, None]
    return uniform, np.linalg.norm(uniform, axis=1) < radius, radius * directions, lengths * directions


def test_metrics_against_stored_samples_of_an_analytic_sphere(hemisphere_pair):
    whole, half = hemisphere_pair
    samples = analytic_sphere_samples(0.40, 20_000, seed=1)
    bigger = evaluate_against_samples(sphere(0.42), *samples)     # concentric, the surfaces 0.02 apart
    assert bigger["iou"] == pytest.approx((0.40 / 0.42) ** 3, abs=0.01)
    assert bigger["chamfer_l1"] == pytest.approx(0.02, abs=0.003)
    assert bigger["chamfer_l1_x10"] == pytest.approx(10 * bigger["chamfer_l1"])
    assert bigger["fscore_1pct"] == 0.0 and bigger["fscore_2pct"] > 0.2
    assert bigger["normal_consistency"] == pytest.approx(1.0, abs=0.002)     # the stored normals made unit first
    assert bigger["n_points"] == 20_000 and bigger["frame_scale"] == 1.0
    assert bigger["failure"] is None and bigger["empty_prediction"] is False
    partial = evaluate_against_samples(half, *samples)
    assert partial["precision_2pct"] > 0.99 and 0.5 <= partial["recall_2pct"] <= 0.525
    failed = evaluate_against_samples(None, *samples)
    assert failed["failure"] == "empty mesh" and failed["iou"] == 0.0 and failed["n_points"] == 20_000
    assert failed["frame_scale"] == 1.0


def test_metrics_against_stored_samples_are_seeded():
    samples = analytic_sphere_samples(0.40, 2_000, seed=1)
    first = evaluate_against_samples(sphere(0.42), *samples)
    assert evaluate_against_samples(sphere(0.42), *samples) == first
    assert evaluate_against_samples(sphere(0.42), *samples, seed=0) == first
    assert evaluate_against_samples(sphere(0.42), *samples, seed=5)["chamfer_l1"] != first["chamfer_l1"]


def test_self_comparison(gt):
    result = evaluate_meshes(gt, gt)
    assert result["iou"] == 1.0
    assert result["fscore_1pct"] == 1.0
    assert result["fscore_2pct"] == 1.0
    assert result["chamfer_l1"] == pytest.approx(0.0022, rel=0.05)
    assert result["normal_consistency"] > 0.999


# --- evaluation frame ----------------------------------------------------------------


def test_large_ground_truth_is_scaled_to_the_unit_frame(gt):
    """A ground truth in millimetres is brought to longest side 1; so is the prediction."""
    pred = sphere(0.42, shift_x=0.01)
    offset = np.array([120.0, -40.0, 7.0])
    in_mm = evaluate_meshes(
        pred.copy().apply_scale(1000.0).apply_translation(offset),
        gt.copy().apply_scale(1000.0).apply_translation(offset),
        n_points=20_000,
    )
    unit = evaluate_meshes(pred.copy().apply_scale(1.25), gt.copy().apply_scale(1.25), n_points=20_000)
    assert in_mm["frame_scale"] == pytest.approx(800.0)
    for key in ("iou", "chamfer_l1", "normal_consistency", "fscore_2pct"):
        assert in_mm[key] == pytest.approx(unit[key], rel=1e-3), key


def test_normalize_false_uses_raw_coordinates(gt):
    far = gt.copy().apply_translation([5.0, 0.0, 0.0])
    assert evaluate_meshes(far, far, n_points=5_000, normalize=False)["iou"] is None
    assert evaluate_meshes(far, far, n_points=5_000)["iou"] == 1.0


# --- failures are counted ------------------------------------------------------------


def broken_meshes() -> dict:
    nan_mesh = sphere(0.4)
    nan_mesh.vertices[0] = np.nan
    flat = trimesh.Trimesh(np.zeros((3, 3)), [[0, 1, 2]], process=False)
    bad_index = trimesh.Trimesh(np.eye(3), [[0, 1, 5]], process=False, validate=False)
    return {
        "empty mesh": [None, trimesh.Trimesh()],
        "non-finite vertices": [nan_mesh],
        "zero surface area": [flat],
        "invalid face indices": [bad_index],
    }


@pytest.mark.parametrize(
    ("reason", "mesh"), [(reason, mesh) for reason, meshes in broken_meshes().items() for mesh in meshes]
)
def test_broken_prediction_is_a_counted_failure(gt, reason, mesh):
    result = evaluate_meshes(mesh, gt, n_points=1_000)
    assert result["failure"] == reason
    assert result["empty_prediction"] is True
    assert result["iou"] == 0.0
    assert result["fscore_1pct"] == result["fscore_2pct"] == 0.0
    assert result["chamfer_l1"] is None and result["chamfer_l1_x10"] is None
    assert result["normal_consistency"] is None
    assert "FAILED" in format_metrics(result)


def test_broken_ground_truth_is_an_input_error():
    with pytest.raises(InputError, match="ground-truth"):
        evaluate_meshes(sphere(0.4), trimesh.Trimesh(), n_points=1_000)


def test_no_points_is_an_input_error(gt):
    with pytest.raises(InputError, match="positive"):
        evaluate_meshes(gt, gt, n_points=0)


# --- determinism -----------------------------------------------------------------------


def test_same_seed_same_numbers(gt):
    pred = sphere(0.42, shift_x=0.01)
    first = evaluate_meshes(pred, gt, n_points=10_000, seed=3)
    assert evaluate_meshes(pred, gt, n_points=10_000, seed=3) == first
    assert evaluate_meshes(pred, gt, n_points=10_000, seed=4)["chamfer_l1"] != first["chamfer_l1"]


def test_inputs_are_not_modified(gt):
    pred = sphere(0.42, shift_x=0.01).apply_scale(100.0)
    before = pred.vertices.copy()
    evaluate_meshes(pred, gt.copy().apply_scale(100.0), n_points=1_000)
    np.testing.assert_array_equal(pred.vertices, before)


# --- inside test -----------------------------------------------------------------------


def agreement_away_from_surface(inside: np.ndarray, signed: np.ndarray, margin: float) -> float:
    """Fraction of points farther than ``margin`` from the surface classified correctly.

    signed : (N,) float, analytic signed distance, negative inside
    """
    far = np.abs(signed) > margin
    return float(np.mean(inside[far] == (signed[far] < 0)))


def test_inside_sphere_matches_analytic(query_points):
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=0.4)
    signed = np.linalg.norm(query_points, axis=1) - 0.4
    assert agreement_away_from_surface(inside_mesh(mesh, query_points), signed, 0.01) > 0.995


def test_inside_torus_matches_analytic(query_points):
    mesh = trimesh.creation.torus(major_radius=0.3, minor_radius=0.1, major_sections=64, minor_sections=32)
    ring = np.hypot(np.linalg.norm(query_points[:, :2], axis=1) - 0.3, query_points[:, 2])
    assert agreement_away_from_surface(inside_mesh(mesh, query_points), ring - 0.1, 0.01) > 0.995


def test_inside_ignores_orientation(query_points):
    mesh = trimesh.creation.torus(major_radius=0.3, minor_radius=0.1)
    inverted = mesh.copy()
    inverted.invert()
    np.testing.assert_array_equal(inside_mesh(inverted, query_points), inside_mesh(mesh, query_points))


def test_inside_mesh_with_a_hole(query_points):
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=0.4)
    mesh.update_faces(mesh.triangles_center[:, 2] < 0.35)  # cut a cap off the top
    assert not mesh.is_watertight
    inside = inside_mesh(mesh, query_points)
    radius = np.linalg.norm(query_points, axis=1)
    assert inside[radius < 0.3].all()
    assert not inside[radius > 0.45].any()
    below_cap = (query_points[:, 2] < 0.3) & (np.abs(radius - 0.4) > 0.01)
    assert np.mean(inside[below_cap] == (radius[below_cap] < 0.4)) > 0.995


def test_inside_batches_agree(query_points):
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.4)
    batched = inside_mesh(mesh, query_points, batch_size=7_001)
    np.testing.assert_array_equal(batched, inside_mesh(mesh, query_points))


def test_inside_empty_mesh_holds_nothing(query_points):
    assert not inside_mesh(trimesh.Trimesh(), query_points).any()
    assert not inside_mesh(trimesh.creation.box(), np.zeros((0, 3))).any()


def test_inside_a_single_point_and_any_number_types():
    """One query point is a query like any other; float32 corners, int32 faces and float32 points (a mesh
    as the engine makes it) give the float64 answer (libigl itself takes float64 and int64 only)."""
    from implicit_studio.evaluate.inside import points_inside, winding_numbers

    box = trimesh.creation.box(extents=(0.5, 0.5, 0.5))
    assert inside_mesh(box, np.zeros((1, 3))).tolist() == [True]
    points = np.array([[0.0, 0.0, 0.0], [0.1, 0.2, -0.1], [0.4, 0.0, 0.0]])
    expected = winding_numbers(box.vertices, box.faces, points)
    np.testing.assert_allclose(expected, [1.0, 1.0, 0.0], atol=1e-5)
    narrow = winding_numbers(box.vertices.astype(np.float32), box.faces.astype(np.int32), points.astype(np.float32))
    np.testing.assert_allclose(narrow, expected, atol=1e-6)
    assert points_inside(box.vertices.astype(np.float32), box.faces.astype(np.int32),
                         points.astype(np.float32)).tolist() == [True, True, False]


def test_inside_queries_libigl_in_batches(monkeypatch, query_points):
    """``batch_size`` bounds the points of one libigl call (and so its memory), through every entry point."""
    from implicit_studio.evaluate import inside

    sizes = []
    real = inside.igl.fast_winding_number

    def counted(vertices, faces, points):
        sizes.append(len(points))
        return real(vertices, faces, points)

    monkeypatch.setattr(inside.igl, "fast_winding_number", counted)
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=0.4)
    inside.inside_mesh(mesh, query_points[:10_000], batch_size=3_000)
    assert sizes == [3_000, 3_000, 3_000, 1_000]
    sizes.clear()
    inside.points_inside(mesh.vertices, mesh.faces, query_points[:5_000], batch_size=4_000)
    assert sizes == [4_000, 1_000]


# --- files and formatting --------------------------------------------------------------


def test_evaluate_files_matches_meshes(tmp_path, gt):
    pred = sphere(0.42, shift_x=0.01)
    pred.export(tmp_path / "pred.ply")
    gt.export(tmp_path / "gt.obj")
    from_files = evaluate_files(tmp_path / "pred.ply", tmp_path / "gt.obj", n_points=5_000)
    in_memory = evaluate_meshes(pred, gt, n_points=5_000)
    for key in ("iou", "chamfer_l1", "normal_consistency", "fscore_2pct"):
        assert from_files[key] == pytest.approx(in_memory[key], rel=1e-4), key


def test_empty_prediction_file_is_counted(tmp_path, gt):
    gt.export(tmp_path / "gt.ply")
    (tmp_path / "pred.obj").write_text("")
    result = evaluate_files(tmp_path / "pred.obj", tmp_path / "gt.ply", n_points=1_000)
    assert result["empty_prediction"] is True
    assert result["iou"] == 0.0


def test_unreadable_files_are_input_errors(tmp_path, gt):
    gt.export(tmp_path / "gt.ply")
    (tmp_path / "bad.ply").write_text("not a mesh")
    (tmp_path / "empty.obj").write_text("")
    with pytest.raises(InputError, match="missing.obj"):
        evaluate_files(tmp_path / "missing.obj", tmp_path / "gt.ply")
    with pytest.raises(InputError, match="bad.ply"):
        evaluate_files(tmp_path / "bad.ply", tmp_path / "gt.ply")
    with pytest.raises(InputError, match="empty.obj"):
        evaluate_files(tmp_path / "gt.ply", tmp_path / "empty.obj")


def test_format_metrics_labels(reference):
    text = format_metrics(reference)
    assert "Chamfer-L1 (raw)" in text and "x10" in text
    assert "0.8" in text.splitlines()[0]
    assert "FAILED" not in text


# --- the parts, one by one (mutation testing found these unchecked) --------------------------------


def test_files_are_measured_with_the_papers_100k_points_by_default(tmp_path):
    small = trimesh.creation.icosphere(subdivisions=1, radius=0.4)
    small.export(tmp_path / "small.ply")
    assert evaluate_files(tmp_path / "small.ply", tmp_path / "small.ply")["n_points"] == 100_000


def test_one_point_is_enough(gt):
    result = evaluate_meshes(gt, gt, n_points=1)
    assert result["n_points"] == 1 and result["failure"] is None


def test_evaluation_frame_scales_large_ground_truths_by_default():
    from implicit_studio.evaluate.metrics import evaluation_frame

    corners = np.array([[0.0, 0.0, 0.0], [1000.0, 500.0, 200.0]])
    frame = evaluation_frame(corners)
    assert frame.scale == 1000.0
    np.testing.assert_allclose(frame.center, [500.0, 250.0, 100.0])
    assert evaluation_frame(corners, normalize=False).scale == 1.0


def test_face_areas_of_known_triangles():
    from implicit_studio.evaluate.metrics import face_areas

    triangles = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 0, 0], [2, 0, 0], [0, 0, 3]]], float)
    np.testing.assert_allclose(face_areas(triangles), [0.5, 3.0])


def test_iou_points_fill_the_padded_cube():
    from implicit_studio.evaluate.metrics import iou_points

    points = iou_points(20_000, np.random.default_rng(0))
    assert points.shape == (20_000, 3)
    assert np.all(np.abs(points) <= 0.55)
    assert np.all(points.min(axis=0) < -0.54) and np.all(points.max(axis=0) > 0.54)


def test_samples_cover_every_face_by_area():
    """Two triangles, the second three times the first: a quarter of the samples on the first, none
    off the triangles, normals those of the faces."""
    from implicit_studio.evaluate.metrics import sample_surface

    triangles = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 0, 1], [0, 3, 1], [1, 0, 1]]], float)
    points, normals = sample_surface(triangles, 20_000, np.random.default_rng(0))
    on_first = points[:, 2] == 0.0
    assert np.mean(on_first) == pytest.approx(0.25, abs=0.01)
    assert np.all(points[:, 0] >= 0) and np.all(points[:, 1] >= 0)
    assert np.all(points[on_first, 0] + points[on_first, 1] <= 1 + 1e-12)
    assert np.all(3 * points[~on_first, 0] + points[~on_first, 1] <= 3 + 1e-12)
    np.testing.assert_allclose(np.abs(normals[:, 2]), 1.0)


def test_a_sample_exactly_at_the_distance_counts():
    """Precision and recall count samples *within* 1 % and 2 %: a distance equal to the threshold counts."""
    from implicit_studio.evaluate.metrics import surface_metrics

    pred = np.zeros((1, 3))
    gt = np.array([[0.01, 0.0, 0.0]])
    normals = np.array([[0.0, 0.0, 1.0]])
    result = surface_metrics(pred, normals, gt, normals)
    assert result["precision_1pct"] == result["recall_1pct"] == result["fscore_1pct"] == 1.0
    assert result["chamfer_l1"] == pytest.approx(0.01) and result["chamfer_l1_x10"] == pytest.approx(0.1)


class FacesOnly:
    """A duck-typed mesh: vertices (V, 3) and faces of any shape."""

    def __init__(self, vertices, faces):
        self.vertices, self.faces = np.asarray(vertices, float), np.asarray(faces)


@pytest.mark.parametrize("mesh, reason", [
    (trimesh.PointCloud(np.eye(3)), "empty mesh"),                              # vertices without faces
    (FacesOnly(np.eye(3), [0, 1, 2]), "invalid face indices"),                  # not (F, 3)
    (FacesOnly(np.eye(4), [[0, 1, 2, 3]]), "invalid face indices"),             # quads
    (FacesOnly(np.eye(3), [[0, 1, 3]]), "invalid face indices"),                # one past the last vertex
    (FacesOnly(np.eye(3), [[0, 1, -1]]), "invalid face indices"),
    (FacesOnly(np.eye(3), [[0, 1, 2]]), None),
])
def test_mesh_problem_of_odd_meshes(mesh, reason):
    from implicit_studio.evaluate.metrics import mesh_problem

    assert mesh_problem(mesh) == reason


def test_failed_result_counts_zero_everywhere():
    from implicit_studio.evaluate.metrics import failed_result

    result = failed_result("empty mesh", 1_000, 800.0)
    assert result == {"iou": 0.0, "chamfer_l1": None, "chamfer_l1_x10": None, "normal_consistency": None,
                      "precision_1pct": 0.0, "recall_1pct": 0.0, "fscore_1pct": 0.0,
                      "precision_2pct": 0.0, "recall_2pct": 0.0, "fscore_2pct": 0.0,
                      "n_points": 1_000, "frame_scale": 800.0, "empty_prediction": True, "failure": "empty mesh"}


def test_warnings_and_timing_are_logged(gt, caplog):
    import logging

    with caplog.at_level(logging.DEBUG, logger="implicit_studio.evaluate.metrics"):
        evaluate_meshes(None, gt, n_points=100)
        evaluate_meshes(gt, gt, n_points=100)
        far = gt.copy().apply_translation([5.0, 0.0, 0.0])
        evaluate_meshes(far, far, n_points=100, normalize=False)
    messages = [r.getMessage() for r in caplog.records]
    assert "prediction counted as a failure: empty mesh" in messages
    assert "IoU undefined: no sample point is inside either mesh" in messages
    timing = [m for m in messages if m.startswith("evaluated ")]
    faces = len(gt.faces)
    assert timing and re.fullmatch(rf"evaluated {faces} \+ {faces} faces in \d+\.\d\d s", timing[0]), timing
    assert float(timing[0].split(" in ")[1][:-2]) < 60


def test_load_mesh_refuses_or_allows_a_mesh_without_faces(tmp_path):
    from implicit_studio.evaluate.metrics import load_mesh
    from implicit_studio.io.files import write_point_cloud

    write_point_cloud(tmp_path / "points.ply", np.random.default_rng(0).random((20, 3)))
    with pytest.raises(InputError, match="points.ply: the file has 20 vertices but no usable faces"):
        load_mesh(tmp_path / "points.ply")
    assert len(load_mesh(tmp_path / "points.ply", allow_empty=True).faces) == 0


def test_evaluate_files_passes_the_seed_and_names_a_flat_ground_truth(tmp_path, gt):
    pred = sphere(0.42, shift_x=0.01)
    pred.export(tmp_path / "pred.ply")
    gt.export(tmp_path / "gt.ply")
    from_files = evaluate_files(tmp_path / "pred.ply", tmp_path / "gt.ply", n_points=2_000, seed=3)
    assert from_files["chamfer_l1"] == pytest.approx(evaluate_meshes(pred, gt, n_points=2_000, seed=3)["chamfer_l1"],
                                                     rel=1e-6)
    flat = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [2, 0, 0]], [[0, 1, 2]], process=False)
    flat.export(tmp_path / "flat.ply")
    with pytest.raises(InputError, match=r"ground-truth mesh .*flat\.ply cannot be evaluated: zero surface area"):
        evaluate_files(tmp_path / "pred.ply", tmp_path / "flat.ply", n_points=100)


def test_format_metrics_table():
    metrics = {"iou": 0.86412, "chamfer_l1": 0.0201234, "chamfer_l1_x10": 0.201234, "normal_consistency": 0.99876,
               "precision_1pct": 0.0, "recall_1pct": 0.0, "fscore_1pct": 0.0,
               "precision_2pct": 0.51, "recall_2pct": 0.48, "fscore_2pct": 0.4945,
               "n_points": 100_000, "frame_scale": 800.0, "failure": None}
    assert format_metrics(metrics) == (
        "IoU                       0.8641\n"
        "Chamfer-L1 (raw)          0.02012\n"
        "Chamfer-L1 (x10, papers)  0.2012\n"
        "Normal consistency        0.9988\n"
        "F-score @0.01 (1%)        0.0000  (precision 0.0000, recall 0.0000)\n"
        "F-score @0.02 (2%)        0.4945  (precision 0.5100, recall 0.4800)\n"
        "Points                    100,000 per measure\n"
        "Frame                     ground truth scaled down by 800")
    failed = format_metrics({**metrics, "chamfer_l1": None, "chamfer_l1_x10": None, "normal_consistency": None,
                             "frame_scale": 1.0, "failure": "empty mesh"})
    assert failed.splitlines()[1:4] == ["Chamfer-L1 (raw)          n/a", "Chamfer-L1 (x10, papers)  n/a",
                                        "Normal consistency        n/a"]
    assert failed.splitlines()[-1] == "FAILED                    empty mesh (counted: IoU 0, F 0, Chamfer missing)"
    assert "Frame" not in failed
    assert "Frame" not in format_metrics({k: v for k, v in metrics.items() if k != "frame_scale"})
