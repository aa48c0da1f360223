"""The scene model's sliding window: tiles, crops, seams, cancellation, units."""

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from implicit_studio.engine.scene_frame import CROP_HALF_M, UNIT_M, in_crop, to_box, to_metres
from implicit_studio.engine.meshing.weld import TileWelder
from implicit_studio.engine.tiling import (OFFSETS, CropIndex, SceneTiler, crop_inputs, morton, plan_tiles,
                                           tile_cells)
from implicit_studio.errors import InputError

from conftest import NearestPointModel, box_room, edges_shared_twice, triangles


def run_tiler(points, model, voxel=0.05, **kw):
    tiler = SceneTiler(model, points, voxel, 0.0, torch.device("cpu"), **kw)
    parts = list(tiler.run())
    welder = TileWelder(tiler.plan.origin, voxel, tiler.plan.cells, tiler.occupied)
    welded = [welder.add(p.tile, p.vertices, p.faces) for p in parts]
    vertices = np.concatenate([v for v, _ in welded] or [np.zeros((0, 3))])
    faces = np.concatenate([f for _, f in welded] or [np.zeros((0, 3), np.int64)])
    return tiler, parts, vertices, faces


def test_crop_frame_round_trip_and_bounds():
    rng = np.random.default_rng(0)
    centre = np.array([3.0, 1.2, -2.0])
    pts = centre + rng.uniform(-1.0, 1.0, (2000, 3))
    inside = in_crop(pts, centre)
    box = to_box(pts[inside], centre)
    assert np.abs(box).max() < 0.55 and np.allclose(to_metres(box, centre), pts[inside], atol=1e-5)
    assert np.array_equal(inside, np.all(np.abs(pts - centre) < 0.55 * UNIT_M, axis=1))


def test_plan_covers_the_points_with_a_margin():
    rng = np.random.default_rng(1)
    pts = box_room(rng, (3.3, 1.1, 2.2))
    plan = plan_tiles(pts, 0.02)
    cells, r0, levels, band = tile_cells(0.02)
    assert (plan.cells, plan.resolution0, plan.levels, plan.band) == (cells, r0, levels, band)
    assert r0 * 2 ** levels == cells + band and band % 2 == 0 and 0 < band * plan.voxel <= CROP_HALF_M - 0.5
    assert plan.core == pytest.approx(1.0)
    lo, hi = plan.origin, plan.origin + np.asarray(plan.shape) * plan.core
    assert np.all(pts.min(0) - lo >= 2 * plan.voxel - 1e-9) and np.all(hi - pts.max(0) >= 2 * plan.voxel - 1e-9)


def test_the_first_tile_evaluated_is_meshed_first_without_waiting():
    """Morton codes grow with every coordinate, so the tile with the largest code has no neighbour
    above it to wait for: it is meshed as soon as it is evaluated."""
    rng = np.random.default_rng(7)
    for tile in map(tuple, rng.integers(0, 50, (200, 3))):
        assert all(morton(tuple(t + d for t, d in zip(tile, off))) > morton(tile) for off in OFFSETS[1:])
    pts = box_room(rng, (2.3, 1.2, 2.1), 8000)
    tiler = SceneTiler(NearestPointModel(), pts, 0.05, 0.0, torch.device("cpu"), workers=1)
    first = next(iter(tiler.run()))
    assert first.tile == max(tiler.occupied, key=morton)


def test_occupied_tiles_and_crops_match_a_brute_force_scan():
    rng = np.random.default_rng(2)
    pts = np.concatenate([box_room(rng, (2.2, 1.3, 3.1), 4000), rng.uniform(-0.5, 3.5, (300, 3))])
    plan = plan_tiles(pts, 0.04)
    index = CropIndex(pts, plan)
    brute = set()
    for i in range(plan.shape[0]):
        for j in range(plan.shape[1]):
            for k in range(plan.shape[2]):
                held = in_crop(pts, plan.centre((i, j, k)))
                if held.any():
                    brute.add((i, j, k))
                    got = index.crop((i, j, k))
                    assert sorted(map(tuple, got)) == sorted(map(tuple, pts[held]))
    assert index.occupied() == brute
    assert CROP_HALF_M < plan.core     # why a crop's points lie in the 3x3x3 tiles around it


