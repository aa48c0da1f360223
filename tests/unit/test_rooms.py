"""Synthetic rooms (train/data/rooms.py), their training crops (room_crops.py) and the scene
model's start from convonet-grid's weights. A tiny room of synthetic shapes, built here."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from implicit_studio.engine.scene_frame import CORE_M, UNIT_M
from implicit_studio.errors import CheckpointError, InputError
from implicit_studio.io.normalize import BOX_HALF
from implicit_studio.train.data import rooms
from implicit_studio.train.data.dataset import load_shape, make_synthetic_dataset
from implicit_studio.train.data.room_crops import QUERY_MARGIN, RoomCropDataset

TINY = rooms.RoomConfig(width=(3.0, 3.2), depth=(3.0, 3.2), height=(2.4, 2.5), objects=(4, 5), size=(0.4, 0.9))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(rooms folder, shapes folder): one train and one val room at a low density."""
    patch = pytest.MonkeyPatch()
    patch.setattr(rooms, "SURFACE_DENSITY", 300.0)
    patch.setattr(rooms, "UNIFORM_DENSITY", 1500.0)
    patch.setattr(rooms, "EVAL_DENSITY", 1500.0)
    shapes = make_synthetic_dataset(tmp_path_factory.mktemp("shapes"), n_shapes=6, n_points=4096, n_views=1,
                                    image_size=16)
    out = tmp_path_factory.mktemp("rooms")
    for split in ("train", "val"):
        rooms.build_rooms(out, 1, split, seed=3, shapes_dir=shapes, config=TINY)
    patch.undo()
    return out, shapes


def structure_of(room: dict) -> rooms.Structure:
    return rooms.Structure(room["structure_boxes"].astype(np.float64), room["structure_cut"],
                           room["structure_holes"].astype(np.float64))


def test_structure_labels_walls_floor_air_and_openings():
    structure = rooms.random_structure(np.array([4.0, 2.5, 3.0]), np.random.default_rng(1))
    wall = structure.boxes[1]                                   # the x- wall, x in [-t, 0]
    door = structure.holes[0]
    in_wall = np.array([[(wall[0] + wall[3]) / 2, 1.0, z] for z in np.linspace(0.05, 2.95, 30)])
    in_door = np.array([[(door[0] + door[3]) / 2, 1.0, (door[2] + door[5]) / 2]])
    air = np.array([[2.0, 1.2, 1.5], [0.01, 0.01, 0.01], [3.99, 2.49, 2.99]])
    floor = np.array([[2.0, -0.05, 1.5]])
    assert structure.occupancy(air).tolist() == [False] * 3
    assert structure.occupancy(floor).all()
    assert not structure.occupancy(in_door).any()
    in_any_hole = rooms.in_boxes(in_wall, structure.holes).any(axis=1)
    assert np.array_equal(structure.occupancy(in_wall), ~in_any_hole)


def test_structure_surface_is_the_boundary_at_the_asked_density():
    box = np.array([[0.0, 0.0, 0.0, 2.0, 1.0, 1.0]])
    hole = np.array([[0.5, -0.1, 0.2, 1.0, 1.1, 0.6]])            # a shaft through the box
    structure = rooms.Structure(box, np.array([True]), hole)
    points, normals = structure.surface(400.0, np.random.default_rng(0))
    area = 2 * (2 * 1 + 2 * 1 + 1 * 1) - 2 * (0.5 * 0.4) + 1.0 * 2 * (0.5 + 0.4)   # outside - shaft ends + shaft walls
    assert abs(len(points) / (400.0 * area) - 1.0) < 0.06
    assert structure.occupancy(points - 1e-3 * normals).all()
    assert not structure.occupancy(points + 1e-3 * normals).any()


def test_room_labels_are_the_structure_s_and_the_objects_own(built):
    out, shapes = built
    room = rooms.load_room(out / "train" / "room-0000.npz")
    structure = structure_of(room)
    boxes = room["object_boxes"]
    # uniform points outside every object box: the analytic label; in the air of the room: outside
    uniform, occ = room["uniform_points"], room["uniform_occ"]
    free = ~rooms.in_boxes(uniform, boxes).any(axis=1)
    assert np.array_equal(occ[free], structure.occupancy(uniform[free]))
    size = room["size"]
    air = free & np.all((uniform > 0.01) & (uniform < size - 0.01), axis=1)
    assert air.sum() > 100 and not occ[air].any()
    # points of an object: its own label (moved with it) OR the structure's
    objects = json.loads(str(room["objects"]))
    checked = 0
    for k, record in enumerate(objects):
        shape = load_shape(shapes / "shapes" / f"{record['id']}.npz")
        item = rooms.Placed(record["id"], "", "", record["scale"], record["yaw"], np.array(record["offset"]),
                            np.array(record["box"]), record["placement"])
        own = np.concatenate([shape["uniform_points"], shape["near_points"]])
        own_occ = np.concatenate([shape["uniform_occ"], shape["near_occ"]])
        moved = item.apply(own)
        tree = cKDTree(moved)
        for kind in ("uniform", "near"):
            pts, labels = room[f"{kind}_points"], room[f"{kind}_occ"]
            dist, nn = tree.query(pts[rooms.in_boxes(pts, np.array(record["box"])[None])[:, 0]])
            mine = dist < 1e-3 * item.scale                 # float32 rounding of the same point
            inside = rooms.in_boxes(pts, np.array(record["box"])[None])[:, 0]
            expected = own_occ[nn[mine]] | structure.occupancy(pts[inside][mine])
            assert np.array_equal(labels[inside][mine], expected)
            checked += int(own_occ[nn[mine]].sum())
    assert checked > 50                                      # labelled inside points were found inside


