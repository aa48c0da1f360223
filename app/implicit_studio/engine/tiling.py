"""Sliding-window reconstruction of a scene of any extent with the metric scene model.

The scene is cut into cubic *tiles* on a global lattice of step ``voxel`` metres; every tile
has ``cells`` lattice steps per side (about ``CORE_M``). A tile is reconstructed from its *crop*
(``engine.scene_frame``: the tile plus context on every side): the crop's points are encoded
once and MISE evaluates the crop's field on the tile's lattice points and on a *band* of
``band`` layers below its three lower faces. One field over the whole scene, without seams:

- every lattice point belongs to exactly one tile, the one whose half-open cube
  ``[i * cells, (i + 1) * cells)`` holds it;
- its value is a partition-of-unity blend of the fields of that tile and of its (up to 7)
  neighbours above: within ``band`` layers of the tile's upper face along an axis, the weight
  moves smoothly (a smoothstep) from the tile's own field to the neighbour's, reaching it on the
  face, which is the neighbour's lowest layer, where that neighbour's own value is the same
  blend. Neighbouring crops never agree exactly; blending makes their difference a gentle ramp
  instead of a step (a crease in the shading) at the tile border;
- a tile is meshed from its own values and the lowest layers of its neighbours above it, computed
  by the same blend of the same numbers, so two tiles put identical values on the layer they
  share and marching cubes makes the same vertices there: the tile meshes meet edge to edge, and
  welding them gives one mesh (``meshing.weld``);
- the lattice's outermost layers are "outside", so the scene's mesh is closed.

Tiles whose crop holds no input point are empty space ("outside") and cost nothing. Tiles are
evaluated in reversed Morton order from the far corner, so the first tile can be meshed as soon
as it is evaluated and the others follow in compact blocks; up to ``workers`` tiles are
evaluated at once, each on its own thread. Memory stays bounded by the tiles in flight, the
pending tiles' grids and the lowest slabs (``band`` + 1 layers) kept for neighbours, not by the
scene's extent (plus the output mesh).
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from .memory import release_free_memory
from .meshing.marching import marching_cubes_in_slabs
from .meshing.mise import is_cancelled, mise_grids
from ..errors import InputError
from .scene_frame import CORE_M, CROP_HALF_M, UNIT_M, in_crop, to_box

OUTSIDE_MARGIN = 10.0          # empty space: this far below the iso-level (a logit)
MAX_CROP_POINTS = 50_000       # points a tile's encoder gets at most (a random subset beyond)
MAX_SIDE_TILES = 10_000        # tiles along one side: 10 km of lattice
MAX_TILES = 20_000             # tiles with points a scene may need (a 60 x 60 m floor of rooms needs ~10,000)
BLOCK_POINTS = 1 << 17         # points binned and scanned at once when planning
MIN_REFINE_POINTS = 64         # a crop with fewer points keeps its prior: too few to fit normals to
BLEND_M = 0.16                 # metres over which a tile's field hands over to its neighbour's
OFFSETS = [(dx, dy, dz) for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)]


@dataclass(frozen=True)
class TilePlan:
    """The tiles of a scene.

    origin : (3,) float64 metres of lattice point (0, 0, 0)
    voxel : lattice step in metres
    cells : lattice steps per tile side; a tile's core is ``cells * voxel`` metres on a side
    shape : tiles along x, y, z
    resolution0, levels : MISE over a tile and its band (``resolution0 * 2**levels == cells + band``)
    band : lattice steps below a tile's lower faces its crop's field is also evaluated on, where
        the tiles below blend it with their own (0: no blending)
    """

    origin: np.ndarray
    voxel: float
    cells: int
    shape: tuple[int, int, int]
    resolution0: int
    levels: int
    band: int = 0

    @property
    def core(self) -> float:
        return self.cells * self.voxel

    def blend_weights(self, tile: tuple[int, int, int], local: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per axis, the (own, neighbour above's) weights at ``local`` (..., 3) lattice steps from
        ``tile``'s lower corner: ``upper_weight`` where the lattice goes on above the tile, else
        all the tile's own. Each float32 of shape ``local.shape[:-1]``."""
        weights = []
        for axis in range(3):
            steps = local[..., axis]
            upper = (upper_weight(steps, self.cells, self.band) if tile[axis] + 1 < self.shape[axis]
                     else np.zeros(np.shape(steps), np.float32))
            weights.append((np.float32(1.0) - upper, upper))
        return weights

    def centre(self, tile: tuple[int, int, int]) -> np.ndarray:
        """(3,) metres: the centre of ``tile``'s core (and of its crop)."""
        return self.origin + (np.asarray(tile, dtype=np.float64) + 0.5) * self.core


