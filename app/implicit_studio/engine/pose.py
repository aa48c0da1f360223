"""Finding the pose a learned model reconstructs a scan best in (``Settings.pose = "auto"``), and
straightening a scan along its tightest box (``Settings.pose = "straighten"``).

The point models learned from mostly upright shapes; a scan in another pose costs the 3-plane
ConvONet and ONet much of their quality (``scripts/orientation_check.py``). ``find_pose`` tries
the input as it is and in the 24 quarter turns of the axes of its tightest bounding box (trimesh
``oriented_bounds``), which line a turned object's main faces up with the axes again, one of
them upright (an upright scan's own quarter turns are among them up to the box's small tilt).
Each candidate is encoded, meshed coarsely and scored by how far the mesh and the input points
lie from each other (``fit_distance``, in the input's units); the closest fit wins, unless it is
within ``AS_IS_MARGIN`` of the input as it is. A coarse grid ranks every candidate and a finer
one the best few.

``straighten`` needs no model: a scan turned off the axes fills less of the unit box it is fitted
to (a cube turned 45 degrees is 1/sqrt(2) of its box), so the model sees it at a coarser scale than
an upright one. It turns the scan by the quarter turn of its tightest box's axes nearest the scan's
own frame (an upright scan keeps its up axis) when the axis-aligned box is ``STRAIGHTEN_RATIO``
times the tightest box's volume or more, and leaves it as it is otherwise.

A ``Pose`` maps the input's unit frame to the frame the model sees (turned, then fitted to the
unit box again); ``Pose.field`` wraps the model's field so that everything downstream (MISE,
slices, export) keeps working in the input's own frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field as dataclass_field
from typing import Callable

import numpy as np
import torch

from ..io.normalize import BOX, BOX_HALF, Normalization
from .meshing.marching import extract_mesh
from .meshing.mise import dense_grid, is_cancelled

COARSE_RESOLUTION = 16     # every candidate is meshed on this grid
FINE_RESOLUTION = 32       # ... and the best ``FINALISTS`` again on this one
FINALISTS = 4
# another pose must fit this much closer than the input as it is to be taken: two poses of a
# symmetric object differ by the sampling noise of their meshes (~2 %)
AS_IS_MARGIN = 0.03
SCORE_SAMPLES = 2000       # points drawn on a candidate's mesh to score it
# ``straighten`` turns a scan only when its axis-aligned box is this many times the volume of its
# tightest box: chosen on the validation shapes, upright and turned at random (docs/TRAINING.md)
STRAIGHTEN_RATIO = 1.5
OUTSIDE_LOGIT = -20.0      # the field beyond the model's box: empty space


def cube_rotations() -> np.ndarray:
    """(24, 3, 3) float64: the proper rotations taking the axes to (signed) axes, identity first."""
    turns = []
    for perm in ((0, 1, 2), (1, 2, 0), (2, 0, 1), (0, 2, 1), (2, 1, 0), (1, 0, 2)):
        for signs in np.ndindex(2, 2, 2):
            m = np.zeros((3, 3))
            m[np.arange(3), perm] = [1.0 - 2.0 * s for s in signs]
            if np.linalg.det(m) > 0:
                turns.append(m)
    return np.stack(turns)


CUBE = cube_rotations()


@dataclass(frozen=True)
class Pose:
    """The model's frame for one input: ``model = (unit @ rotation.T - center) / scale``.

    rotation : (3, 3) float64 proper rotation; center : (3,) float64; scale : float (> 0)
    """

    rotation: np.ndarray
    center: np.ndarray = dataclass_field(default_factory=lambda: np.zeros(3))
    scale: float = 1.0

    @classmethod
    def identity(cls) -> "Pose":
        return cls(np.eye(3))

    @classmethod
    def fitted(cls, rotation: np.ndarray, points: np.ndarray) -> "Pose":
        """``rotation`` then the unit box fitted to the turned ``points`` (N, 3): bounding-box
        centre at 0, longest side 1, as loading a file does (``io.normalize``)."""
        frame = Normalization.fit(np.asarray(points, dtype=np.float64) @ rotation.T)
        return cls(rotation, frame.center, frame.scale)

    @property
    def is_identity(self) -> bool:
        return bool(np.array_equal(self.rotation, np.eye(3)) and not self.center.any() and self.scale == 1.0)

    @property
    def degrees(self) -> float:
        """How far the model's frame is turned from the input's, in degrees."""
        return float(np.degrees(np.arccos(np.clip((np.trace(self.rotation) - 1.0) / 2.0, -1.0, 1.0))))

    def to_model(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) input unit frame -> (N, 3) float32 model frame."""
        if self.is_identity:
            return np.ascontiguousarray(points, dtype=np.float32)
        return ((np.asarray(points, dtype=np.float64) @ self.rotation.T - self.center) / self.scale).astype(np.float32)

    def turn(self, vectors: np.ndarray) -> np.ndarray:
        """(N, 3) directions (normals) of the input frame -> (N, 3) float32 in the model frame."""
        return (np.asarray(vectors, dtype=np.float64) @ self.rotation.T).astype(np.float32)

    def field(self, model_field: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
        """The model-frame field ``model_field`` (N, 3) -> (N,) as a field of the input's frame;
        points that land outside the model's padded box are empty (``OUTSIDE_LOGIT``)."""
        if self.is_identity:
            return model_field

        def posed(points: np.ndarray) -> np.ndarray:
            mapped = self.to_model(points)
            inside = np.all(np.abs(mapped) <= BOX_HALF, axis=1)
            values = np.full(len(mapped), OUTSIDE_LOGIT, np.float32)
            if inside.any():
                values[inside] = model_field(mapped[inside])
            return values

        return posed


@dataclass(frozen=True)
class Straightening:
    """The outcome of ``straighten``: the pose, the axis-aligned box's volume over the tightest
    box's (``box_ratio``), the time."""

    pose: Pose
    box_ratio: float
    seconds: float

    def summary(self) -> dict:
        return {"method": "straighten", "degrees": self.pose.degrees, "box_ratio": self.box_ratio,
                "seconds": self.seconds, "rotation": self.pose.rotation.tolist()}


@dataclass(frozen=True)
class PoseSearch:
    """The outcome of ``find_pose``: the pose, how well it and the input as it is fit, the time."""

    pose: Pose
    distance: float           # ``fit_distance`` of the chosen pose (input unit frame)
    distance_as_is: float     # the same for the input as it is
    candidates: int
    seconds: float

    def summary(self) -> dict:
        return {"method": "search", "degrees": self.pose.degrees, "fit_distance": self.distance,
                "fit_distance_as_is": self.distance_as_is,
                "candidates": self.candidates, "seconds": self.seconds, "rotation": self.pose.rotation.tolist()}


def box_axes(points: np.ndarray) -> np.ndarray:
    """(3, 3) proper rotation turning the axes of the tightest box around ``points`` (N, 3) onto x, y, z."""
    import trimesh

    try:
        with np.errstate(divide="ignore", invalid="ignore"):      # a flat cloud's hull has no volume
            to_box, _ = trimesh.bounds.oriented_bounds(np.asarray(points, dtype=np.float64))
    except Exception:                          # a degenerate cloud: qhull gives up
        return np.eye(3)
    rotation = np.asarray(to_box[:3, :3], dtype=np.float64)
    if np.linalg.det(rotation) < 0:
        rotation[2] *= -1.0
    return rotation


def candidate_poses(points: np.ndarray) -> list[Pose]:
    """The 25 poses tried for ``points`` (N, 3) in the input's unit frame: the input as it is
    first, then the 24 quarter turns of its tightest box's axes."""
    box = box_axes(points)
    return [Pose.identity()] + [Pose.fitted(turn @ box, points) for turn in CUBE]


def box_volume(points: np.ndarray) -> float:
    """Volume of the axis-aligned bounding box of ``points`` (N, 3)."""
    return float(np.prod(np.ptp(points, axis=0)))


def straighten(points: np.ndarray, ratio: float = STRAIGHTEN_RATIO) -> Straightening:
    """The pose that lines ``points`` (N, 3, input unit frame) up with the axes of its tightest box,
    by the quarter turn of them nearest the input's own frame, fitted to the unit box; the input as
    it is unless its axis-aligned box is ``ratio`` times the tightest box's volume or more (a flat
    cloud off the axes counts as infinitely far from them)."""
    t0 = time.perf_counter()
    points = np.asarray(points, dtype=np.float64)
    nearest = min((turn @ box_axes(points) for turn in CUBE), key=lambda r: -float(np.trace(r)))
    tight, aligned = box_volume(points @ nearest.T), box_volume(points)
    if tight > 0.0:
        box_ratio = aligned / tight
    else:
        box_ratio = float("inf") if aligned > 0.0 else 1.0
    pose = Pose.fitted(nearest, points) if box_ratio >= ratio else Pose.identity()
    return Straightening(pose, box_ratio, time.perf_counter() - t0)


def fit_distance(decode: Callable, code, points: np.ndarray, pose: Pose, iso: float, resolution: int,
                 seed: int = 0) -> float:
    """Mean distance from ``points`` (N, 3) to the coarse mesh of the model in ``pose`` plus the median
    distance from that mesh's samples to the points, in the input's unit frame (inf: no surface).

    The median, not the mean, of the second term: a partial scan's unseen sides are rightly filled
    in far from every point, and that completion should not count against the pose.

    decode : ((M, 3) float32 model-frame points, code) -> (M,) logits
    code : the model's code of ``pose.to_model(points)``
    """
    import trimesh
    from scipy.spatial import cKDTree

    model_points = pose.to_model(points)
    grid = dense_grid(lambda q: decode(q, code), resolution, BOX, 1 << 16)
    vertices, faces = extract_mesh(grid, iso, BOX)
    if len(faces) == 0:
        return float("inf")
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    samples, _ = trimesh.sample.sample_surface(mesh, SCORE_SAMPLES, seed=seed)
    to_mesh = cKDTree(samples).query(model_points)[0]
    to_points = cKDTree(model_points).query(samples)[0]
    return float(pose.scale * (to_mesh.mean() + np.median(to_points)))


def find_pose(model: torch.nn.Module, points: np.ndarray, iso: float, device: torch.device,
              cancel=None) -> PoseSearch | None:
    """The candidate pose (``candidate_poses``) in which ``model``'s coarse mesh fits ``points``
    (N, 3), the encoder's input in the unit frame, most closely; None if cancelled.

    iso : the logit the surface is meshed at; cancel : a ``threading.Event``, a callable or None.
    Every candidate is scored on a ``COARSE_RESOLUTION`` grid, the ``FINALISTS`` best and the input
    as it is again on a ``FINE_RESOLUTION`` one. Each candidate is encoded once: the codes of those
    that may still be finalists are kept for the second round (encoding is most of the search's cost).
    """
    t0 = time.perf_counter()

    @torch.inference_mode()
    def encode(p: np.ndarray):
        return model.encode(torch.from_numpy(p)[None].to(device))

    @torch.inference_mode()
    def decode(q: np.ndarray, code) -> np.ndarray:
        pts = torch.from_numpy(np.ascontiguousarray(q, dtype=np.float32))[None].to(device)
        return model.decode(pts, code)[0].float().cpu().numpy()

    poses = candidate_poses(points)
    coarse: dict[int, float] = {}
    codes: dict = {}
    finalists = [0]
    for index, pose in enumerate(poses):
        if is_cancelled(cancel):
            return None
        codes[index] = encode(pose.to_model(points))
        coarse[index] = fit_distance(decode, codes[index], points, pose, iso, COARSE_RESOLUTION)
        finalists = sorted(set(sorted(coarse, key=lambda i: (coarse[i], i))[:FINALISTS]) | {0})
        codes = {i: codes[i] for i in finalists}
    fine = {}
    for index in finalists:
        if is_cancelled(cancel):
            return None
        fine[index] = fit_distance(decode, codes[index], points, poses[index], iso, FINE_RESOLUTION)
    best = min(finalists, key=lambda i: (fine[i], i))
    if fine[best] > (1.0 - AS_IS_MARGIN) * fine[0]:
        best = 0
    return PoseSearch(poses[best], fine[best], fine[0], len(poses), time.perf_counter() - t0)
