"""Pose search (engine.pose): candidate poses, the posed field, and a search that finds a turned box."""

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial.transform import Rotation

from implicit_studio.engine.pose import (CUBE, OUTSIDE_LOGIT, STRAIGHTEN_RATIO, Pose, box_volume, candidate_poses,
                                        find_pose, straighten)
from implicit_studio.io.normalize import BOX_HALF, Normalization

HALF = np.array([0.5, 0.2, 0.3])      # half sides of the box the fake model always reconstructs


class BoxModel(torch.nn.Module):
    """A stand-in prior that ignores its input and always 'reconstructs' one upright box:
    only an input lined up with that box fits its mesh."""

    def encode(self, points: torch.Tensor) -> torch.Tensor:
        return points.new_zeros(1)

    def decode(self, points: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        outside = (points.abs() - torch.as_tensor(HALF, dtype=points.dtype)).amax(dim=-1)
        return -40.0 * outside


def box_scan(rotation: np.ndarray, n: int = 3000, seed: int = 0) -> np.ndarray:
    """Surface samples of the upright box turned by ``rotation``, fitted to the unit frame: (n, 3)."""
    box = trimesh.creation.box(2 * HALF)
    points, _ = trimesh.sample.sample_surface(box, n, seed=seed)
    turned = points @ rotation.T
    return Normalization.fit(turned).to_unit(turned)


def test_cube_turns_are_the_24_distinct_proper_rotations_identity_first():
    assert CUBE.shape == (24, 3, 3) and np.array_equal(CUBE[0], np.eye(3))
    assert len({tuple(m.ravel()) for m in CUBE}) == 24
    for m in CUBE:
        assert np.allclose(m @ m.T, np.eye(3)) and np.isclose(np.linalg.det(m), 1.0)


def test_candidates_start_with_the_input_as_it_is_and_fit_the_unit_box():
    points = box_scan(Rotation.random(random_state=1).as_matrix())
    poses = candidate_poses(points)
    assert len(poses) == 25 and poses[0].is_identity
    for pose in poses[1:]:
        model = pose.to_model(points)
        assert np.isclose(np.ptp(model, axis=0).max(), 1.0, atol=1e-5)
        assert np.allclose((model.min(axis=0) + model.max(axis=0)) / 2, 0.0, atol=1e-5)


def test_posed_field_reads_the_model_frame_and_is_empty_beyond_the_box():
    pose = Pose(Rotation.from_euler("y", 30, degrees=True).as_matrix(), np.array([0.1, 0.0, -0.05]), 0.8)
    points = np.random.default_rng(0).uniform(-0.55, 0.55, (500, 3)).astype(np.float32)
    model_field = lambda q: q[:, 0] + 2 * q[:, 1]      # noqa: E731
    values = pose.field(model_field)(points)
    mapped = pose.to_model(points)
    inside = np.all(np.abs(mapped) <= BOX_HALF, axis=1)
    assert 0 < inside.sum() < len(points)
    assert np.allclose(values[inside], model_field(mapped[inside]))
    assert np.all(values[~inside] == OUTSIDE_LOGIT)
    identity = Pose.identity()
    assert identity.field(model_field) is model_field and identity.to_model(points) is not None
    assert np.array_equal(identity.to_model(points), points)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_search_lines_a_turned_box_up_with_the_one_the_model_knows(seed):
    points = box_scan(Rotation.random(random_state=seed).as_matrix(), seed=seed)
    search = find_pose(BoxModel(), points, 0.0, torch.device("cpu"))
    model_points = search.pose.to_model(points)
    # in the chosen pose the scan lies on the model's box (the box's faces, up to the unit-box fit)
    on_face = np.abs(np.abs(model_points / (HALF / HALF.max() / 2)) - 1.0).min(axis=1)
    assert np.median(on_face) < 0.02
    assert search.distance < 0.5 * search.distance_as_is and search.candidates == 25
    assert 0.0 < search.pose.degrees <= 180.0 and search.summary()["candidates"] == 25


def test_upright_input_keeps_its_pose_and_a_cancelled_search_gives_none():
    points = box_scan(np.eye(3))
    search = find_pose(BoxModel(), points, 0.0, torch.device("cpu"))
    assert search.pose.is_identity and search.distance == search.distance_as_is
    assert find_pose(BoxModel(), points, 0.0, torch.device("cpu"), cancel=lambda: True) is None


def run_with_pose_search(points: np.ndarray, refine: float) -> tuple[list, dict]:
    """The shipped 3-plane model with ``pose="auto"`` on ``points`` (N, 3): (meshes, stats)."""
    from implicit_studio.engine.events import Finished, LevelMesh
    from implicit_studio.engine.session import ReconstructionSession, Settings
    from implicit_studio.io.inputs import InputData

    settings = Settings(model="convonet-3plane", resolution0=16, levels=1, refine=refine, pose="auto")
    meshes, stats = [], {}
    for event in ReconstructionSession(InputData("slab", "points", points=points), settings).run():
        if isinstance(event, LevelMesh):
            meshes.append(event)
        elif isinstance(event, Finished):
            stats = event.stats
    return meshes, stats


@pytest.mark.parametrize("refine", [0.0, 0.5])
def test_session_with_pose_auto_meshes_in_the_input_frame(refine):
    """The shipped 3-plane model on a turned slab: the input as loaded is shown first (a coarse
    preview that says so), then the search turns it, and the meshes (prior and refined) still come
    back where the input points are, not in the model's frame."""
    from scipy.spatial import cKDTree

    from implicit_studio.engine.session import AS_LOADED_NOTE

    turn = Rotation.from_euler("xyz", [35, 50, 20], degrees=True).as_matrix()
    points = box_scan(turn, seed=3)
    meshes, stats = run_with_pose_search(points, refine)
    first = meshes[0]
    assert first.preview and first.note == AS_LOADED_NOTE and first.level == 0 and len(first.faces) > 0
    assert all(not m.note for m in meshes[1:]) and stats["as_loaded_s"] == first.seconds
    assert first.seconds < stats["pose"]["seconds"] < stats["levels"][0]["t_s"]
    final = meshes[-1]
    assert final.final and stats["pose"]["degrees"] != 0.0 and stats["pose"]["candidates"] == 25
    assert stats["levels"][0]["new_evaluations"] > 0        # the turned input was encoded and meshed anew
    mesh = trimesh.Trimesh(final.vertices, final.faces, process=False)
    samples, _ = trimesh.sample.sample_surface(mesh, 2000, seed=0)
    assert np.mean(cKDTree(points).query(samples)[0]) < 0.03
    assert np.mean(cKDTree(samples).query(points)[0]) < 0.03


def test_when_the_input_pose_wins_the_run_goes_on_from_the_preview_grid(monkeypatch):
    """A search that keeps the input as it is: nothing is encoded or evaluated again, and the run's
    level 0 is the preview's grid."""
    from implicit_studio.engine import pose as pose_module
    from implicit_studio.engine.pose import PoseSearch

    monkeypatch.setattr(pose_module, "find_pose", lambda *args: PoseSearch(Pose.identity(), 0.01, 0.01, 25, 0.0))
    meshes, stats = run_with_pose_search(box_scan(np.eye(3), seed=4), 0.0)
    assert meshes[0].preview and stats["pose"]["degrees"] == 0.0
    assert stats["levels"][0]["new_evaluations"] == 0 and stats["levels"][0]["evaluations"] == 0
    assert len(meshes[1].faces) == len(meshes[0].faces) and meshes[-1].final


def test_straighten_leaves_an_upright_box_and_lines_a_turned_one_up_with_the_axes():
    upright = straighten(box_scan(np.eye(3)))
    assert upright.pose.is_identity and upright.box_ratio < STRAIGHTEN_RATIO
    turned_points = box_scan(Rotation.from_euler("xyz", [35, 50, 20], degrees=True).as_matrix(), seed=2)
    turned = straighten(turned_points)
    assert turned.box_ratio >= STRAIGHTEN_RATIO and not turned.pose.is_identity
    model = turned.pose.to_model(turned_points)
    # the box's sides lie along the axes again: the axis-aligned box is the box itself
    assert np.allclose(np.sort(np.ptp(model, axis=0)), np.sort(2 * HALF / (2 * HALF).max()), atol=0.03)
    assert box_volume(model) < 0.5 * box_volume(turned_points)      # the axis-aligned box hugs it again
    assert turned.pose.scale < 0.9          # so the model sees it larger than as loaded
    summary = turned.summary()
    assert summary["method"] == "straighten" and summary["degrees"] == turned.pose.degrees > 0.0


def test_straighten_takes_the_quarter_turn_nearest_the_scan_own_frame():
    """A box yawed 40 degrees about its up axis comes back by 40 degrees of yaw: still upright."""
    points = box_scan(Rotation.from_euler("y", 40, degrees=True).as_matrix(), seed=5)
    pose = straighten(points).pose
    assert abs(pose.degrees - 40.0) < 3.0 and abs(pose.rotation[1, 1]) > 0.99


def test_straighten_flat_clouds():
    """A flat cloud off the axes is turned flat onto them; one already on them is left alone."""
    rng = np.random.default_rng(0)
    flat = np.c_[rng.uniform(-0.5, 0.5, (500, 2)), np.zeros(500)]
    assert straighten(flat).pose.is_identity and straighten(flat).box_ratio == 1.0
    tilted = flat @ Rotation.from_euler("x", 30, degrees=True).as_matrix().T
    straightened = straighten(tilted)
    assert straightened.box_ratio > 100.0
    assert np.ptp(straightened.pose.to_model(tilted), axis=0).min() < 1e-3


def test_session_with_pose_straighten_meshes_in_the_input_frame():
    """The shipped 3-plane model on a turned slab, straightened: the mesh comes back where the points are."""
    from scipy.spatial import cKDTree

    from implicit_studio.engine.events import Finished, LevelMesh
    from implicit_studio.engine.session import ReconstructionSession, Settings
    from implicit_studio.io.inputs import InputData

    points = box_scan(Rotation.from_euler("xyz", [35, 50, 20], degrees=True).as_matrix(), seed=3)
    settings = Settings(model="convonet-3plane", resolution0=16, levels=1, refine=0.0, pose="straighten")
    events = list(ReconstructionSession(InputData("slab", "points", points=points), settings).run())
    final = next(e for e in events if isinstance(e, LevelMesh) and e.final)
    stats = next(e for e in events if isinstance(e, Finished)).stats
    assert stats["pose"]["method"] == "straighten" and stats["pose"]["degrees"] > 0.0
    assert not any(isinstance(e, LevelMesh) and e.preview for e in events)     # nothing to wait for
    mesh = trimesh.Trimesh(final.vertices, final.faces, process=False)
    samples, _ = trimesh.sample.sample_surface(mesh, 2000, seed=0)
    assert np.mean(cKDTree(points).query(samples)[0]) < 0.03
    assert np.mean(cKDTree(samples).query(points)[0]) < 0.03