def morton(tile: tuple[int, int, int]) -> int:
    """Interleaved bits of a tile index (x lowest): tiles of a 2^k block are consecutive."""
    code = 0
    for bit in range(21):
        for axis, value in enumerate(tile):
            code |= ((value >> bit) & 1) << (3 * bit + axis)
    return code


def tile_cells(voxel: float) -> tuple[int, int, int, int]:
    """(cells, resolution0, levels, band) of a tile for a lattice step of ``voxel`` metres: about
    ``CORE_M / voxel`` cells; a band of about ``BLEND_M``, an even number of steps within the
    crop's context (else 0); MISE over cells + band as one level over a half-resolution first
    grid (an even band keeps that grid on the scene's even lattice points)."""
    cells = max(2, int(round(CORE_M / voxel / 2)) * 2)
    context = CROP_HALF_M - cells * voxel / 2
    band = min(int(round(BLEND_M / voxel / 2)) * 2, int(context / voxel + 1e-9) // 2 * 2, cells // 4 * 2)
    if cells >= 16:
        return cells, (cells + band) // 2, 1, band
    return cells, cells + band, 0, band


def upper_weight(local: np.ndarray, cells: int, band: int) -> np.ndarray:
    """The weight of the neighbour above along one axis at ``local`` (any shape) lattice steps from
    a tile's lower face: 0 until ``band`` steps below its upper face, then a smoothstep to 1 on
    the face (``local == cells``). Returns float32 of ``local``'s shape."""
    local = np.asarray(local, dtype=np.float64)
    if band == 0:
        return (local >= cells).astype(np.float32)
    s = np.clip((local - (cells - band)) / band, 0.0, 1.0)
    return (s * s * (3.0 - 2.0 * s)).astype(np.float32)


def plan_tiles(points: np.ndarray, voxel: float) -> TilePlan:
    """Tiles covering ``points`` (N, 3) metres with two lattice steps of margin, centred on them."""
    cells, resolution0, levels, band = tile_cells(voxel)
    core = cells * voxel
    lo, hi = points.min(axis=0).astype(np.float64), points.max(axis=0).astype(np.float64)
    shape = tuple(int(max(1, math.ceil((h - l + 4 * voxel) / core))) for l, h in zip(lo, hi))
    if max(shape) > MAX_SIDE_TILES:
        raise InputError(f"the scene spans {max(hi - lo):,.0f} m: more than {MAX_SIDE_TILES:,} tiles across; "
                         "remove far outliers, or give the file's units (--units cm or mm)")
    origin = (lo + hi) / 2.0 - np.asarray(shape) * core / 2.0
    return TilePlan(origin, float(voxel), cells, shape, resolution0, levels, band)


@dataclass
class TileMeshed:
    """One tile's part of the scene mesh: vertices (V, 3) float64 metres, faces (F, 3) int64;
    ``seconds`` since the run started."""

    tile: tuple[int, int, int]
    vertices: np.ndarray
    faces: np.ndarray
    seconds: float


class CropIndex:
    """The scene's points binned by tile, to gather a crop's points without scanning them all.

    points : (N, 3) metres. A crop reaches less than one tile beyond its own (``CROP_HALF_M <
    core``), so its points lie in the 3 x 3 x 3 tiles around it. The points are binned and
    scanned in blocks of ``BLOCK_POINTS``, so planning a scene needs little beyond its points.
    """

    def __init__(self, points: np.ndarray, plan: TilePlan):
        self.plan = plan
        flat = np.empty(len(points), dtype=np.int64)
        for start in range(0, len(points), BLOCK_POINTS):
            block = points[start:start + BLOCK_POINTS]
            idx = np.floor((block - plan.origin) / plan.core).astype(np.int64)
            flat[start:start + BLOCK_POINTS] = np.ravel_multi_index(
                np.clip(idx, 0, np.asarray(plan.shape) - 1).T, plan.shape)
        order = np.argsort(flat, kind="stable")
        # the tiles holding points, and where each one's points start and end in ``self.points``
        self.tiles, self.starts = np.unique(flat[order], return_index=True)
        self.ends = np.append(self.starts[1:], len(order))
        del flat
        self.points = points[order]          # float32 or float64, as given

    def occupied(self) -> set[tuple[int, int, int]]:
        """Tiles whose crop holds at least one point."""
        plan = self.plan
        half = CROP_HALF_M / plan.core
        last = np.asarray(plan.shape) - 1
        tiles: set[tuple[int, int, int]] = set()
        for start in range(0, len(self.points), BLOCK_POINTS):
            rel = (self.points[start:start + BLOCK_POINTS] - plan.origin) / plan.core - 0.5   # tile centres at integers
            lo = np.clip(np.floor(rel), 0, last).astype(np.int64)
            for off in OFFSETS:
                tile = np.minimum(lo + np.asarray(off), last)
                inside = np.all(np.abs(rel - tile) < half, axis=1)
                tiles.update(map(tuple, np.unique(tile[inside], axis=0).tolist()))
        return tiles

    def crop(self, tile: tuple[int, int, int]) -> np.ndarray:
        """The points (M, 3) metres strictly inside ``tile``'s crop."""
        near = np.array([np.ravel_multi_index(n, self.plan.shape) for n in _neighbourhood(tile, self.plan.shape)])
        rows = np.searchsorted(self.tiles, near)
        held = rows[(rows < len(self.tiles)) & (self.tiles[np.minimum(rows, len(self.tiles) - 1)] == near)]
        parts = [self.points[self.starts[r]:self.ends[r]] for r in held]
        pts = np.concatenate(parts) if parts else np.zeros((0, 3))
        return pts[in_crop(pts, self.plan.centre(tile))]


def _neighbourhood(tile, shape) -> list[tuple[int, int, int]]:
    """``tile`` and the tiles around it (3 x 3 x 3, clipped to ``shape``)."""
    ranges = [range(max(0, t - 1), min(s, t + 2)) for t, s in zip(tile, shape)]
    return [(i, j, k) for i in ranges[0] for j in ranges[1] for k in ranges[2]]


def crop_inputs(index: CropIndex, tile: tuple[int, int, int], seed: int) -> np.ndarray:
    """``tile``'s crop points in its box units (M, 3) float32 (at most ``MAX_CROP_POINTS``,
    a random subset beyond)."""
    inside = index.crop(tile)
    if len(inside) > MAX_CROP_POINTS:
        rng = np.random.default_rng(seed)
        inside = inside[rng.choice(len(inside), MAX_CROP_POINTS, replace=False)]
    return to_box(inside, index.plan.centre(tile))


def encode_crop(model: torch.nn.Module, crop: np.ndarray, device: torch.device) -> dict:
    """The scene model's features of one crop from its points (M, 3) in box units."""
    with torch.inference_mode():
        return model.encode(torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))[None].to(device))


