"""Marching cubes on a dense grid of field values, padded so every mesh is closed."""

from __future__ import annotations

import mcubes
import numpy as np


def extract_mesh(values: np.ndarray, threshold: float, box: float) -> tuple[np.ndarray, np.ndarray]:
    """Iso-surface of ``values`` at ``threshold``; inside is where values > threshold.

    values : (R+1, R+1, R+1) float, the field at the corners of an R^3 grid over
        the cube [-box/2, box/2]^3 (index 0 at -box/2, index R at +box/2)
    Returns vertices (V, 3) float32 in box coordinates and faces (F, 3) int64,
    oriented with outward normals. The grid is padded with an "outside" layer so
    a surface that touches the box is still closed (watertight).
    """
    res = values.shape[0] - 1
    all_finite = bool(np.isfinite(values).all())
    finite = values if all_finite else values[np.isfinite(values)]
    spread = max(float(finite.max()) - threshold, threshold - float(finite.min())) if finite.size else 1.0
    # Far below the threshold, so caps closing the surface at the box faces lie within
    # 1% of a voxel outside the box, without merging distinct vertices.
    outside = threshold - 100.0 * max(spread, 1e-3)
    clean = values if all_finite else np.nan_to_num(values, nan=outside, posinf=threshold + spread, neginf=outside)
    # Only the bounding box of the inside corners (one corner of margin) can hold triangles:
    # marching cubes on that block alone, padded the same way, gives the same mesh, much
    # faster at fine levels where the surface fills a fraction of the grid.
    lo, hi = inside_bounds(clean > threshold)
    if lo is None:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    block = clean[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    padded = np.pad(block, 1, mode="constant", constant_values=outside)
    verts, faces = mcubes.marching_cubes(padded, threshold)
    if len(faces) == 0:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    verts = (verts - 1.0 + lo) / res * box - box / 2.0
    return verts.astype(np.float32), faces.astype(np.int64)


def inside_bounds(inside: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Index bounds [lo, hi) of the True corners of ``inside`` (n, n, n) grown by one corner
    on every side and clipped to the grid; (None, None) when no corner is inside."""
    spans = []
    for axis in range(3):
        hit = np.flatnonzero(inside.any(axis=tuple(a for a in range(3) if a != axis)))
        if hit.size == 0:
            return None, None
        spans.append((max(hit[0] - 1, 0), min(hit[-1] + 2, inside.shape[axis])))
    lo, hi = (np.array(v) for v in zip(*spans))
    return lo, hi
