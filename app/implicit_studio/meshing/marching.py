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
    finite = values[np.isfinite(values)]
    spread = float(np.abs(finite - threshold).max()) if finite.size else 1.0
    # Far below the threshold, so caps closing the surface at the box faces lie within
    # 1% of a voxel outside the box, without merging distinct vertices.
    outside = threshold - 100.0 * max(spread, 1e-3)
    clean = np.nan_to_num(values, nan=outside, posinf=threshold + spread, neginf=outside)
    padded = np.pad(clean, 1, mode="constant", constant_values=outside)
    verts, faces = mcubes.marching_cubes(padded, threshold)
    if len(faces) == 0:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    verts = (verts - 1.0) / res * box - box / 2.0
    return verts.astype(np.float32), faces.astype(np.int64)
