"""Joining the meshes of a scene's tiles into one mesh as they arrive (``engine.tiling``).

Neighbouring tiles put identical vertices on the lattice layers they share, so a vertex of the
scene is either inside one tile or on a tile border, where each occupied tile around it makes
its own copy. ``TileWelder`` gives every copy one index and remembers a border vertex only until
every tile that can make a copy has been added: memory stays bounded by the border vertices of
the tiles in flight, not by the scene, and the welded vertices and faces can go to disk tile by
tile (``io.ply.MeshSpool``).
"""

from __future__ import annotations

import itertools

import numpy as np

KEY_SCALE = 1_000_000      # vertices are keyed on a millionth of a lattice step


class TileWelder:
    """Weld tile meshes one tile at a time into one numbering.

    origin : (3,) metres of lattice point (0, 0, 0); voxel : lattice step in metres
    cells : lattice steps per tile side; occupied : the tiles that may be added (the tiles whose
        copies of a border vertex are awaited)

    A border vertex that a trimmed tile dropped is awaited for ever: it stays remembered, a few
    vertices of the trimmed tiles' borders.
    """

    def __init__(self, origin: np.ndarray, voxel: float, cells: int, occupied: set[tuple[int, int, int]]):
        self.origin, self.voxel, self.cells, self.occupied = np.asarray(origin, np.float64), voxel, cells, occupied
        self.vertex_count = 0
        self.face_count = 0
        self._border: dict[bytes, list[int]] = {}      # key -> [welded index, copies still to come]

    @property
    def remembered(self) -> int:
        """Border vertices remembered now, awaiting copies from tiles not yet added."""
        return len(self._border)

    def add(self, tile: tuple[int, int, int], vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One tile's mesh: vertices (V, 3) metres, faces (F, 3) -> its vertices not welded before
        (n, 3), in order, and its faces (F, 3) int64 in the welded numbering."""
        vertices = np.asarray(vertices, dtype=np.float64)
        keys = np.round((vertices - self.origin) / self.voxel * KEY_SCALE).astype(np.int64)
        local = keys - np.asarray(tile, dtype=np.int64) * self.cells * KEY_SCALE
        side = (local >= self.cells * KEY_SCALE).astype(np.int8) - (local <= 0).astype(np.int8)   # -1, 0, +1
        index = np.full(len(vertices), -1, dtype=np.int64)
        border = np.flatnonzero(np.any(side != 0, axis=1))
        copies = self._copies(tile, side[border])
        border_keys = [bytes(k) for k in keys[border]]
        for row, key in zip(border, border_keys):
            entry = self._border.get(key)
            if entry is not None:
                index[row] = entry[0]
                entry[1] -= 1
                if entry[1] <= 0:
                    del self._border[key]
        new = np.flatnonzero(index < 0)
        index[new] = self.vertex_count + np.arange(len(new))
        for row, key, count in zip(border, border_keys, copies):
            if count > 1 and key not in self._border and index[row] >= self.vertex_count:
                self._border[key] = [int(index[row]), count - 1]
        self.vertex_count += len(new)
        self.face_count += len(faces)
        return vertices[new], index[np.asarray(faces, dtype=np.int64)]

    def _copies(self, tile: tuple[int, int, int], sides: np.ndarray) -> list[int]:
        """For border vertices on ``sides`` (B, 3) of ``tile`` (-1: its lowest layer on that axis,
        +1: its highest, 0: inside): how many occupied tiles hold a copy, ``tile`` included."""
        counts: dict[bytes, int] = {}
        out = []
        for side in sides:
            key = side.tobytes()
            if key not in counts:
                ranges = [(t,) if s == 0 else (t, t + s) for t, s in zip(tile, side.tolist())]
                counts[key] = sum(n in self.occupied for n in itertools.product(*ranges))
            out.append(counts[key])
        return out