@pytest.mark.parametrize("bias", [0.0, 3.0])
def test_tiles_meet_without_cracks(bias):
    """Tiles disagreeing at their borders (bias) still give one closed mesh: every edge in two faces."""
    rng = np.random.default_rng(3)
    pts = box_room(rng, (2.3, 1.2, 1.6), 15_000)
    tiler, parts, vertices, faces = run_tiler(pts, NearestPointModel(bias=bias))
    assert len(parts) > 4 and len({p.tile for p in parts}) == len(parts)
    assert all(np.all(p.faces < len(p.vertices)) for p in parts)
    assert edges_shared_twice(faces)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    # the surface lies around the input points (a shell of 0.05 box units: 6 cm)
    from scipy.spatial import cKDTree

    assert cKDTree(pts).query(vertices)[0].max() < 0.05 * UNIT_M + 2 * 0.05
    assert tiler._grids == {} and tiler._layers == {}          # nothing kept after the run


def test_the_same_field_on_one_grid_and_in_tiles_gives_the_same_surface():
    """With crops that agree (no bias) the tiled mesh matches the field meshed over the whole scene."""
    rng = np.random.default_rng(4)
    pts = box_room(rng, (1.8, 1.0, 1.1), 10_000)
    _, _, tiled, faces = run_tiler(pts, NearestPointModel(), voxel=0.05)
    area = trimesh.Trimesh(tiled, faces, process=False).area
    shell = 0.05 * UNIT_M        # the field is a shell of this half-thickness around a closed box
    size = np.array([1.8, 1.0, 1.1])
    outer = 2 * sum(np.prod(np.delete(size + 2 * shell, a)) for a in range(3))
    inner = 2 * sum(np.prod(np.delete(size - 2 * shell, a)) for a in range(3))
    assert area == pytest.approx(outer + inner, rel=0.08)


def test_cancel_stops_within_one_tile():
    rng = np.random.default_rng(5)
    pts = box_room(rng, (3.0, 1.5, 3.0), 20_000)
    cancel = threading.Event()
    tiler = SceneTiler(NearestPointModel(), pts, 0.05, 0.0, torch.device("cpu"), workers=2)
    meshed = 0
    for _ in tiler.run(cancel):
        meshed += 1
        cancel.set()
    assert 1 <= meshed <= 2 < tiler.tile_count


