"""Iso-lines of a 2D field: vectorised marching squares (used for the occupancy slice's iso-line)."""

from __future__ import annotations

import numpy as np

# the cell's edges as pairs of corner indices; corners in order (i, j), (i+1, j), (i+1, j+1), (i, j+1)
_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0))


def iso_segments(values: np.ndarray, level: float, xs: np.ndarray | None = None,
                 ys: np.ndarray | None = None) -> np.ndarray:
    """Line segments (K, 2, 2) of the iso-line ``values == level`` of a (H, W) grid.

    ``values[i, j]`` is the field at ``(xs[i], ys[j])`` (default: the indices). Each segment
    is two end points on cell edges, placed by linear interpolation; saddle cells are split
    by the value at the cell centre (the mean of its corners). Non-finite values cut no edge.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or min(v.shape) < 2:
        return np.zeros((0, 2, 2), np.float32)
    h, w = v.shape
    xs = np.arange(h, dtype=np.float64) if xs is None else np.asarray(xs, np.float64)
    ys = np.arange(w, dtype=np.float64) if ys is None else np.asarray(ys, np.float64)
    corners = np.stack([v[:-1, :-1], v[1:, :-1], v[1:, 1:], v[:-1, 1:]], axis=-1).reshape(-1, 4)   # (C, 4)
    ci, cj = np.meshgrid(np.arange(h - 1), np.arange(w - 1), indexing="ij")
    ci, cj = ci.ravel(), cj.ravel()
    inside = corners > level
    finite = np.isfinite(corners)
    cut = np.stack([(inside[:, a] != inside[:, b]) & finite[:, a] & finite[:, b] for a, b in _EDGES], axis=1)
    count = cut.sum(axis=1)
    keep = (count == 2) | (count == 4)
    corners, inside, cut, count, ci, cj = corners[keep], inside[keep], cut[keep], count[keep], ci[keep], cj[keep]

    # the crossing point on each of the 4 edges, (C, 4, 2)
    di = np.array([0, 1, 1, 0])
    dj = np.array([0, 0, 1, 1])
    points = np.zeros((len(corners), 4, 2))
    for e, (a, b) in enumerate(_EDGES):
        va, vb = corners[:, a], corners[:, b]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.clip(np.nan_to_num((level - va) / (vb - va), nan=0.5), 0.0, 1.0)
        fi = ci + di[a] + t * (di[b] - di[a])
        fj = cj + dj[a] + t * (dj[b] - dj[a])
        points[:, e, 0] = np.interp(fi, np.arange(h), xs)
        points[:, e, 1] = np.interp(fj, np.arange(w), ys)

    rows = np.arange(len(corners))
    single = count == 2
    first = np.argmax(cut[single], axis=1)
    second = 3 - np.argmax(cut[single][:, ::-1], axis=1)
    segs = [np.stack([points[rows[single], first], points[rows[single], second]], axis=1)]
    saddle = ~single
    if saddle.any():
        centre_in = corners[saddle].mean(axis=1) > level
        joined_a = inside[saddle, 0] == centre_in    # corner 0 connects to the centre: cut off corners 1 and 3
        p = points[saddle]
        pair_a = np.where(joined_a[:, None, None], p[:, [0, 1]], p[:, [3, 0]])
        pair_b = np.where(joined_a[:, None, None], p[:, [2, 3]], p[:, [1, 2]])
        segs += [pair_a, pair_b]
    return np.concatenate(segs).astype(np.float32)
