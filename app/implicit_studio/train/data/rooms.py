"""Synthetic rooms at metric scale for the scene model (``convonet-scene``): ``implicit-studio data rooms``.

A room is floor, walls and sometimes a ceiling (axis-aligned boxes in metres, y up, the floor's
top at y = 0, the room's air ``[0, W] x [0, H] x [0, D]``), door and window openings cut out of
the walls, and 4-15 shapes of a built data set (``data build``) scaled to furniture sizes, each
resting on the floor, pushed against a wall or hung on one, with non-overlapping bounding boxes.

Labels (inside = True) are exact where they can be: floor, walls and ceiling analytically; an
object through its own labelled points (its stored uniform and near-surface points moved by its
similarity transform), OR-ed with the structure. An object's points are kept only outside every
other object's box, and the room's own uniform points only outside every object box, so each
point is labelled by everything that can occupy it.

Layout of ``DIR`` (what ``RoomCropDataset`` reads):

- ``manifest.json``: ``{"version": 1, "kind": "rooms", "rooms": [{"id": "train/room-0000",
  "split", "size_m", "objects", "seed", "seconds"}, ...]}``
- ``<split>/room-XXXX.npz`` (see ``write_room``), splits train, val, test and unfamiliar.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from . import scans
from .build import NEAR_SIGMAS
from .dataset import load_shape, read_manifest

log = logging.getLogger(__name__)

ROOM_SPLITS = ("train", "val", "test", "unfamiliar")
SURFACE_DENSITY = 1500.0        # input surface samples per m^2
EVAL_DENSITY = 10000.0          # samples per m^2 of the interior-facing surface metrics measure to
UNIFORM_DENSITY = 6000.0        # labelled uniform points per m^3
NEAR_PER_SURFACE = 1.0          # labelled near-surface points per surface sample
BOX_MARGIN = 0.02               # m: an object's box is its surface's bounding box grown by this
OBJECT_GAP = 2 * BOX_MARGIN     # m: grown boxes never overlap
WALL_GAP = 0.005                # m: the least distance between an object and a wall
SCAN_NOISE = 0.005              # m: Gaussian noise of the scanner
SCAN_PIXEL = 0.004              # rad: the panoramic z-buffer's pixel
SCAN_TOLERANCE = 0.1            # m: the most a seen sample lies behind the nearest surface in its pixels
SCAN_FULL_RANGE = 2.0           # m: a scanner keeps every visible sample up to here, fewer beyond (1/d^2)
EPS = 1e-4                      # m: the step off a surface that tells its two sides apart


@dataclass(frozen=True)
class RoomConfig:
    """The ranges rooms are drawn from (metres)."""

    width: tuple[float, float] = (3.0, 8.0)       # along x
    depth: tuple[float, float] = (3.0, 6.0)       # along z
    height: tuple[float, float] = (2.4, 3.0)
    wall: tuple[float, float] = (0.1, 0.2)        # wall, floor and ceiling thickness
    ceiling: float = 0.5                          # fraction of rooms with a ceiling
    objects: tuple[int, int] = (4, 15)
    size: tuple[float, float] = (0.3, 2.0)        # an object's longest side
    scanners: tuple[int, int] = (2, 4)
    scanner_height: tuple[float, float] = (1.2, 1.8)


# --------------------------------------------------------------------------- structure


@dataclass(frozen=True)
class Structure:
    """Floor, walls and ceiling as axis-aligned boxes, minus openings.

    boxes : (K, 6) float64 rows (x0, y0, z0, x1, y1, z1), metres
    cut : (K,) bool, the boxes openings cut through (walls)
    holes : (M, 6) float64 openings (doors, windows), same layout
    """

    boxes: np.ndarray
    cut: np.ndarray
    holes: np.ndarray

    def occupancy(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) metres -> (N,) bool: inside floor, walls or ceiling (closed boxes, open holes)."""
        points = np.asarray(points, dtype=np.float64)
        in_hole = in_boxes(points, self.holes).any(axis=1) if len(self.holes) else np.zeros(len(points), bool)
        inside = in_boxes(points, self.boxes)
        return (inside & ~(self.cut[None, :] & in_hole[:, None])).any(axis=1)

    @property
    def bounds(self) -> np.ndarray:
        """(6,) the bounding box of all the structure."""
        return np.concatenate([self.boxes[:, :3].min(axis=0), self.boxes[:, 3:].max(axis=0)])

    def surface(self, density: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Uniform samples of the structure's boundary: points (N, 3) and outward normals (N, 3),
        about ``density`` per m^2 (faces of boxes and of openings, kept where one side is solid
        and the other is air)."""
        points, normals = [], []
        for box, sign in [(b, 1.0) for b in self.boxes] + [(h, -1.0) for h in self.holes]:
            p, n = box_faces(box, density, rng)
            points.append(p)
            normals.append(n * sign)
        points, normals = np.concatenate(points), np.concatenate(normals)
        keep = self.occupancy(points - EPS * normals) & ~self.occupancy(points + EPS * normals)
        return points[keep], normals[keep]


def in_boxes(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, 3) points, (K, 6) closed boxes -> (N, K) bool."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 6)
    p = np.asarray(points, dtype=np.float64)[:, None, :]
    return np.all((p >= boxes[None, :, :3]) & (p <= boxes[None, :, 3:]), axis=2)


def box_faces(box: np.ndarray, density: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform samples on the six faces of ``box`` (6,): points (N, 3) and outward normals (N, 3),
    a Poisson number with mean ``density`` times each face's area."""
    lo, hi = box[:3], box[3:]
    points, normals = [], []
    for axis in range(3):
        a, b = [i for i in range(3) if i != axis]
        area = (hi[a] - lo[a]) * (hi[b] - lo[b])
        for side, value in ((-1.0, lo[axis]), (1.0, hi[axis])):
            n = rng.poisson(density * area)
            p = np.empty((n, 3))
            p[:, axis] = value
            p[:, a] = rng.uniform(lo[a], hi[a], n)
            p[:, b] = rng.uniform(lo[b], hi[b], n)
            normal = np.zeros((n, 3))
            normal[:, axis] = side
            points.append(p)
            normals.append(normal)
    return np.concatenate(points), np.concatenate(normals)


def random_structure(size: np.ndarray, rng: np.random.Generator, config: RoomConfig = RoomConfig()) -> Structure:
    """Floor, four walls, a ceiling in some rooms, and 1-2 doors and 0-3 windows, for a room
    whose air is ``[0, W] x [0, H] x [0, D]`` (``size`` (3,) = W, H, D metres)."""
    w, h, d = size
    t = rng.uniform(*config.wall, 4)                  # walls x-, x+, z-, z+
    floor_t, ceil_t = rng.uniform(*config.wall, 2)
    ceiling = rng.random() < config.ceiling
    top = h + ceil_t if ceiling else h
    x0, x1, z0, z1 = -t[0], w + t[1], -t[2], d + t[3]
    boxes = [[x0, -floor_t, z0, x1, 0.0, z1],
             [x0, -floor_t, z0, 0.0, top, z1], [w, -floor_t, z0, x1, top, z1],
             [x0, -floor_t, z0, x1, top, 0.0], [x0, -floor_t, d, x1, top, z1]]
    cut = [False, True, True, True, True]
    if ceiling:
        boxes.append([x0, h, z0, x1, top, z1])
        cut.append(False)
    holes = []
    kinds = ["door"] * int(rng.integers(1, 3)) + ["window"] * int(rng.integers(0, 4))
    spans = {k: [] for k in range(4)}
    for kind in kinds:
        wall = int(rng.integers(4))
        length = d if wall < 2 else w
        width = rng.uniform(0.8, 1.0) if kind == "door" else rng.uniform(0.8, 2.0)
        if length - 0.4 < width:
            continue
        start = rng.uniform(0.2, length - 0.2 - width)
        if any(start < e + 0.1 and s < start + width + 0.1 for s, e in spans[wall]):
            continue                                   # keep openings on one wall apart
        spans[wall].append((start, start + width))
        y0, y1 = (0.0, min(rng.uniform(2.0, 2.1), h - 0.1)) if kind == "door" else \
            (rng.uniform(0.8, 1.0), 0.0)
        if kind == "window":
            y1 = min(y0 + rng.uniform(1.0, 1.5), h - 0.2)
        inner, outer = ((0.0, x0), (w, x1), (0.0, z0), (d, z1))[wall]
        across = sorted((inner, outer))
        across = (across[0] - 0.01, across[1] + 0.01)
        if wall < 2:
            holes.append([across[0], y0, start, across[1], y1, start + width])
        else:
            holes.append([start, y0, across[0], start + width, y1, across[1]])
    return Structure(np.array(boxes), np.array(cut), np.array(holes).reshape(-1, 6))


# --------------------------------------------------------------------------- objects


@dataclass
class Placed:
    """One shape in a room: ``room = scale * R_y(yaw) @ unit + offset``.

    box : (6,) its surface's bounding box in the room, grown by BOX_MARGIN
    """

    shape_id: str
    source: str
    license: str
    scale: float
    yaw: float
    offset: np.ndarray
    box: np.ndarray
    placement: str

    def rotation(self) -> np.ndarray:
        """(3, 3) the yaw about y."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])

    def apply(self, unit_points: np.ndarray) -> np.ndarray:
        """(N, 3) unit-frame points -> (N, 3) float64 room metres."""
        return self.scale * np.asarray(unit_points, dtype=np.float64) @ self.rotation().T + self.offset

    def record(self) -> dict:
        return {"id": self.shape_id, "source": self.source, "license": self.license,
                "scale": round(self.scale, 5), "yaw": round(self.yaw, 5),
                "offset": [round(float(v), 5) for v in self.offset], "placement": self.placement,
                "box": [round(float(v), 5) for v in self.box]}


def surface_area(points: np.ndarray, normals: np.ndarray, cell: float = 0.02) -> float:
    """Estimated area of the surface that ``points`` (N, 3) sample densely, with unit ``normals``
    (N, 3): occupied voxels of side ``cell`` times cell^2, over the mean voxels a unit of area
    crosses (|nx| + |ny| + |nz|)."""
    cells = np.unique(np.floor(points / cell).astype(np.int64), axis=0)
    crossing = float(np.mean(np.abs(normals).sum(axis=1))) or 1.0
    return len(cells) * cell * cell / crossing


def place_objects(shapes: list[dict], size: np.ndarray, rng: np.random.Generator,
                  config: RoomConfig = RoomConfig()) -> list[tuple[Placed, dict]]:
    """Put ``shapes`` (``load_shape`` arrays plus "id", "source", "license") into the room's air
    ``[0, W] x [0, H] x [0, D]`` (``size`` (3,)): each on the floor (lowest surface point at
    y = 0), against a wall, or (small ones) hung on a wall; grown boxes never overlap. Shapes
    that find no place are left out. Returns (placement, shape) pairs."""
    w, h, d = size
    placed: list[tuple[Placed, dict]] = []
    for shape in shapes:
        surface = shape["surface_points"].astype(np.float64)
        for attempt in range(40):
            longest = np.exp(rng.uniform(*np.log(config.size))) * (0.85 ** (attempt // 10))
            extent = np.ptp(surface, axis=0)
            scale = min(longest / float(extent.max()), (h - 0.3) / float(extent[1]) if extent[1] > 0 else 1e9)
            roll = rng.random()
            mode = "floor" if roll < 0.55 else "wall" if roll < 0.85 or longest > 0.7 else "wall-mounted"
            yaw = rng.uniform(0, 2 * np.pi) if mode == "floor" else np.pi / 2 * int(rng.integers(4))
            item = Placed(shape["id"], shape["source"], shape["license"], scale, yaw, np.zeros(3), np.zeros(6), mode)
            moved = item.apply(surface)
            lo, hi = moved.min(axis=0), moved.max(axis=0)
            ext = hi - lo
            if ext[0] > w - 2 * WALL_GAP - 0.1 or ext[2] > d - 2 * WALL_GAP - 0.1:
                continue
            if mode == "wall-mounted" and h - 0.1 - ext[1] < 0.8:
                mode = item.placement = "wall"
            y = 0.0 if mode != "wall-mounted" else rng.uniform(0.8, min(1.8, h - 0.1 - ext[1]))
            x = rng.uniform(WALL_GAP, w - WALL_GAP - ext[0])
            z = rng.uniform(WALL_GAP, d - WALL_GAP - ext[2])
            if mode != "floor":
                wall = int(rng.integers(4))
                x = (WALL_GAP, w - WALL_GAP - ext[0], x, x)[wall]
                z = (z, z, WALL_GAP, d - WALL_GAP - ext[2])[wall]
            shift = np.array([x, y, z]) - lo
            box = np.concatenate([lo + shift - BOX_MARGIN, hi + shift + BOX_MARGIN])
            if any(_overlap(box, other.box, OBJECT_GAP - 2 * BOX_MARGIN) for other, _ in placed):
                continue
            item.offset, item.box = shift, box
            placed.append((item, shape))
            break
    return placed


def _overlap(a: np.ndarray, b: np.ndarray, gap: float) -> bool:
    """Whether boxes ``a`` and ``b`` (6,) come closer than ``gap``."""
    return bool(np.all(a[:3] < b[3:] + gap) and np.all(b[:3] < a[3:] + gap))


# --------------------------------------------------------------------------- scans


def panoramic_visible(points: np.ndarray, normals: np.ndarray, eye: np.ndarray, spacing: float) -> np.ndarray:
    """Which surface samples ``points`` (N, 3), with outward unit normals (N, 3), a 360-degree
    scanner at ``eye`` (3,) sees: (N,) bool.

    Samples facing away from the eye are hidden (the far side of a wall, a solid's back). The
    others go into an equirectangular z-buffer of SCAN_PIXEL radians, each covering the pixels
    its share of the surface (``spacing`` metres across) spans at its distance, so near surfaces
    hide what lies behind them between their samples too; a sample is seen within its splat's
    depth at its slope of the nearest surface there, at most SCAN_TOLERANCE behind it.
    """
    rel = points - eye
    facing = np.flatnonzero(np.sum(rel * normals, axis=1) < 0)
    rel = rel[facing]
    dist = np.linalg.norm(rel, axis=1)
    azimuth = np.arctan2(rel[:, 2], rel[:, 0])
    elevation = np.arcsin(np.clip(rel[:, 1] / np.maximum(dist, 1e-9), -1.0, 1.0))
    rows, cols = int(np.ceil(np.pi / SCAN_PIXEL)), int(np.ceil(2 * np.pi / SCAN_PIXEL))
    ij = np.stack([np.minimum(((elevation + np.pi / 2) / SCAN_PIXEL).astype(np.int64), rows - 1),
                   np.minimum(((azimuth + np.pi) / SCAN_PIXEL).astype(np.int64), cols - 1)], axis=1)
    across = spacing / np.maximum(dist, 1e-3) / SCAN_PIXEL           # pixels a sample's share spans
    half = np.stack([across, across / np.maximum(np.cos(elevation), 0.05)], axis=1)
    half = (2 ** np.ceil(np.log2(np.clip(half, 1.0, 64.0)))).astype(np.int64)    # few splat sizes
    slope = scans.grazing_slope(points[facing], normals[facing], eye)
    tolerance = np.minimum(dist * SCAN_PIXEL * half[:, 0] * (1.0 + 1.5 * slope), SCAN_TOLERANCE)
    seen = np.zeros(len(points), dtype=bool)
    seen[facing] = scans.depth_test(ij, dist, (rows, cols), tolerance, half)
    return seen


def scan(points: np.ndarray, normals: np.ndarray, eyes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A scanner's cloud of the room: indices into ``points`` (N, 3) (normals (N, 3)) of the
    samples seen from any of ``eyes`` (S, 3), each scanner keeping all within SCAN_FULL_RANGE
    and a share falling as 1/d^2 beyond (the density of a real scan)."""
    spacing = 1.0 / np.sqrt(SURFACE_DENSITY)
    taken = np.zeros(len(points), dtype=bool)
    for eye in eyes:
        seen = panoramic_visible(points, normals, eye, spacing)
        dist = np.linalg.norm(points - eye, axis=1)
        taken |= seen & (rng.random(len(points)) < np.minimum(1.0, (SCAN_FULL_RANGE / dist) ** 2))
    return np.flatnonzero(taken)


def scanner_positions(size: np.ndarray, boxes: np.ndarray, rng: np.random.Generator,
                      config: RoomConfig = RoomConfig()) -> np.ndarray:
    """(S, 3) scanner positions in the room's air, 0.3 m from walls, outside every object box
    grown by 0.2 m."""
    w, h, d = size
    eyes: list[np.ndarray] = []
    want = int(rng.integers(config.scanners[0], config.scanners[1] + 1))
    grown = boxes + np.array([-0.2, -0.2, -0.2, 0.2, 0.2, 0.2]) if len(boxes) else boxes
    for _ in range(500):
        eye = np.array([rng.uniform(0.3, w - 0.3), rng.uniform(*config.scanner_height), rng.uniform(0.3, d - 0.3)])
        if not len(grown) or not in_boxes(eye[None], grown).any():
            eyes.append(eye)
            if len(eyes) == want:
                break
    if not eyes:
        eyes.append(np.array([w / 2, config.scanner_height[1], d / 2]))
    return np.array(eyes)


# --------------------------------------------------------------------------- one room


def object_surface(item: Placed, shape: dict, structure: Structure, density: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Surface samples of a placed shape, about ``density`` per m^2 (at least 200, at most all its
    stored ones), without those buried in the floor: points (P, 3) metres, unit normals (P, 3),
    and the shape's area in m^2."""
    surf = shape["surface_points"].astype(np.float64)
    normals = shape["surface_normals"].astype(np.float64)
    area = surface_area(surf, normals) * item.scale ** 2
    pick = rng.choice(len(surf), min(len(surf), max(200, int(density * area))), replace=False)
    p, n = item.apply(surf[pick]), normals[pick] @ item.rotation().T
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    inside_structure = structure.occupancy(p - np.array([0.0, 2e-3, 0.0])) & (p[:, 1] < 2e-3)
    return p[~inside_structure], n[~inside_structure], area


def outside_objects(points: np.ndarray, normals: np.ndarray, solids: list) -> np.ndarray:
    """(S,) bool: which structure samples (S, 3) with outward normals (S, 3) are not inside a placed
    object (judged by the object's labelled point nearest to a step off the sample): samples inside
    one are no surface of the union. ``solids``: per object, (box (6,), a cKDTree of its labelled
    points in the room, their labels (L,) bool)."""
    keep = np.ones(len(points), dtype=bool)
    for box, tree, labels in solids:
        in_box = np.flatnonzero(in_boxes(points, box[None])[:, 0])
        if len(in_box):
            _, nn = tree.query(points[in_box] + EPS * normals[in_box])
            keep[in_box[labels[nn]]] = False
    return keep


def faces_inside(points: np.ndarray, normals: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(S,) bool: the samples (S, 3) whose outward normal (S, 3) faces the inside of the structure's
    bounding box ``bounds`` (6,), i.e. what a scan from inside the room can see at all."""
    ahead = points + EPS * normals
    return np.all((ahead > bounds[:3]) & (ahead < bounds[3:]), axis=1)


def build_room(shapes: list[dict], rng: np.random.Generator, config: RoomConfig = RoomConfig()) -> dict:
    """All arrays of one room furnished with ``shapes`` (see ``place_objects``); see ``write_room``."""
    size = np.array([rng.uniform(*config.width), rng.uniform(*config.height), rng.uniform(*config.depth)])
    structure = random_structure(size, rng, config)
    placed = place_objects(shapes, size, rng, config)
    boxes = np.array([p.box for p, _ in placed]).reshape(-1, 6)

    # inputs: the boundary of the union of structure and objects
    s_points, s_normals = structure.surface(SURFACE_DENSITY, rng)
    near_parts, occ_parts = [], []
    near = s_points + rng.normal(size=s_points.shape) * np.repeat(NEAR_SIGMAS, [len(s_points) - len(s_points) // 2,
                                                                               len(s_points) // 2])[:, None]
    near_parts.append(near)
    occ_parts.append(structure.occupancy(near))
    o_points, o_normals = [], []
    uniform_parts, uniform_occ_parts = [], []
    solids = []                                  # per object: box, its labelled points' tree, labels
    for k, (item, shape) in enumerate(placed):
        others = np.delete(boxes, k, axis=0)
        labelled = np.concatenate([shape["uniform_points"], shape["near_points"]]).astype(np.float64)
        labels = np.concatenate([shape["uniform_occ"], shape["near_occ"]])
        moved = item.apply(labelled)
        solids.append((item.box, cKDTree(moved), labels))
        # surface samples, as dense as the structure's
        p, n, area = object_surface(item, shape, structure, SURFACE_DENSITY, rng)
        o_points.append(p)
        o_normals.append(n)
        # labelled points: uniform ones in its own box (at the room's density), near ones anywhere
        # outside the other boxes
        n_uniform = len(shape["uniform_points"])
        uni, uni_occ = moved[:n_uniform], labels[:n_uniform]
        mine = in_boxes(uni, item.box[None])[:, 0]
        uni, uni_occ = uni[mine], uni_occ[mine]
        volume = float(np.prod(item.box[3:] - item.box[:3]))
        sub = rng.choice(len(uni), min(len(uni), int(UNIFORM_DENSITY * volume)), replace=False)
        uniform_parts.append(uni[sub])
        uniform_occ_parts.append(uni_occ[sub] | structure.occupancy(uni[sub]))
        nea, nea_occ = moved[n_uniform:], labels[n_uniform:]
        if len(others):
            free = ~in_boxes(nea, others).any(axis=1)
            nea, nea_occ = nea[free], nea_occ[free]
        sub = rng.choice(len(nea), min(len(nea), int(NEAR_PER_SURFACE * SURFACE_DENSITY * area)), replace=False)
        near_parts.append(nea[sub])
        occ_parts.append(nea_occ[sub] | structure.occupancy(nea[sub]))
    # structure near points outside every object box: their label is the structure's
    if len(boxes):
        free = ~in_boxes(near_parts[0], boxes).any(axis=1)
        near_parts[0], occ_parts[0] = near_parts[0][free], occ_parts[0][free]
    keep_structure = outside_objects(s_points, s_normals, solids)
    s_points, s_normals = s_points[keep_structure], s_normals[keep_structure]
    bounds = structure.bounds
    n_uniform = rng.poisson(UNIFORM_DENSITY * float(np.prod(bounds[3:] - bounds[:3])))
    uniform = rng.uniform(bounds[:3], bounds[3:], (n_uniform, 3))
    if len(boxes):
        uniform = uniform[~in_boxes(uniform, boxes).any(axis=1)]
    uniform_parts.insert(0, uniform)
    uniform_occ_parts.insert(0, structure.occupancy(uniform))

    surface = np.concatenate([s_points] + o_points)
    normals = np.concatenate([s_normals] + o_normals)
    inner = faces_inside(surface, normals, bounds)
    eyes = scanner_positions(size, boxes, rng, config)
    seen = scan(surface, normals, eyes, rng)
    scan_points = surface[seen] + rng.normal(0.0, SCAN_NOISE, (len(seen), 3))
    # the same surface sampled densely, for measuring distances to it (drawn last: everything
    # above is what it was before these samples existed)
    e_points, e_normals = structure.surface(EVAL_DENSITY, rng)
    keep = outside_objects(e_points, e_normals, solids)
    dense = [object_surface(item, shape, structure, EVAL_DENSITY, rng)[:2] for item, shape in placed]
    e_points = np.concatenate([e_points[keep]] + [d[0] for d in dense])
    e_normals = np.concatenate([e_normals[keep]] + [d[1] for d in dense])
    facing = faces_inside(e_points, e_normals, bounds)
    uniform, uniform_occ = np.concatenate(uniform_parts), np.concatenate(uniform_occ_parts)
    near, near_occ = np.concatenate(near_parts), np.concatenate(occ_parts)
    objects = [item.record() for item, _ in placed]
    return {
        "size": size.astype(np.float32),
        "structure_boxes": structure.boxes.astype(np.float32), "structure_cut": structure.cut,
        "structure_holes": structure.holes.astype(np.float32),
        "object_boxes": boxes.astype(np.float32),
        "surface_points": surface.astype(np.float32), "surface_normals": normals.astype(np.float32),
        "surface_inner": inner,
        "eval_points": e_points[facing].astype(np.float32), "eval_normals": e_normals[facing].astype(np.float32),
        "scan_points": scan_points.astype(np.float32), "scan_origins": eyes.astype(np.float32),
        "uniform_points": uniform.astype(np.float32), "uniform_occ": np.packbits(uniform_occ),
        "near_points": near.astype(np.float32), "near_occ": np.packbits(near_occ),
        "objects": np.array(json.dumps(objects)),
    }


def write_room(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write one room atomically (uncompressed npz: crops load it often). Arrays, metres, float32:

    size (3,) W, H, D of the room's air; structure_boxes (K, 6), structure_cut (K,) bool,
    structure_holes (M, 6) (``Structure``); object_boxes (O, 6) grown object boxes;
    surface_points (S, 3), surface_normals (S, 3) outward, surface_inner (S,) bool: faces the
    inside of the structure's bounding box (what a scan from inside can see at all);
    eval_points (E, 3), eval_normals (E, 3): the interior-facing surface again, at ``EVAL_DENSITY``
    (objects: at most all their stored samples), for surface metrics;
    scan_points (C, 3) the scanners' cloud with noise, scan_origins (Q, 3);
    uniform_points (U, 3) with uniform_occ packbits of (U,) bool; near_points (N, 3) with
    near_occ packbits; objects: a JSON string, the list of ``Placed.record`` dicts.
    """
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(tmp, path)


def load_room(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of one room file, with ``uniform_occ`` and ``near_occ`` unpacked to (N,) bool."""
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    for kind in ("uniform", "near"):
        arrays[f"{kind}_occ"] = np.unpackbits(arrays[f"{kind}_occ"])[:len(arrays[f"{kind}_points"])].astype(bool)
    return arrays


# --------------------------------------------------------------------------- shape pools


@dataclass(frozen=True)
class ShapePool:
    """Shapes a split's rooms are furnished from: (id, path, source, license) entries."""

    entries: tuple[tuple[str, Path, str, str], ...]

    def draw(self, count: int, rng: np.random.Generator) -> list[dict]:
        """``count`` loaded shapes, uniform over the pool, without repeats where it allows. (Not
        per source: equal source shares drew the 13 training shapes of ``pybullet-named`` for a
        third of all objects.)"""
        picks = rng.choice(len(self.entries), count, replace=count > len(self.entries))
        shapes = []
        for i in picks:
            shape_id, path, source, licence = self.entries[int(i)]
            shape = load_shape(path)
            shape.update(id=shape_id, source=source, license=licence)
            shapes.append(shape)
        return shapes


def shape_pool(shapes_dir: str | Path, mix_dir: str | Path | None, split: str) -> ShapePool:
    """The shapes of ``split``: the matching split of ``shapes_dir`` (a ``data build`` folder),
    or for "unfamiliar" the shapes of ``mix_dir/splits/unfamiliar.txt`` (never used in training)."""
    if split == "unfamiliar":
        if mix_dir is None:
            raise ValueError("unfamiliar rooms need --mix (a data folder with splits/unfamiliar.txt)")
        root = Path(mix_dir)
        wanted = set(Path(root, "splits", "unfamiliar.txt").read_text().split())
    else:
        root = Path(shapes_dir)
        wanted = None
    entries = tuple((s["id"], root / "shapes" / f"{s['id']}.npz", s.get("source", ""), s.get("license", ""))
                    for s in read_manifest(root)["shapes"]
                    if (s["id"] in wanted if wanted is not None else s["split"] == split))
    if not entries:
        raise ValueError(f"no shapes for the {split} split in {root}")
    return ShapePool(entries)


def room_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of every draw of one room: fixed by seed, split and index."""
    return np.random.default_rng([seed, zlib.crc32(split.encode("utf-8")), index])


def complete(path: Path) -> bool:
    """Whether a room file exists with every array ``build_room`` writes (a room built before the
    dense evaluation surface existed is built again, identical but for the new arrays)."""
    if not path.is_file():
        return False
    with np.load(path) as data:
        return "eval_points" in data.files


def build_rooms(out_dir: str | Path, count: int, split: str, seed: int, shapes_dir: str | Path,
                mix_dir: str | Path | None = None, config: RoomConfig = RoomConfig(), start: int = 0) -> list[dict]:
    """Write rooms ``start`` .. ``start + count - 1`` of ``split`` under ``out_dir/split`` (complete
    rooms already there are kept) and merge them into ``out_dir/manifest.json``; returns their entries."""
    if split not in ROOM_SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(ROOM_SPLITS)}")
    out = Path(out_dir)
    (out / split).mkdir(parents=True, exist_ok=True)
    pool = shape_pool(shapes_dir, mix_dir, split)
    entries = []
    for index in range(start, start + count):
        room_id = f"{split}/room-{index:04d}"
        path = out / f"{room_id}.npz"
        t0 = time.perf_counter()
        rng = room_rng(seed, split, index)
        shapes = pool.draw(int(rng.integers(config.objects[0], config.objects[1] + 1)), rng)
        if not complete(path):
            arrays = build_room(shapes, rng, config)
            write_room(path, arrays)
        else:
            arrays = load_room(path)
        objects = json.loads(str(arrays["objects"]))
        entry = {"id": room_id, "split": split, "seed": seed, "size_m": [round(float(v), 3) for v in arrays["size"]],
                 "objects": [{k: o[k] for k in ("id", "source", "license")} for o in objects],
                 "points": {k: int(len(arrays[k])) for k in ("surface_points", "scan_points", "uniform_points",
                                                             "near_points")},
                 "seconds": round(time.perf_counter() - t0, 2)}
        entries.append(entry)
        log.info("%s: %.1f x %.1f x %.1f m, %d objects, %d surface / %d scan points, %.1f s", room_id,
                 *entry["size_m"], len(objects), entry["points"]["surface_points"], entry["points"]["scan_points"],
                 entry["seconds"])
        _merge_manifest(out, [entry])
    return entries


def _merge_manifest(out: Path, entries: list[dict]) -> None:
    path = out / "manifest.json"
    rooms = {r["id"]: r for r in (json.loads(path.read_text())["rooms"] if path.is_file() else [])}
    rooms.update({e["id"]: e for e in entries})
    tmp = path.with_name("manifest.json.part")
    tmp.write_text(json.dumps({"version": 1, "kind": "rooms", "rooms": sorted(rooms.values(), key=lambda r: r["id"])},
                              indent=1))
    os.replace(tmp, path)


def read_rooms(root: str | Path, split: str) -> list[str]:
    """Ids ("split/room-XXXX") of the rooms of ``split`` in a rooms folder."""
    manifest = read_manifest(root)
    if manifest.get("kind") != "rooms":
        raise ValueError(f"{root}: not a rooms folder (made by 'implicit-studio data rooms')")
    return [r["id"] for r in manifest["rooms"] if r["split"] == split]


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``implicit-studio data rooms``."""
    parser.add_argument("--out", required=True, help="rooms folder (created; rooms already there are kept)")
    parser.add_argument("--count", type=int, required=True, help="rooms to build")
    parser.add_argument("--split", required=True, choices=ROOM_SPLITS)
    parser.add_argument("--seed", type=int, default=0, help="seed of every draw (with the split and room index)")
    parser.add_argument("--start", type=int, default=0, help="index of the first room (default 0)")
    parser.add_argument("--shapes", default="data/dataset", help="the 'data build' folder furnishing "
                        "train/val/test rooms (default data/dataset)")
    parser.add_argument("--mix", default=None, help="the data folder whose splits/unfamiliar.txt furnishes "
                        "unfamiliar rooms")


def run(args: argparse.Namespace) -> int:
    """Run ``data rooms``; InputError (one line) for bad input."""
    from ...errors import InputError

    if args.count < 1:
        raise InputError(f"--count {args.count}: build at least one room")
    if args.start < 0:
        raise InputError(f"--start {args.start}: give an index >= 0")
    source = args.mix if args.split == "unfamiliar" else args.shapes
    if source is None or not Path(source, "manifest.json").is_file():
        flag = "--mix" if args.split == "unfamiliar" else "--shapes"
        raise InputError(f"{flag} {source}: no manifest.json; give a folder made by 'implicit-studio data build'")
    try:
        entries = build_rooms(args.out, args.count, args.split, args.seed, args.shapes, args.mix, start=args.start)
    except (ValueError, OSError) as exc:
        raise InputError(f"data rooms: {exc}") from None
    seconds = [e["seconds"] for e in entries]
    print(json.dumps({"rooms": len(entries), "split": args.split, "seconds_per_room": round(float(np.mean(seconds)), 2),
                      "out": str(args.out)}))
    return 0