def tile_field(model: torch.nn.Module, crop: np.ndarray, iso: float, device: torch.device,
               refine: float = 0.0, cancel=None):
    """The field of one tile's crop, (M, 3) box units -> (M,) float32 logits: the crop's encoding,
    refined to the crop's points (``fitting.refine``, the scene model's ``DEFAULTS``) for at most
    ``refine`` seconds when ``refine`` > 0 and the crop holds ``MIN_REFINE_POINTS``. ``crop``
    (M, 3) box units: the crop's input points. Refinement stops early when ``cancel`` is set."""
    code = encode_crop(model, crop, device)
    if refine > 0 and len(crop) >= MIN_REFINE_POINTS:
        from .fitting.refine import DEFAULTS, Refiner

        refiner = Refiner(model, code, crop, None, iso, device, config=DEFAULTS["convonet-scene"])
        start = time.perf_counter()
        while (refiner.steps < refiner.cfg.steps and time.perf_counter() - start < refine
               and not is_cancelled(cancel)):
            refiner.step()
        return refiner.field

    @torch.inference_mode()
    def field(points: np.ndarray) -> np.ndarray:
        pts = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))[None].to(device)
        return model.decode(pts, code)[0].float().cpu().numpy()

    return field


def tile_values(model: torch.nn.Module, crop: np.ndarray, plan: TilePlan, iso: float, device: torch.device,
                cancel=None, batch_size: int = 16384, refine: float = 0.0) -> tuple[np.ndarray, int] | None:
    """The crop's field at a tile's lattice points and its band below: ((band + cells + 1,)*3
    float32 logits, index ``band + i`` for the tile's lattice step i in [-band, cells]; evaluations),
    or None when cancelled. ``crop`` (M, 3) box units: the crop's input points; ``refine``: seconds
    of refinement (``tile_field``)."""
    field = tile_field(model, crop, iso, device, refine, cancel)
    shift = np.float32(-plan.band * plan.voxel / 2 / UNIT_M)      # MISE's box is centred: move it down
    box = (plan.cells + plan.band) * plan.voxel / UNIT_M
    last = None
    for last in mise_grids(lambda p: field(p + shift), plan.resolution0, plan.levels, iso, box, batch_size, cancel):
        pass
    if last is None or last[0] != plan.levels:
        return None
    return last[2], last[3]


