"""Occupancy labels ("seen from outside") against analytic shapes and hand-made cases."""

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from implicit_studio.train.data import labels

RNG = np.random.default_rng(0)
BAND = 0.01  # points closer than this to the analytic surface are not compared
COARSE = 96  # resolution for the cases that test structure, not accuracy (faster)


def sphere_sdf(p):
    return np.linalg.norm(p, axis=1) - 0.4


def box_sdf(p, half=0.3):
    q = np.abs(p) - half
    return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)


def torus_sdf(p, ring=0.3, tube=0.1):
    return np.hypot(np.hypot(p[:, 0], p[:, 1]) - ring, p[:, 2]) - tube


def labeler_of(mesh, **kwargs):
    return labels.build_labeler(np.asarray(mesh.vertices, dtype=float), np.asarray(mesh.faces), **kwargs)


SHAPES = {
    "sphere": (lambda: trimesh.creation.icosphere(4, radius=0.4), sphere_sdf),
    "cube": (lambda: trimesh.creation.box((0.6, 0.6, 0.6)), box_sdf),
    "torus": (lambda: trimesh.creation.torus(0.3, 0.1, major_sections=96, minor_sections=48), torus_sdf),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_agrees_with_analytic_inside_test(name):
    make, sdf = SHAPES[name]
    mesh = make()
    labeler = labeler_of(mesh)
    uniform = RNG.uniform(-0.55, 0.55, (20000, 3))
    near = mesh.sample(20000) + RNG.normal(0, 0.02, (20000, 3))
    for pts in (uniform, near):
        d = sdf(pts)
        away = np.abs(d) > BAND
        occ = labeler.occupancy(pts)
        assert np.mean(occ[away] == (d[away] < 0)) > 0.99
        assert np.mean(occ == (d < 0)) > 0.98  # the band too: points near the faces are labelled exactly


def test_face_orientation_does_not_matter():
    mesh = trimesh.creation.icosphere(3, radius=0.4)
    flipped = mesh.copy()
    flipped.faces[::2] = flipped.faces[::2, ::-1]
    pts = mesh.sample(5000) + RNG.normal(0, 0.01, (5000, 3))
    same = labeler_of(mesh, resolution=COARSE).occupancy(pts)
    assert np.array_equal(same, labeler_of(flipped, resolution=COARSE).occupancy(pts))


def test_open_sheet_gets_two_voxels_of_thickness():
    sheet = trimesh.Trimesh([[-0.5, -0.5, 0], [0.5, -0.5, 0], [0.5, 0.5, 0], [-0.5, 0.5, 0]], [[0, 1, 2], [0, 2, 3]])
    labeler = labeler_of(sheet)
    h = labeler.voxel
    z = np.array([-3 * h, -1.5 * h, -0.5 * h, 0.0, 0.5 * h, 1.5 * h, 3 * h])
    occ = labeler.occupancy(np.c_[np.full(7, 0.1), np.full(7, -0.2), z])
    assert occ.tolist() == [False, False, True, True, True, False, False]


def test_enclosed_cavity_is_inside_and_open_box_is_hollow():
    outer, inner = trimesh.creation.box((1, 1, 1)), trimesh.creation.box((0.6, 0.6, 0.6))
    hollow = trimesh.util.concatenate([outer, inner])
    axis = np.c_[np.linspace(-0.45, 0.45, 10), np.zeros(10), np.zeros(10)]
    assert labeler_of(hollow, resolution=COARSE).occupancy(axis).all()
    open_box = trimesh.creation.box((1, 1, 1))
    open_box.update_faces(open_box.triangles_center[:, 1] < 0.49)  # no top (y = +0.5)
    assert not labeler_of(open_box, resolution=COARSE).occupancy(axis).any()


def test_crack_narrower_than_two_voxels_is_sealed():
    box = trimesh.creation.box((1, 1, 1))
    box.update_faces(box.triangles_center[:, 1] < 0.49)  # an open box...
    centre = np.array([[0.0, 0.0, 0.0]])
    for lift, sealed in ((0.004, True), (0.05, False)):  # ...under a lid floating ``lift`` above it
        lid = trimesh.Trimesh([[-0.5, 0.5 + lift, -0.5], [0.5, 0.5 + lift, -0.5], [0.5, 0.5 + lift, 0.5],
                               [-0.5, 0.5 + lift, 0.5]], [[0, 1, 2], [0, 2, 3]])
        assert labeler_of(trimesh.util.concatenate([box, lid]), resolution=COARSE).occupancy(centre)[0] == sealed


def test_floor_closes_a_missing_bottom():
    box = trimesh.creation.box((1, 1, 1))
    box.update_faces(box.triangles_center[:, 1] > -0.49)  # no bottom (y = -0.5)
    pts = np.array([[0.0, 0.0, 0.0], [0.0, -0.45, 0.0], [0.0, -0.51, 0.0]])
    assert not labeler_of(box, resolution=COARSE).occupancy(pts)[:2].any()
    assert labeler_of(box, resolution=COARSE, on_floor=True).occupancy(pts).tolist() == [True, True, False]


def test_closed_panel_thinner_than_the_probes_keeps_its_thickness():
    panel = trimesh.creation.box((1, 1, 0.006))  # 1.5 voxels thick
    labeler = labeler_of(panel)
    z = [-0.02, -0.0045, -0.0025, 0.0, 0.0025, 0.0045, 0.02]
    assert labeler.occupancy(np.array([[0.1, 0.1, v] for v in z])).tolist() == [False, False, True, True, True,
                                                                              False, False]


def test_orient_outward_fixes_inverted_normals():
    mesh = trimesh.creation.icosphere(3, radius=0.4)
    pts, face = trimesh.sample.sample_surface(mesh, 2000, seed=0)
    normals = mesh.face_normals[face] * np.where(np.arange(2000) % 2, -1.0, 1.0)[:, None]
    fixed = labeler_of(mesh, resolution=COARSE).orient_outward(pts, normals)
    assert np.all(np.einsum("ij,ij->i", fixed, pts) > 0)


def test_cover_points_leave_no_gap_on_thin_faces():
    v = np.array([[0, 0, 0], [1, 0, 0], [0.5, 0.003, 0], [0, 0, 0.4], [0.2, 0.5, 0.4], [0.9, 0.1, 0.4]], float)
    f = np.array([[0, 1, 2], [3, 4, 5]])
    cover = labels.cover_points(v, f, 0.01)
    surface, _ = trimesh.sample.sample_surface(trimesh.Trimesh(v, f, process=False), 5000, seed=1)
    dist, _ = cKDTree(cover).query(surface)
    assert dist.max() <= 0.01 + 1e-6
    area = trimesh.Trimesh(v, f, process=False).area
    assert len(cover) < 6 * area / 0.01 ** 2 + 200  # bisection keeps slivers cheap


def test_empty_mesh_is_an_error():
    with pytest.raises(ValueError, match="mesh has no faces of non-zero area"):
        labels.build_labeler(np.zeros((3, 3)), np.array([[0, 1, 2]]))