def weld_all_at_once(parts, voxel):
    """The reference: every tile's vertices pooled, copies at one place (to a millionth of a lattice
    step) merged, numbered by first appearance."""
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts[:-1]])
    vertices = np.concatenate([p.vertices for p in parts])
    faces = np.concatenate([p.faces + o for p, o in zip(parts, offsets)])
    _, first, inverse = np.unique(np.round(vertices / voxel * 1e6).astype(np.int64), axis=0,
                                  return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return vertices[first[order]], rank[inverse.ravel()][faces]


def test_welding_tile_by_tile_equals_welding_at_once_and_forgets_the_borders():
    """The welder numbers the scene as pooling every tile would, while remembering only border
    vertices whose copies are still to come: none at the end, far fewer than the scene's at any time."""
    rng = np.random.default_rng(11)
    pts = box_room(rng, (2.6, 1.3, 2.2), 20_000)
    tiler = SceneTiler(NearestPointModel(), pts, 0.05, 0.0, torch.device("cpu"), workers=2)
    welder = TileWelder(tiler.plan.origin, 0.05, tiler.plan.cells, tiler.occupied)
    parts, welded, remembered = [], [], []
    for part in tiler.run():
        parts.append(part)
        welded.append(welder.add(part.tile, part.vertices, part.faces))
        remembered.append(welder.remembered)
    ref_v, ref_f = weld_all_at_once(parts, 0.05)
    vertices, faces = np.concatenate([v for v, _ in welded]), np.concatenate([f for _, f in welded])
    assert len(parts) > 8 and np.array_equal(vertices, ref_v) and np.array_equal(faces, ref_f)
    assert (welder.vertex_count, welder.face_count) == (len(vertices), len(faces))
    assert len(vertices) < sum(len(p.vertices) for p in parts)          # there were copies to weld
    assert remembered[-1] == 0 and 0 < max(remembered) < len(vertices) / 4
    assert edges_shared_twice(faces)


def test_too_many_tiles_is_a_one_line_error():
    rng = np.random.default_rng(6)
    pts = box_room(rng, (300.0, 2.5, 300.0), 200_000)
    with pytest.raises(InputError, match=r"spans 1,000,000 m: more than 10,000 tiles across; remove far outliers"):
        SceneTiler(NearestPointModel(), np.concatenate([pts[:100], [[1e6, 0.0, 0.0]]]), 0.02, 0.0,
                   torch.device("cpu"))
    with pytest.raises(InputError, match=r"needs [0-9,]+ tiles of 1.00 m, more than 20,000: .*\(--units cm or mm\)"):
        SceneTiler(NearestPointModel(), pts, 0.02, 0.0, torch.device("cpu"))


def test_scene_input_in_centimetres_is_read_in_metres_and_written_back_in_centimetres():
    from implicit_studio.io.inputs import InputData
    from implicit_studio.io.normalize import Normalization
    from implicit_studio.io.units import in_metres, units_notice

    rng = np.random.default_rng(8)
    user = box_room(rng, (420.0, 250.0, 310.0), 3000) + 1000.0          # a room in centimetres
    norm = Normalization.fit(user)
    data = InputData("room.ply", "points", points=norm.to_unit(user), normalization=norm)
    metric = in_metres(data, "cm")
    assert np.ptp(metric.points, axis=0) == pytest.approx([4.2, 2.5, 3.1], rel=1e-4)
    assert np.allclose(metric.normalization.to_user(metric.points), user, atol=1e-3)
    assert metric.notices == []
    assert "pass --units cm" in in_metres(data, "m").notices[-1]
    assert "expects rooms" in in_metres(data, "mm").notices[-1]
    assert units_notice(5.0, "m") is None
    with pytest.raises(InputError, match="unknown units 'inch'"):
        in_metres(data, "inch")


def test_a_field_split_into_tiles_meshes_to_the_same_surface_as_one_grid():
    """A field that every crop sees the same way (the distance to the nearest input point is exact
    near the surface) gives, tile by tile, exactly the mesh MISE makes of it on one grid over the
    whole scene: the same vertices, nothing lost or doubled at the tile borders."""
    from scipy.spatial import cKDTree

    from implicit_studio.engine.meshing.marching import marching_cubes_in_slabs
    from implicit_studio.engine.meshing.mise import mise_grids

    rng = np.random.default_rng(10)
    direction = rng.normal(size=(6000, 3))
    pts = 0.55 * direction / np.linalg.norm(direction, axis=1, keepdims=True) + np.array([0.3, 1.1, -0.4])
    model = NearestPointModel()
    tiler, parts, tiled, faces = run_tiler(pts, model, voxel=0.05)
    plan = tiler.plan
    assert plan.shape == (2, 2, 2) and len(parts) == 8          # the sphere crosses every tile border
    centre = plan.origin + plan.core                             # the middle of the 2 x 2 x 2 tiles
    tree = cKDTree(pts)

    def field(p):                                                # box units around ``centre``
        return 40.0 * (model.shell - tree.query(centre + p * UNIT_M)[0] / UNIT_M)

    *_, (level, res, values, *_rest) = mise_grids(field, plan.cells, plan.levels, 0.0, 2 * plan.core / UNIT_M,
                                                  16384, None)
    assert res == 2 * plan.cells
    for axis in range(3):                                        # the lattice's outer layers are outside
        for end in (0, res):
            values[tuple(end if a == axis else slice(None) for a in range(3))] = tiler.outside
    verts, one_faces = marching_cubes_in_slabs(values, 0.0)
    one = plan.origin + verts * plan.voxel
    assert len(one) == len(tiled) and len(one_faces) == len(faces)
    # float32 logits from torch in the tiles, float64 distances on the one grid: equal up to rounding
    assert cKDTree(one).query(tiled)[0].max() < 1e-3 * plan.voxel
    assert cKDTree(tiled).query(one)[0].max() < 1e-3 * plan.voxel


def tiny_scene_model(crop):
    """A small random grid ConvONet whose decoder is not zero-initialised (its field varies), its
    output shifted so that half of ``crop``'s box (box units) is inside at logit 0."""
    from implicit_studio.engine.models.convonet import ConvONetConfig

    torch.manual_seed(0)
    model = ConvONetConfig(kind="grid", c_dim=8, hidden=16, n_blocks=2, reso=8, unet_depth=2, unet_filters=4).build()
    with torch.no_grad():
        for p in model.decoder.parameters():
            if p.dim() == 2 and not p.any():
                p.normal_(0.0, 0.3)
        probe = torch.rand(1, 4096, 3) - 0.5
        model.decoder.fc_out.bias -= model.decode(probe, model.encode(torch.from_numpy(crop)[None])).median()
    return model.eval()


def test_refined_tiles_stay_crack_free_and_pull_the_surface_onto_the_points():
    """Each tile's field refined to its crop's points: one closed mesh still, nearer the input points
    than the prior's, and SceneField (for slices) refines as the tiler did."""
    from scipy.spatial import cKDTree

    from implicit_studio.engine.tiling import SceneField

    rng = np.random.default_rng(8)
    pts = box_room(rng, (1.7, 1.1, 1.3), 8_000)
    model = tiny_scene_model(to_box(pts[in_crop(pts, pts.mean(0))], pts.mean(0)))
    gap = {}
    for refine in (0.0, 60.0):
        tiler, parts, vertices, faces = run_tiler(pts, model, voxel=0.05, refine=refine)
        assert edges_shared_twice(faces) and trimesh.Trimesh(vertices, faces, process=False).is_watertight
        gap[refine] = float(np.mean(cKDTree(vertices).query(pts)[0]))
    assert gap[60.0] < 0.5 * gap[0.0]
    # the slices' field is the meshed one: a tile's blended lattice values (every other lattice point,
    # evaluated in every tile's grid) against SceneField at those points
    tiler = SceneTiler(model, pts, 0.05, 0.0, torch.device("cpu"), refine=60.0)
    plan, tile = tiler.plan, max(tiler.occupied, key=morton)
    blocks = {}
    blend = tiler._blend
    tiler._blend = lambda t: blocks.setdefault(t, blend(t))
    list(tiler.run())
    # the lattice's lowest layers are set outside in the meshes: left out here
    axes = [np.arange(2 if t == 0 else 0, plan.cells + 1, 2) for t in tile]
    ijk = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    at = plan.origin + (ijk + np.asarray(tile) * plan.cells) * plan.voxel
    assert np.allclose(SceneField(tiler)(at), blocks[tile][tuple(ijk.T)], atol=1e-4)


def test_neighbouring_crops_hand_over_smoothly_at_tile_borders():
    """Crops that disagree by a constant (the stand-in's per-crop bias) meet without a step: across
    a tile border the scene's field moves from one crop's offset to the other's over the band, in
    small monotone steps, and keeps each crop's own value away from the band."""
    from implicit_studio.engine.tiling import SceneField

    rng = np.random.default_rng(12)
    pts = box_room(rng, (1.7, 1.1, 1.3), 20_000)
    fields = {bias: SceneField(SceneTiler(NearestPointModel(bias=bias), pts, 0.02, 0.0, torch.device("cpu")))
              for bias in (0.0, 3.0)}
    plan = fields[0.0].tiler.plan
    assert plan.shape[0] == 2 and plan.band >= 4
    # a line along x through the floor's shell, crossing the border between tiles (0, 0, 0) and (1, 0, 0)
    xs = plan.origin[0] + np.arange(plan.cells // 2, plan.cells * 3 // 2 + 1) * plan.voxel
    line = np.stack([xs, np.full_like(xs, 0.01), np.full_like(xs, 0.65)], axis=1)
    offset = (fields[3.0](line) - fields[0.0](line)).astype(np.float64)
    border = plan.cells // 2                          # the index of the first lattice point of tile (1, 0, 0)
    own, other = offset[0], offset[-1]
    assert abs(other - own) > 0.05                     # the crops do disagree
    assert np.allclose(offset[:border - plan.band + 1], own, atol=1e-4)
    assert np.allclose(offset[border:], other, atol=1e-4)
    steps = np.diff(offset)
    assert np.all(steps * np.sign(other - own) >= -1e-4)
    assert np.abs(steps).max() <= 1.5 / plan.band * abs(other - own) + 1e-4


def test_trimming_in_tiles_is_the_trim_of_the_whole_scene():
    """Each tile drops its faces farther than ``trim`` from every input point (its crop holds every
    point that could be nearer): the same faces as trimming the welded scene at once."""
    from implicit_studio.engine.tiling import trim_faces

    rng = np.random.default_rng(10)
    pts = box_room(rng, (2.1, 1.2, 1.5), 6_000)        # sparse: the shell's faces lie 4-7 cm from them
    model = NearestPointModel()
    _, _, whole_v, whole_f = run_tiler(pts, model)
    trim = 0.064
    kept_v, kept_f = trim_faces(whole_v, whole_f, pts, trim)
    _, parts, tiled_v, tiled_f = run_tiler(pts, model, trim=trim)
    assert 0 < len(tiled_f) < len(whole_f)
    assert np.all(np.concatenate([p.faces for p in parts]).max() < sum(len(p.vertices) for p in parts))

    assert triangles(tiled_v, tiled_f) == triangles(kept_v, kept_f)
    with pytest.raises(ValueError, match="context"):
        SceneTiler(model, pts, 0.05, 0.0, torch.device("cpu"), trim=0.5)