class SceneTiler:
    """Reconstruct a scene tile by tile: ``run()`` yields one ``TileMeshed`` per tile with a surface.

    model : the scene model (``encode`` / ``decode`` in a crop's box units, logits)
    points : (N, 3) metres, the scene's input cloud
    iso : the logit the surface is meshed at
    refine : seconds of test-time refinement per tile (0: the prior's field; ``tile_field``)
    trim : metres; a tile's faces whose centre lies farther than this from every input point are
        dropped (0: none, the scene's mesh is closed); at most the crop's context, so a tile's own
        crop holds every point that could be nearer
    """

    def __init__(self, model: torch.nn.Module, points: np.ndarray, voxel: float, iso: float,
                 device: torch.device, workers: int = 2, seed: int = 0, batch_size: int = 16384,
                 refine: float = 0.0, trim: float = 0.0):
        self.model, self.iso, self.device, self.refine, self.trim = model, iso, device, refine, trim
        points = np.asarray(points)
        self.plan = plan_tiles(points, voxel)
        if not 0.0 <= trim <= CROP_HALF_M - self.plan.core / 2:
            raise ValueError(f"trim {trim} m: beyond the crops' context of {CROP_HALF_M - self.plan.core / 2:.3f} m")
        self.index = CropIndex(points, self.plan)
        self.occupied = self.index.occupied()
        if len(self.occupied) > MAX_TILES:
            extent = " x ".join(f"{s * self.plan.core:,.0f}" for s in self.plan.shape)
            raise InputError(f"the scene ({extent} m) needs {len(self.occupied):,} tiles of {self.plan.core:.2f} m, "
                             f"more than {MAX_TILES:,}: if the file is not in metres, give its units "
                             "(--units cm or mm)")
        self.workers, self.seed, self.batch_size = max(1, workers), seed, batch_size
        self.outside = iso - OUTSIDE_MARGIN
        self._grids: dict[tuple, np.ndarray] = {}      # evaluated tiles not yet meshed: grids with their band
        self._layers: dict[tuple, tuple] = {}          # their lowest x, y, z slabs (band + 1 layers), for tiles below
        self._users: dict[tuple, int] = {}             # occupied tiles below still to be meshed with them
        self._done: set[tuple] = set()                 # evaluated tiles
        self.evaluations = 0

    @property
    def tile_count(self) -> int:
        """Tiles with input points in their crop: the ones evaluated and meshed."""
        return len(self.occupied)

    def _inside(self, tile) -> bool:
        return all(0 <= t < s for t, s in zip(tile, self.plan.shape))

    def _shifted(self, tile, sign: int) -> list[tuple]:
        """The occupied tiles ``tile + sign * offset`` for the 7 non-zero offsets in {0, 1}^3."""
        moved = (tuple(t + sign * d for t, d in zip(tile, off)) for off in OFFSETS[1:])
        return [n for n in moved if self._inside(n) and n in self.occupied]

    def run(self, cancel=None) -> Iterator[TileMeshed]:
        """Evaluate and mesh every occupied tile; stops between field batches when ``cancel`` says so."""
        t0 = time.perf_counter()
        order = sorted(self.occupied, key=morton, reverse=True)      # the far corner first
        threads = torch.get_num_threads()
        if self.workers > 1:
            torch.set_num_threads(1)       # two tiles on two cores, not two tiles fighting over both
        try:
            with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
                running: dict = {}
                todo = iter(order)
                waiting: list[tuple] = []   # evaluated tiles whose occupied neighbours above are not all evaluated
                while True:
                    while len(running) < self.workers and not is_cancelled(cancel):
                        tile = next(todo, None)
                        if tile is None:
                            break
                        crop = crop_inputs(self.index, tile, self.seed)
                        running[pool.submit(self._evaluate, crop, cancel)] = tile
                    if not running:
                        return
                    done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                    for future in done:
                        tile = running.pop(future)
                        result = future.result()
                        if result is None or is_cancelled(cancel):
                            continue
                        self._store(tile, result)
                        waiting.append(tile)
                    if is_cancelled(cancel):
                        continue          # let the running tiles stop at their next batch, then end
                    yield from self._mesh_ready(waiting, t0)
                    release_free_memory()     # resident memory bounded by the tiles, not the scene
        finally:
            torch.set_num_threads(threads)

    def _evaluate(self, crop: np.ndarray, cancel):
        return tile_values(self.model, crop, self.plan, self.iso, self.device, cancel, self.batch_size, self.refine)

    def _store(self, tile, result) -> None:
        grid, evaluations = result
        self.evaluations += evaluations
        slab = self.plan.band + 1
        self._grids[tile] = grid
        self._layers[tile] = (grid[:slab].copy(), grid[:, :slab].copy(), grid[:, :, :slab].copy())
        self._users[tile] = len(self._shifted(tile, -1))
        self._done.add(tile)

    def _mesh_ready(self, waiting: list[tuple], t0: float) -> Iterator[TileMeshed]:
        """Mesh (and forget) the waiting tiles whose occupied neighbours above are all evaluated."""
        for tile in list(waiting):
            if all(n in self._done for n in self._shifted(tile, +1)):
                waiting.remove(tile)
                meshed = self._mesh(tile, t0)
                if meshed is not None:
                    yield meshed

    def _mesh(self, tile, t0: float) -> TileMeshed | None:
        block = self._blend(tile)
        for above in self._shifted(tile, +1):
            self._users[above] -= 1
            self._forget(above)
        self._forget(tile)
        if not (block > self.iso).any():
            return None
        verts, faces = marching_cubes_in_slabs(block, self.iso)
        if len(faces) == 0:
            return None
        vertices = self.plan.origin + (verts + np.asarray(tile) * self.plan.cells) * self.plan.voxel
        faces = np.asarray(faces, dtype=np.int64)
        if self.trim > 0:
            vertices, faces = trim_faces(vertices, faces, self.index.crop(tile), self.trim)
            if len(faces) == 0:
                return None
        return TileMeshed(tile, vertices, faces, time.perf_counter() - t0)

    def _blend(self, tile) -> np.ndarray:
        """The scene's field on ``tile``'s lattice points and on the lowest layers of the tiles
        above it: (cells + 1,)*3 float32, each tile's values weighted as ``TilePlan.blend_weights``
        says, summed in ``OFFSETS`` order (a shared layer gets the same numbers from either tile).
        Consumes the tile's grid."""
        c, b = self.plan.cells, self.plan.band
        own = self._grids.pop(tile)
        weights = self.plan.blend_weights(tile, np.repeat(np.arange(c + 1)[:, None], 3, axis=1))
        top = c - max(b - 1, 0)          # a neighbour above has weight on steps [top, c]
        block = np.zeros((c + 1,) * 3, dtype=np.float32)
        for off in OFFSETS:
            region = tuple(slice(top, c + 1) if d else slice(0, c + 1) for d in off)
            weight = (weights[0][off[0]][region[0], None, None] * weights[1][off[1]][None, region[1], None]
                      * weights[2][off[2]][None, None, region[2]])
            source = tuple(t + d for t, d in zip(tile, off))
            if source == tile:
                values = own[b:, b:, b:]
            elif source in self._layers:      # its slab along its first axis above; its step i - c at b + i - c
                values = self._layers[source][off.index(1)][
                    tuple(slice(b + top - c, b + 1) if d else slice(b, b + c + 1) for d in off)]
            else:
                values = np.float32(self.outside)      # empty space, or beyond the lattice (weight 0)
            block[region] += weight * values
        for axis in range(3):          # the lattice's outermost layers are outside: the mesh is closed
            if tile[axis] == 0:
                block[tuple(0 if a == axis else slice(None) for a in range(3))] = self.outside
            if tile[axis] + 1 == self.plan.shape[axis]:
                block[tuple(c if a == axis else slice(None) for a in range(3))] = self.outside
        return block

    def _forget(self, tile) -> None:
        """Drop ``tile``'s lowest layers once it and every occupied tile below it are meshed."""
        if tile in self._users and self._users[tile] <= 0 and tile not in self._grids:
            del self._users[tile]
            del self._layers[tile]