def test_objects_rest_on_the_floor_or_a_wall_and_never_overlap(built):
    out, _ = built
    room = rooms.load_room(out / "train" / "room-0000.npz")
    boxes = room["object_boxes"].astype(np.float64)
    assert len(boxes) >= 3
    w, h, d = room["size"]
    m = rooms.BOX_MARGIN
    for box, record in zip(boxes, json.loads(str(room["objects"]))):
        lo, hi = box[:3] + m, box[3:] - m                          # the surface's bounding box
        assert np.all(lo >= -1e-5) and hi[0] <= w + 1e-5 and hi[2] <= d + 1e-5 and hi[1] <= h
        on_floor = abs(lo[1]) < 1e-5
        at_wall = min(lo[0], lo[2], w - hi[0], d - hi[2]) < rooms.WALL_GAP + 1e-4
        assert on_floor if record["placement"] == "floor" else at_wall
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not rooms._overlap(boxes[i], boxes[j], 0.0)


def test_surface_and_scan(built):
    out, _ = built
    room = rooms.load_room(out / "train" / "room-0000.npz")
    structure = structure_of(room)
    bounds = structure.bounds
    scan, surface = room["scan_points"], room["surface_points"]
    assert 0 < len(scan) < len(surface)
    assert np.all((scan > bounds[:3] - 0.05) & (scan < bounds[3:] + 0.05))
    # a scanner inside sees no outer face of a wall or the floor's underside
    dist, nn = cKDTree(surface).query(scan)
    assert np.mean(room["surface_inner"][nn]) > 0.97
    eyes = room["scan_origins"]
    assert not structure.occupancy(eyes).any() and np.all((eyes > 0) & (eyes < room["size"]))


def test_the_dense_evaluation_surface_is_the_interior_facing_surface(built):
    out, _ = built
    room = rooms.load_room(out / "train" / "room-0000.npz")
    dense, normals = room["eval_points"], room["eval_normals"]
    inner = room["surface_points"][room["surface_inner"]]
    assert len(dense) > 3 * len(inner)                  # 1500 against 300 per m^2 here
    assert rooms.faces_inside(dense, normals, structure_of(room).bounds).all()
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-4)
    # the same surface: each sparse interior sample has dense ones around it (2.6 cm apart at this
    # density), and no dense one is far from the sparse surface (6 cm apart)
    near = cKDTree(dense).query(inner)[0]
    assert np.median(near) < 0.015 and np.quantile(near, 0.99) < 0.05
    assert cKDTree(room["surface_points"]).query(dense)[0].max() < 0.2


def test_a_room_built_before_the_dense_surface_is_built_again_identically(built, tmp_path, monkeypatch):
    out, shapes = built
    monkeypatch.setattr(rooms, "SURFACE_DENSITY", 300.0)
    monkeypatch.setattr(rooms, "UNIFORM_DENSITY", 1500.0)
    monkeypatch.setattr(rooms, "EVAL_DENSITY", 1500.0)
    room = rooms.load_room(out / "train" / "room-0000.npz")
    old = {k: v for k, v in room.items() if not k.startswith("eval_")}
    for kind in ("uniform", "near"):
        old[f"{kind}_occ"] = np.packbits(old[f"{kind}_occ"])
    (tmp_path / "train").mkdir()
    rooms.write_room(tmp_path / "train" / "room-0000.npz", old)
    assert not rooms.complete(tmp_path / "train" / "room-0000.npz")
    rooms.build_rooms(tmp_path, 1, "train", seed=3, shapes_dir=shapes, config=TINY)
    again = rooms.load_room(tmp_path / "train" / "room-0000.npz")
    assert rooms.complete(tmp_path / "train" / "room-0000.npz")
    assert set(again) == set(room) and all(np.array_equal(again[k], room[k]) for k in room)


