"""Streaming multiresolution iso-surface extraction (MISE, Mescheder et al. 2019).

Start from a (resolution0 + 1)^3 grid of corners over [-box/2, box/2]^3, evaluate all
of them, then ``levels`` times: find the active voxels (all eight corners evaluated,
corners on both sides of the threshold), split each into eight, and evaluate only the
corners not evaluated before. Unknown values are filled by trilinear interpolation from
the coarser level. A mesh is yielded after every level, so a viewer can show the coarse
surface at once and refine it while the rest computes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ...io.normalize import BOX
from .marching import extract_mesh

Field = Callable[[np.ndarray], np.ndarray]
"""A scalar field: (N, 3) float32 points -> (N,) values, inside where value > threshold."""

CancelFlag = Callable[[], bool]


@dataclass
class MiseLevel:
    """The mesh after one level of MISE.

    vertices : (V, 3) float32 in box coordinates
    faces : (F, 3) int64, outward oriented, watertight
    evaluations : cumulative number of field evaluations so far
    peak : largest field value on this level's grid (evaluated or interpolated)
    grid : (n, n, n) float32 corner values of this level (evaluated or interpolated), n = resolution + 1;
        never modified afterwards
    """

    level: int
    resolution: int
    vertices: np.ndarray
    faces: np.ndarray
    evaluations: int
    new_evaluations: int
    field_seconds: float
    marching_seconds: float
    peak: float
    grid: np.ndarray


def is_cancelled(cancel) -> bool:
    """Whether ``cancel`` (a ``threading.Event``, a callable or None) says stop."""
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return cancel.is_set()
    return bool(cancel())


def grid_points(index: np.ndarray, resolution: int, box: float) -> np.ndarray:
    """Integer corner indices (N, 3) of an R^3 grid -> (N, 3) float32 box coordinates."""
    return (index.astype(np.float32) / np.float32(resolution) - np.float32(0.5)) * np.float32(box)


def evaluate_batched(field: Field, points: np.ndarray, batch_size: int, cancel=None) -> np.ndarray | None:
    """Evaluate ``field`` on (N, 3) points in batches; None when cancelled between batches."""
    out = np.empty(len(points), dtype=np.float32)
    for start in range(0, len(points), batch_size):
        if is_cancelled(cancel):
            return None
        chunk = points[start:start + batch_size]
        values = np.asarray(field(chunk), dtype=np.float32).reshape(-1)
        if values.shape[0] != chunk.shape[0]:
            raise ValueError(f"field returned {values.shape[0]} values for {chunk.shape[0]} points")
        out[start:start + batch_size] = values
    return out


def upsample(values: np.ndarray) -> np.ndarray:
    """Trilinear 2x refinement of corner values: (n, n, n) -> (2n-1, 2n-1, 2n-1)."""
    out = values
    for axis in range(3):
        n = out.shape[axis]
        shape = list(out.shape)
        shape[axis] = 2 * n - 1
        fine = np.empty(shape, dtype=out.dtype)
        even = [slice(None)] * 3
        odd = [slice(None)] * 3
        even[axis] = slice(0, None, 2)
        odd[axis] = slice(1, None, 2)
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(0, -1)
        hi[axis] = slice(1, None)
        fine[tuple(even)] = out
        fine[tuple(odd)] = 0.5 * (out[tuple(lo)] + out[tuple(hi)])
        out = fine
    return out


def _corner_reduce(grid: np.ndarray, op) -> np.ndarray:
    """Combine the 8 corners of every voxel: (n, n, n) -> (n-1, n-1, n-1)."""
    out = None
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                corner = grid[dx:grid.shape[0] - 1 + dx, dy:grid.shape[1] - 1 + dy, dz:grid.shape[2] - 1 + dz]
                out = corner.copy() if out is None else op(out, corner)
    return out


def active_voxels(values: np.ndarray, evaluated: np.ndarray, threshold: float) -> np.ndarray:
    """Voxels (n-1)^3 whose corners are all evaluated and lie on both sides of ``threshold``."""
    inside = values > threshold
    any_in = _corner_reduce(inside, np.logical_or)
    all_in = _corner_reduce(inside, np.logical_and)
    known = _corner_reduce(evaluated, np.logical_and)
    return any_in & ~all_in & known


def subdivided_corners(active: np.ndarray) -> np.ndarray:
    """Corners of the 2x finer grid touched by the split of ``active`` voxels: (r,)*3 -> (2r+1,)*3."""
    r = active.shape[0]
    need = np.zeros((2 * r + 1,) * 3, dtype=bool)
    for a in range(3):
        for b in range(3):
            for c in range(3):
                need[a:a + 2 * r:2, b:b + 2 * r:2, c:c + 2 * r:2] |= active
    return need


def mise(
    field: Field,
    resolution0: int = 32,
    levels: int = 2,
    threshold: float = 0.0,
    box: float = BOX,
    batch_size: int = 16384,
    cancel: CancelFlag | None = None,
    coarse: np.ndarray | None = None,
) -> Iterator[MiseLevel]:
    """Yield a watertight mesh of ``field``'s iso-surface after each MISE level.

    field : callable, (N, 3) float32 points -> (N,) values; inside where value > threshold
    resolution0 : voxels per side of the first grid; level k has resolution0 * 2**k
    levels : number of refinement steps after the first grid
    box : side of the cube [-box/2, box/2]^3 that is meshed
    cancel : a ``threading.Event`` or a callable returning True to stop; checked
        between batches, after which the generator simply ends
    coarse : (resolution0 + 1,)*3 values of the first grid when already known (an earlier
        level 0's ``grid`` of the same field): level 0 then evaluates nothing
    """
    for level, res, values, total, new, seconds in mise_grids(field, resolution0, levels, threshold, box,
                                                             batch_size, cancel, coarse):
        yield _level_mesh(level, res, values, threshold, box, total, new, seconds)


def mise_grids(
    field: Field, resolution0: int, levels: int, threshold: float, box: float, batch_size: int,
    cancel: CancelFlag | None, coarse: np.ndarray | None = None,
) -> Iterator[tuple[int, int, np.ndarray, int, int, float]]:
    """MISE's grids without meshes (arguments as ``mise``, every one given): after each level yield
    (level, resolution, values (resolution + 1,)*3 float32 evaluated or interpolated, cumulative
    evaluations, new evaluations, seconds spent on this level's field values)."""
    if resolution0 < 1 or levels < 0:
        raise ValueError("resolution0 must be >= 1 and levels >= 0")
    res = resolution0
    n = res + 1
    t0 = time.perf_counter()
    if coarse is not None:
        if coarse.shape != (n, n, n):
            raise ValueError(f"coarse values must have shape {(n, n, n)}, not {coarse.shape}")
        values, total = coarse, 0
    else:
        values = dense_grid(field, res, box, batch_size, cancel)
        if values is None:
            return
        total = values.size
    evaluated = np.ones_like(values, dtype=bool)
    yield 0, res, values, total, total, time.perf_counter() - t0

    for level in range(1, levels + 1):
        t0 = time.perf_counter()
        active = active_voxels(values, evaluated, threshold)
        values = upsample(values)
        was_evaluated = np.zeros(values.shape, dtype=bool)
        was_evaluated[::2, ::2, ::2] = evaluated
        res *= 2
        new = subdivided_corners(active) & ~was_evaluated
        new_index = np.argwhere(new)
        new_values = evaluate_batched(field, grid_points(new_index, res, box), batch_size, cancel)
        if new_values is None:
            return
        values[new] = new_values
        evaluated = was_evaluated | new
        total += len(new_index)
        yield level, res, values, total, len(new_index), time.perf_counter() - t0


def _level_mesh(level, res, values, threshold, box, total, new, field_seconds) -> MiseLevel:
    t0 = time.perf_counter()
    verts, faces = extract_mesh(values, threshold, box)
    return MiseLevel(level, res, verts, faces, total, new, field_seconds, time.perf_counter() - t0,
                     float(values.max()), values)


def dense_grid(
    field: Field, resolution: int, box: float = BOX, batch_size: int = 16384, cancel: CancelFlag | None = None
) -> np.ndarray | None:
    """Evaluate ``field`` at every corner of a resolution^3 grid: (R+1, R+1, R+1) float32, or None if cancelled."""
    n = resolution + 1
    index = np.stack(np.meshgrid(*(np.arange(n),) * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    flat = evaluate_batched(field, grid_points(index, resolution, box), batch_size, cancel)
    return None if flat is None else flat.reshape(n, n, n)
