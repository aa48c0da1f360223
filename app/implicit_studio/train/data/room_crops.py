"""Training crops of synthetic rooms (``rooms.py``) for the scene model, in its metric frame.

Each item is one crop of a room, in ``engine.scene_frame``'s box units (the crop is the model's
padded box, ``BOX * UNIT_M`` metres on a side), as ``ShapeDataset`` gives them:

- ``inputs`` (n_input_points, 3) float32: the room's cloud strictly inside the crop, drawn
  uniform on every inner surface (plus noise), from the scanners' cloud, or both, then a
  random subset of n_input_points (or repeats when fewer: ``scans.encoder_subset``)
- ``points`` (n_queries, 3) float32: labelled points in the crop's core cube (``CORE_M`` plus
  ``QUERY_MARGIN`` each side), ``near_fraction`` near the surface, the rest uniform; uniform
  draws that fall beyond the room's structure (outside its labelled bounds, where a scan of the
  room sees nothing) are empty space, so the model learns walls of a wall's thickness, not bulges
- ``occ`` (n_queries,) float32: 1 inside, 0 outside

Crop centres are biased toward surfaces: mostly a random inner surface sample moved anywhere
within the core (so the core holds that surface), otherwise uniform in the room. The whole room
turns about the vertical through the centre: by a quarter turn, or (``any_yaw``) any angle.
Validation (``eval=True``) crops are fixed by (seed, index), always surface-centred, with
uniform queries only.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from . import scans
from .rooms import load_room, read_rooms
from ...engine.scene_frame import CORE_M, CROP_HALF_M, in_crop, to_box

CROPS_PER_ROOM = 16         # items per room and epoch (training); a crop is drawn anew each time
VAL_CROPS_PER_ROOM = 4
SURFACE_CENTRED = 0.9       # fraction of training crops centred near a surface sample
QUERY_MARGIN = 0.05         # m: queries reach this far beyond the core cube
MIN_INPUT_POINTS = 50       # a crop with fewer input points is drawn again
CLOUD_KINDS = (0.4, 0.8)    # draws below: uniform samples; below the second: scan; else both
CACHE_ROOMS = 3


class RoomCropDataset(torch.utils.data.Dataset):
    """Crops of the rooms of one split ("train", "val", "test", "unfamiliar") of a rooms folder.

    any_yaw : the fraction of training draws turned by any angle (the others by quarter turns)
    """

    def __init__(self, root: str | Path, split: str = "train", n_input_points: int = 4096, noise: float = 0.005,
                 n_queries: int = 4096, near_fraction: float = 0.5, seed: int = 0, eval: bool = False,
                 any_yaw: float = 0.0):
        self.root = Path(root)
        self.rooms = read_rooms(root, split)
        self.n_input_points, self.noise = n_input_points, noise
        self.n_queries, self.near_fraction = n_queries, near_fraction
        self.seed, self.eval, self.any_yaw = seed, eval, any_yaw
        self.per_room = VAL_CROPS_PER_ROOM if eval else CROPS_PER_ROOM
        self._cache: OrderedDict[str, dict] = OrderedDict()

    @property
    def ids(self) -> list[str]:
        return [f"{room}#{k}" for room in self.rooms for k in range(self.per_room)]

    def __len__(self) -> int:
        return len(self.rooms) * self.per_room

    def room(self, room_id: str) -> dict[str, np.ndarray]:
        """One room's arrays (``rooms.load_room``), the last CACHE_ROOMS kept in memory."""
        if room_id not in self._cache:
            data = load_room(self.root / f"{room_id}.npz")
            inner = data["surface_inner"]
            uniform = data["uniform_points"]
            self._cache[room_id] = {"surface": data["surface_points"][inner], "scan": data["scan_points"],
                                    "uniform": uniform, "uniform_occ": data["uniform_occ"],
                                    "near": data["near_points"], "near_occ": data["near_occ"],
                                    "bounds": np.stack([uniform.min(axis=0), uniform.max(axis=0)])}
            while len(self._cache) > CACHE_ROOMS:
                self._cache.popitem(last=False)
        self._cache.move_to_end(room_id)
        return self._cache[room_id]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = self._rng(index)
        room = self.room(self.rooms[index // self.per_room])
        for _ in range(20):
            centre, turn = self._frame(room, rng)
            inputs = self._inputs(room, centre, turn, rng)
            if len(inputs) >= MIN_INPUT_POINTS:
                break
        points, occ = self._queries(room, centre, turn, rng)
        return {"inputs": torch.from_numpy(inputs), "points": torch.from_numpy(points),
                "occ": torch.from_numpy(occ.astype(np.float32))}

    def _frame(self, room: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A crop centre (3,) in metres and the turn (3, 3) about y applied around it."""
        if self.eval or rng.random() < SURFACE_CENTRED:
            anchor = room["surface"][int(rng.integers(len(room["surface"])))].astype(np.float64)
            centre = anchor + rng.uniform(-CORE_M / 2, CORE_M / 2, 3)
        else:
            lo, hi = room["uniform"].min(axis=0), room["uniform"].max(axis=0)
            centre = rng.uniform(lo, hi).astype(np.float64)
        any_angle = not self.eval and rng.random() < self.any_yaw
        angle = rng.uniform(0.0, 2 * np.pi) if any_angle else np.pi / 2 * int(rng.integers(4))
        c, s = np.cos(angle), np.sin(angle)
        return centre, np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])

    def _inputs(self, room: dict, centre: np.ndarray, turn: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(n_input_points, 3) float32 box units: the room's cloud strictly inside the crop; empty
        (0, 3) when it holds fewer than MIN_INPUT_POINTS."""
        roll = 0.0 if self.eval else rng.random()
        parts = []
        if roll < CLOUD_KINDS[0] or roll >= CLOUD_KINDS[1]:
            parts.append(_local(room["surface"], centre, turn, CROP_HALF_M))
            parts[-1] = parts[-1] + rng.normal(0.0, self.noise, parts[-1].shape)
        if roll >= CLOUD_KINDS[0]:
            parts.append(_local(room["scan"], centre, turn, CROP_HALF_M))    # the scan has its own noise
        cloud = np.concatenate(parts)
        cloud = cloud[in_crop(cloud, np.zeros(3))]
        if len(cloud) < MIN_INPUT_POINTS:
            return np.zeros((0, 3), dtype=np.float32)
        return to_box(scans.encoder_subset(cloud, self.n_input_points, rng), np.zeros(3))

    def _queries(self, room: dict, centre: np.ndarray, turn: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Query points (n_queries, 3) float32 box units in the core cube, near then uniform, and
        their labels (n_queries,) bool."""
        reach = CORE_M / 2 + QUERY_MARGIN
        n_near = 0 if self.eval else int(round(self.n_queries * self.near_fraction))
        # the part of the core beyond the room's structure is empty: uniform queries there are outside
        cube = rng.uniform(-reach, reach, (self.n_queries - n_near, 3))
        beyond = cube[~np.all((cube @ turn + centre >= room["bounds"][0]) & (cube @ turn + centre <= room["bounds"][1]),
                              axis=1)]
        points, occ = [beyond], [np.zeros(len(beyond), bool)]
        for kind, count in (("near", n_near), ("uniform", self.n_queries - n_near - len(beyond))):
            if not count:
                continue
            mask = _near_box(room[kind], centre, reach)
            pts, labels = room[kind][mask], room[f"{kind}_occ"][mask]
            local = (pts - centre) @ turn.T
            inside = np.all(np.abs(local) <= reach, axis=1)
            local, labels = local[inside], labels[inside]
            if not len(local):           # no near points here: uniform ones take their place
                continue
            pick = rng.choice(len(local), count, replace=len(local) < count)
            points.append(local[pick])
            occ.append(labels[pick])
        points, occ = np.concatenate(points), np.concatenate(occ)
        if len(points) < self.n_queries:  # only when the near pool was empty
            extra = rng.choice(len(points), self.n_queries - len(points))
            points, occ = np.concatenate([points, points[extra]]), np.concatenate([occ, occ[extra]])
        return to_box(points, np.zeros(3)), occ

    def _rng(self, index: int) -> np.random.Generator:
        if self.eval:
            return np.random.default_rng([self.seed, index])
        return np.random.default_rng([self.seed, index, int(torch.randint(0, 2 ** 62, ()).item())])


def _near_box(points: np.ndarray, centre: np.ndarray, half: float) -> np.ndarray:
    """(N,) bool: ``points`` (N, 3) within ``half`` * sqrt(2) of ``centre`` across (x, z) and
    ``half`` in y: all that a box of that half-side turned about y around ``centre`` can hold."""
    wide = half * np.sqrt(2.0)
    rel = points - centre.astype(np.float32)
    return (np.abs(rel[:, 1]) <= half) & (np.abs(rel[:, 0]) <= wide) & (np.abs(rel[:, 2]) <= wide)


def _local(points: np.ndarray, centre: np.ndarray, turn: np.ndarray, half: float) -> np.ndarray:
    """The candidates among ``points`` (N, 3) for a crop of half-side ``half`` at ``centre``,
    turned by ``turn`` (3, 3) about it: (M, 3) float64 in the crop's frame (metres, centre 0)."""
    return (points[_near_box(points, centre, half)].astype(np.float64) - centre) @ turn.T
