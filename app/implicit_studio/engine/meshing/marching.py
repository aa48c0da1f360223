"""Marching cubes on a dense grid of field values, padded so every mesh is closed."""

from __future__ import annotations

import mcubes
import numpy as np

SLAB_CELLS = 1 << 17   # grid cells per marching-cubes call (~5 ms): PyMCubes holds the GIL for a whole call


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
    verts, faces = marching_cubes_in_slabs(padded, threshold)
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


def marching_cubes_in_slabs(values: np.ndarray, threshold: float,
                            slab_cells: int = SLAB_CELLS) -> tuple[np.ndarray, np.ndarray]:
    """PyMCubes on slabs of ``values`` (X, Y, Z) along the first axis, stitched into one mesh.

    PyMCubes keeps the GIL for a whole call, so one call on a large grid freezes every other
    Python thread (the window's UI thread among them) for its whole duration; slabs of about
    ``slab_cells`` cells let other threads run in between. Neighbouring slabs share one layer
    of corners; both make a vertex for each crossed grid edge of that layer, and the copies
    (equal up to rounding) are merged by edge (:func:`edge_keys`): the result is the mesh of a
    single call (same vertices up to order and rounding, same faces, still watertight).
    Returns vertices (V, 3) float64 in grid index coordinates and faces (F, 3).
    """
    nx = values.shape[0]
    layers = max(1, slab_cells // max(1, (values.shape[1] - 1) * (values.shape[2] - 1)))
    if nx - 1 <= layers:
        return mcubes.marching_cubes(values, threshold)
    verts_parts, face_parts, offset = [], [], 0
    for start in range(0, nx - 1, layers):
        stop = min(start + layers, nx - 1)
        verts, faces = mcubes.marching_cubes(values[start:stop + 1], threshold)
        if len(faces):
            verts[:, 0] += start
            verts_parts.append(verts)
            face_parts.append(faces + offset)
            offset += len(verts)
    if not face_parts:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    verts = np.concatenate(verts_parts)
    faces = np.concatenate(face_parts)
    # merge the copies made on the shared layers (x an exact multiple of the slab thickness)
    x = verts[:, 0]
    shared = np.flatnonzero((x == np.round(x)) & (np.round(x) % layers == 0) & (x > 0) & (x < nx - 1))
    if shared.size == 0:
        return verts, faces
    _, first, inverse = np.unique(edge_keys(verts[shared]), axis=0, return_index=True, return_inverse=True)
    remap = np.arange(len(verts))
    remap[shared] = shared[first[inverse.ravel()]]
    keep = np.ones(len(verts), bool)
    keep[shared] = False
    keep[shared[first]] = True
    new_index = np.cumsum(keep) - 1
    return verts[keep], new_index[remap[faces]]


def edge_keys(verts: np.ndarray) -> np.ndarray:
    """Grid edge of each vertex on a layer x = const: (x, y0, z0, axis) rows, (V, 4) int64.

    verts (V, 3) grid index coordinates. A marching-cubes vertex on that layer lies on an edge
    along y (z integral) or along z (y integral); the edge is named by its lower corner and
    axis. Copies computed in two slabs differ by rounding only, so they get the same key.
    A vertex exactly on a corner (a corner value equal to the threshold) is keyed by the corner.
    """
    rounded = np.round(verts)
    integral = np.abs(verts - rounded) < 1e-6
    axis = np.where(integral[:, 1] & integral[:, 2], 3, np.where(integral[:, 2], 1, 2))
    lower = np.where(integral, rounded, np.floor(verts))
    return np.column_stack([rounded[:, 0], lower[:, 1], lower[:, 2], axis]).astype(np.int64)