class SceneField:
    """The scene's field at any points, as the meshes have it: each point is owned by one tile and
    takes that tile's field blended with its neighbours' above (``TilePlan.blend_weights`` at its
    continuous lattice position), each tile's crop encoded (and refined, as the tiler did) on
    demand; the fields of the last ``keep`` tiles used are kept. For slices through a finished scene.

    __call__ : (N, 3) metres -> (N,) float32 logits; empty tiles are "outside"
    """

    def __init__(self, tiler: SceneTiler, keep: int = 48):
        self.tiler, self.keep = tiler, keep
        self._fields: dict[tuple, object] = {}
        self._lock = threading.Lock()

    def _field(self, tile):
        with self._lock:
            field = self._fields.pop(tile, None)
            if field is None:
                t = self.tiler
                field = tile_field(t.model, crop_inputs(t.index, tile, t.seed), t.iso, t.device, t.refine)
            self._fields[tile] = field            # the most recently used last
            while len(self._fields) > self.keep:
                self._fields.pop(next(iter(self._fields)))
            return field

    def _values(self, tile, points: np.ndarray) -> np.ndarray:
        """``tile``'s own field at ``points`` (N, 3) metres, "outside" when it is empty space."""
        if tile not in self.tiler.occupied:
            return np.full(len(points), self.tiler.outside, dtype=np.float32)
        return self._field(tile)(to_box(points, self.tiler.plan.centre(tile)))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        plan = self.tiler.plan
        pts = np.asarray(points, dtype=np.float64)
        steps = (pts - plan.origin) / plan.voxel
        owner = np.floor(steps + 1e-9).astype(np.int64) // plan.cells
        out = np.full(len(pts), self.tiler.outside, dtype=np.float32)
        inside = np.all((owner >= 0) & (owner < np.asarray(plan.shape)), axis=1)
        for tile in map(tuple, np.unique(owner[inside], axis=0).tolist()):
            if tile not in self.tiler.occupied:       # not meshed: empty space
                continue
            rows = np.flatnonzero(inside & np.all(owner == tile, axis=1))
            local = steps[rows] - np.asarray(tile) * plan.cells
            weights = plan.blend_weights(tile, local)
            total = np.zeros(len(rows), dtype=np.float32)
            for off in OFFSETS:
                weight = weights[0][off[0]] * weights[1][off[1]] * weights[2][off[2]]
                near = np.flatnonzero(weight > 0)
                if len(near):
                    source = tuple(t + d for t, d in zip(tile, off))
                    total[near] += weight[near] * self._values(source, pts[rows[near]])
            out[rows] = total
        return out


def trim_faces(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray,
               distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Keep the faces (F, 3) whose centre lies within ``distance`` of one of ``points`` (M, 3), and
    the vertices (V, 3) they use (renumbered)."""
    from scipy.spatial import cKDTree

    if len(points) == 0:
        return vertices[:0], faces[:0]
    centres = vertices[faces].mean(axis=1)
    near = cKDTree(points).query(centres, distance_upper_bound=distance)[0] <= distance
    faces = faces[near]
    used, faces = np.unique(faces, return_inverse=True)
    return vertices[used], faces.reshape(-1, 3)
