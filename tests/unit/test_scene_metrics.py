"""The room benchmark's surface metrics (evaluate/scenes.py): dense enough that a right surface
scores as right at 1 and 2 cm, whatever the room's size, and the closed-solid bound."""

import numpy as np
import pytest
import trimesh

from implicit_studio.errors import InputError
from implicit_studio.evaluate.scenes import room_metrics, solid_bound


def air_room(size, rng, wall=0.0):
    """A room dict whose air is the box [0, size]; its interior faces sampled at 10,000 per m^2
    (eval), and, with ``wall`` > 0, its whole surface (the walls' inner and outer faces) at 1,500."""
    size = np.asarray(size, dtype=np.float64)
    air = trimesh.creation.box(extents=size)
    air.apply_translation(size / 2)
    dense, faces = trimesh.sample.sample_surface(air, int(10_000 * air.area), seed=1)
    uniform = rng.uniform(-0.3, size + 0.3, (20_000, 3))
    room = {"eval_points": dense, "eval_normals": -air.face_normals[faces], "uniform_points": uniform,
            "uniform_occ": np.all((uniform > 0) & (uniform < size), axis=1)}
    if wall:
        outer = trimesh.creation.box(extents=size + 2 * wall)
        outer.apply_translation(size / 2)
        inner_pts, _ = trimesh.sample.sample_surface(air, int(1500 * air.area), seed=2)
        outer_pts, _ = trimesh.sample.sample_surface(outer, int(1500 * outer.area), seed=3)
        room["surface_points"] = np.concatenate([inner_pts, outer_pts])
        room["surface_inner"] = np.arange(len(room["surface_points"])) < len(inner_pts)
    return air, room


@pytest.mark.parametrize("size", [(2.0, 2.5, 3.0), (5.0, 2.7, 4.0)])
def test_the_right_surface_scores_as_right_at_any_room_size(size):
    rng = np.random.default_rng(0)
    air, room = air_room(size, rng)
    exact = room_metrics(air, room, "room", 0)
    # two random samplings of one surface at 10,000 per m^2: a sample's nearest neighbour in the other
    # lies beyond 1 cm with probability exp(-pi * 10,000 * 0.01^2) = 4.3 %, beyond 2 cm 0.0004 %
    assert exact["iou"] > 0.99 and exact["fscore_1cm"] == pytest.approx(0.957, abs=0.01)
    assert exact["fscore_2cm"] > 0.999
    assert exact["chamfer_l1"] < 0.005
    grown = air.copy()
    grown.vertices = (grown.vertices - np.asarray(size) / 2) * ((np.asarray(size) + 0.06) / np.asarray(size)) \
        + np.asarray(size) / 2                        # every face 3 cm off
    off = room_metrics(grown, room, "room", 0)
    assert off["fscore_2cm"] < 0.05 and off["chamfer_l1"] == pytest.approx(0.03, abs=0.005)


def test_the_closed_solid_bound_counts_the_outer_faces_against_precision():
    rng = np.random.default_rng(1)
    size, wall = np.array([4.0, 2.5, 3.0]), 0.15
    _, room = air_room(size, rng, wall)
    bound = solid_bound(room, "room")
    inner_area = 2 * (size[0] * size[1] + size[1] * size[2] + size[0] * size[2])
    outer = size + 2 * wall
    outer_area = 2 * (outer[0] * outer[1] + outer[1] * outer[2] + outer[0] * outer[2])
    precision = inner_area / (inner_area + outer_area)
    assert bound["fscore_2cm"] == pytest.approx(2 * precision / (1 + precision), abs=0.01)
    assert bound["iou"] == 1.0


def test_rooms_without_the_dense_surface_are_refused():
    rng = np.random.default_rng(2)
    air, room = air_room((2.0, 2.5, 3.0), rng)
    del room["eval_points"]
    with pytest.raises(InputError, match="build the split again"):
        room_metrics(air, room, "test/room-0000", 0)
