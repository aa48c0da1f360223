"""Connected components of a mesh: drop the ones far from the input points (fitted models' floaters)."""

from __future__ import annotations

import numpy as np


def keep_components_near(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray,
                         distance: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Keep the connected components that come within ``distance`` of some input point.

    A field fitted to one shape's points (SIREN, the ReLU MLP) can cross its iso-level far
    from every point: small closed blobs that no input supports. Removing whole components
    keeps a watertight mesh watertight.

    vertices (V, 3), faces (F, 3), points (N, 3), all in the same frame.
    Returns the kept vertices (V', 3), faces (F', 3) re-indexed, and the number of
    components removed. When no component comes near the points, all are kept.
    """
    if len(faces) == 0 or len(points) == 0:
        return vertices, faces, 0
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(vertices)
    rows = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    cols = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n))
    count, label = connected_components(graph, directed=False)
    if count == 1:
        return vertices, faces, 0
    near, _ = cKDTree(points).query(vertices, k=1, distance_upper_bound=distance)
    supported = np.zeros(count, bool)
    supported[label[np.isfinite(near)]] = True
    if not supported.any():
        return vertices, faces, 0     # no surface through the points yet (an early fit): nothing to prefer
    used = np.zeros(n, bool)
    used[faces.ravel()] = True
    removed = int(np.count_nonzero(~supported[np.unique(label[used])]))
    if removed == 0:
        return vertices, faces, 0
    keep_vertex = supported[label]
    keep_face = keep_vertex[faces[:, 0]]
    new_index = np.cumsum(keep_vertex) - 1
    return vertices[keep_vertex], new_index[faces[keep_face]].astype(faces.dtype), removed


def drop_floaters(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, resolution: int,
                  box: float) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`keep_components_near` with the support distance of a ``resolution``^3 grid over
    a cube of side ``box``: 1.5 voxels, at least 2 % of the box (a surface through the points
    passes within a voxel of them; coarse levels need the slack)."""
    return keep_components_near(vertices, faces, points, max(0.02 * box, 1.5 * box / resolution))
