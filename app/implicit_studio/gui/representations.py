"""Classroom views that are not models: the input as points, as voxels, or its ground-truth mesh.

Each entry of ``REPRESENTATIONS`` turns an ``InputData`` into a (vertices, faces) mesh
in the unit frame (or None: points only). They run in a worker thread like the models,
so a new kind of view is one new entry here, not a new branch in the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..io.normalize import BOX_HALF as HALF


# the 6 faces of a unit cube as corner indices (corners numbered x + 2y + 4z), outward order
_CUBE_FACES = {
    (-1, 0): [(0, 4, 6), (0, 6, 2)], (1, 0): [(1, 3, 7), (1, 7, 5)],
    (-1, 1): [(0, 1, 5), (0, 5, 4)], (1, 1): [(2, 6, 7), (2, 7, 3)],
    (-1, 2): [(0, 2, 3), (0, 3, 1)], (1, 2): [(4, 5, 7), (4, 7, 6)],
}


def voxel_grid(points: np.ndarray, resolution: int = 32) -> np.ndarray:
    """(R, R, R) bool: the cells of the padded box [-0.55, 0.55]^3 that contain a point."""
    idx = np.floor((points + HALF) / (2 * HALF) * resolution).astype(np.int64)
    idx = np.clip(idx, 0, resolution - 1)
    grid = np.zeros((resolution,) * 3, bool)
    grid[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    return grid


def voxel_mesh(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of the occupied cells of ``grid`` (R, R, R) as a mesh; only faces between
    an occupied and an empty cell are kept, so the blocks look solid."""
    res = grid.shape[0]
    size = 2 * HALF / res
    corner = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], np.float32)
    padded = np.pad(grid, 1)
    verts, faces = [], []
    offset = 0
    cells = np.argwhere(grid)
    for (sign, axis), tris in _CUBE_FACES.items():
        shift = np.zeros(3, int)
        shift[axis] = sign
        neighbour = padded[tuple((cells + 1 + shift).T)]
        exposed = cells[~neighbour]
        if len(exposed) == 0:
            continue
        used = sorted({i for t in tris for i in t})
        remap = {c: k for k, c in enumerate(used)}
        v = (exposed[:, None, :] + corner[used][None]) * size - HALF
        verts.append(v.reshape(-1, 3))
        base = offset + np.arange(len(exposed))[:, None, None] * len(used)
        local = np.array([[remap[i] for i in t] for t in tris])
        faces.append((base + local[None]).reshape(-1, 3))
        offset += len(exposed) * len(used)
    if not verts:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    return np.concatenate(verts).astype(np.float32), np.concatenate(faces).astype(np.int64)


@dataclass(frozen=True)
class Representation:
    """A non-model view: its title and how to build its mesh from the input (None: points only)."""

    title: str
    build: Callable[[object], tuple[np.ndarray, np.ndarray] | None]
    show_points: bool


def _gt_mesh(data) -> tuple[np.ndarray, np.ndarray] | None:
    if data.gt_mesh is None:
        return None
    return np.asarray(data.gt_mesh.vertices, np.float32), np.asarray(data.gt_mesh.faces, np.int64)


REPRESENTATIONS: dict[str, Representation] = {
    "points": Representation("Point cloud (input samples)", lambda data: None, True),
    "voxels": Representation("Voxels 32^3 (discrete)", lambda data: voxel_mesh(voxel_grid(data.points, 32)), False),
    "mesh": Representation("Mesh (ground truth)", _gt_mesh, False),
}