def test_panoramic_visibility_hides_what_lies_behind_a_wall():
    rng = np.random.default_rng(0)
    front = np.column_stack([np.full(4000, 2.0), rng.uniform(-1, 1, 4000), rng.uniform(-1, 1, 4000)])
    back = front + [1.0, 0.0, 0.0]
    normals = np.tile([[-1.0, 0.0, 0.0]], (8000, 1))            # both facing the eye
    seen = rooms.panoramic_visible(np.concatenate([front, back]), normals, np.zeros(3), spacing=0.035)
    assert seen[:4000].mean() > 0.95 and seen[4000:].mean() < 0.05
    assert not rooms.panoramic_visible(front, -normals[:4000], np.zeros(3), spacing=0.035).any()   # back faces


def test_crops_are_inside_the_crop_cube_with_the_right_shapes(built):
    out, _ = built
    train = RoomCropDataset(out, "train", n_input_points=512, n_queries=256, any_yaw=0.5)
    assert len(train) > 0
    reach = (CORE_M / 2 + QUERY_MARGIN) / UNIT_M
    for i in range(6):
        item = train[i]
        assert item["inputs"].shape == (512, 3) and item["points"].shape == (256, 3) and item["occ"].shape == (256,)
        assert item["inputs"].abs().max() < BOX_HALF
        assert item["points"].abs().max() <= reach + 1e-5
        assert set(item["occ"].unique().tolist()) <= {0.0, 1.0}
    val = RoomCropDataset(out, "val", n_input_points=512, n_queries=300, eval=True)
    assert len(val.ids) == len(val)
    first, again = val[1], val[1]
    assert torch.equal(first["inputs"], again["inputs"]) and torch.equal(first["occ"], again["occ"])


def test_data_rooms_refuses_bad_input_in_one_line(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    rooms.add_arguments(parser)
    with pytest.raises(InputError, match="--count 0"):
        rooms.run(parser.parse_args(["--out", str(tmp_path), "--count", "0", "--split", "train"]))
    with pytest.raises(InputError, match="no manifest.json"):
        rooms.run(parser.parse_args(["--out", str(tmp_path), "--count", "1", "--split", "train",
                                     "--shapes", str(tmp_path / "absent")]))
    with pytest.raises(InputError, match="--mix"):
        rooms.run(parser.parse_args(["--out", str(tmp_path), "--count", "1", "--split", "unfamiliar"]))


def test_scene_model_starts_from_the_grid_weights_only():
    from implicit_studio.engine.registry import get_spec
    from implicit_studio.train.trainer import init_weights

    spec = get_spec("convonet-scene")
    cfg = spec.config()
    model, card = init_weights(ROOT / "checkpoints" / "convonet-grid.safetensors", spec, cfg, torch.device("cpu"))
    assert card["model"] == "convonet-grid" and model.cfg == cfg and cfg.n_input_points == 4096
    with pytest.raises(CheckpointError, match="not of 'convonet-scene'"):
        init_weights(ROOT / "checkpoints" / "convonet-3plane.safetensors", spec, cfg, torch.device("cpu"))
    grid = get_spec("convonet-grid")
    with pytest.raises(CheckpointError, match="not of 'convonet-grid'"):     # no allowance the other way
        init_weights(ROOT / "checkpoints" / "convonet-3plane.safetensors", grid, grid.config(), torch.device("cpu"))


def test_scene_training_refuses_the_shape_sets_input_options(built):
    from implicit_studio.engine.registry import get_spec
    from implicit_studio.train.trainer import TrainOptions, make_loader

    out, _ = built
    spec = get_spec("convonet-scene")
    for bad in ({"partial": 0.3}, {"rotate": "any"}, {"mirror": True}):
        with pytest.raises(InputError, match="room crops"):
            make_loader(TrainOptions("convonet-scene", str(out), "", **bad), "train", spec, spec.config(), True)
    loader = make_loader(TrainOptions("convonet-scene", str(out), "", rotate="yaw", rotated=0.5, batch_size=1),
                         "train", spec, spec.config(), True)
    assert isinstance(loader.dataset, RoomCropDataset) and loader.dataset.any_yaw == 0.5


def test_crop_queries_beyond_the_room_are_outside(built):
    """A crop straddling the room's outer wall labels the core beyond the structure empty, in
    proportion to the volume it takes, and keeps the room's own labels inside."""
    out, _ = built
    val = RoomCropDataset(out, "val", n_input_points=512, n_queries=2000, eval=True)
    room = val.room(val.rooms[0])
    lo, hi = room["bounds"]
    centre = np.array([hi[0], (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2], dtype=np.float64)   # on the x+ wall
    points, occ = val._queries(room, centre, np.eye(3), np.random.default_rng(0))
    world = points.astype(np.float64) * UNIT_M + centre
    beyond = world[:, 0] > hi[0]
    assert not occ[beyond].any()
    assert 0.35 < beyond.mean() < 0.65             # half the core lies beyond the wall
    assert occ[~beyond].any()                      # the wall itself is inside
