"""Training inputs like real scans, and random poses: what ``ShapeDataset`` draws with ``InputKinds``.

- **Partial clouds**: only the surface seen from 1-3 random viewpoints (``visible``: a
  z-buffer of the surface samples, each point splatted over 3x3 pixels so that a
  surface hides what lies behind it even between its samples).
- **Uneven density**: points kept with weights that grow exponentially along a random
  direction (up to ``DENSITY_RANGE`` times denser at one end).
- **Point counts** drawn log-uniformly; the model's encoder gets ``n_input_points`` of
  them, a random subset as the reconstruction session takes, or with repeats when the
  scan has fewer (a batch needs one size; the session itself would pass them all).
- **Noise** of a random standard deviation and a few **outliers** uniform in the box.
- **Pose**: a random rotation (about y, or any) and anisotropic scaling, applied to the
  inputs and the query points together, then the input cloud normalised to the unit box
  as the application does with a user's cloud (``Pose``). Query points are kept uniform
  in the new box (``posed_uniform_queries``); points that come from outside the shape's
  original box are outside, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import minimum_filter

from ...io.normalize import BOX_HALF

DENSITY_RANGE = 20.0        # densest / sparsest end of an uneven cloud
VIEW_DISTANCE = (1.5, 3.0)  # viewpoint distance from the centre (unit frame)
ZBUFFER_POINTS_PER_PIXEL = 6.0
SCAN_CANDIDATES = 20_000    # surface samples a scan-like cloud is drawn from
QUERY_POOL = 4              # posed uniform queries are drawn from this many times as many samples


@dataclass(frozen=True)
class InputKinds:
    """Which scan-like inputs and poses training draws (all off by default: plain noisy samples).

    partial : fraction of draws that see the surface from 1-3 random viewpoints only
    counts : (low, high) points in the cloud before the encoder's subset, log-uniform; None: n_input_points
    uneven : fraction of draws with uneven density
    noise : (low, high) noise standard deviation, uniform; None: the dataset's fixed noise
    outliers : largest fraction of outliers (uniform in the box); each draw takes 0 to this
    rotate : "none", "yaw" (about the y axis) or "any" (uniform over all rotations)
    rotated : fraction of draws that are rotated (the others stay upright)
    scale : anisotropic scaling, per-axis factors uniform in [1 - scale, 1 + scale]
    """

    partial: float = 0.0
    counts: tuple[int, int] | None = None
    uneven: float = 0.0
    noise: tuple[float, float] | None = None
    outliers: float = 0.0
    rotate: str = "none"
    rotated: float = 1.0
    scale: float = 0.0

    def __post_init__(self):
        if self.rotate not in ("none", "yaw", "any"):
            raise ValueError(f"rotate must be none, yaw or any, not {self.rotate!r}")

    @property
    def posed(self) -> bool:
        """Whether inputs and queries move to a new frame (a pose, or a partial cloud's own box)."""
        return self.partial > 0 or self.rotate != "none" or self.scale > 0

    @property
    def plain(self) -> bool:
        return self == InputKinds()


# --------------------------------------------------------------------------- visibility


def look_at(eye: np.ndarray) -> np.ndarray:
    """Rows of a camera frame (3, 3) at ``eye`` (3,) looking at the origin: right, up, forward."""
    forward = -eye / np.linalg.norm(eye)
    helper = np.array([0.0, 1.0, 0.0]) if abs(forward[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    right = np.cross(helper, forward)
    right /= np.linalg.norm(right)
    return np.stack([right, np.cross(forward, right), forward])


def visible(points: np.ndarray, normals: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """Which surface samples ``points`` (N, 3), with unit ``normals`` (N, 3) of either
    orientation, a pinhole camera at ``eye`` (3,) sees: (N,) bool.

    A z-buffer at a resolution that puts about ZBUFFER_POINTS_PER_PIXEL samples in a pixel
    of a surface facing the camera; each sample writes its depth into 3x3 pixels (so a
    surface hides what lies behind it even between its samples), and a sample is visible
    when it lies within a pixel's depth of the nearest surface there, plus the depth its
    own surface spans across 1.5 pixels at its slope (surfaces seen at a grazing angle).
    """
    rel = (points - eye) @ look_at(eye).T
    depth = rel[:, 2]
    uv = rel[:, :2] / np.maximum(depth, 1e-9)[:, None]
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    span = float((hi - lo).max()) + 1e-12
    pixels = max(8, int(np.sqrt(len(points) / ZBUFFER_POINTS_PER_PIXEL)))
    ij = np.minimum(((uv - lo) / span * pixels).astype(np.int64), pixels - 1)
    pixel_depth = span / pixels * float(np.median(depth))       # a pixel's width at the object
    tolerance = pixel_depth * (1.0 + 1.5 * grazing_slope(points, normals, eye))
    return depth_test(ij, depth, (pixels, pixels), tolerance)


def grazing_slope(points: np.ndarray, normals: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """(N,) depth change per unit of sideways distance of each sample's surface (points,
    normals (N, 3), normals of either orientation) seen from ``eye`` (3,): tan of the angle
    between the ray and the normal, capped at 20."""
    rays = (points - eye) / np.linalg.norm(points - eye, axis=1, keepdims=True)
    cos = np.abs(np.sum(normals * rays, axis=1))
    return np.sqrt(np.maximum(1.0 - cos * cos, 0.0)) / np.maximum(cos, 0.05)


def depth_test(ij: np.ndarray, depth: np.ndarray, shape: tuple[int, int], tolerance: np.ndarray,
               splat: np.ndarray | None = None) -> np.ndarray:
    """The z-buffer test shared by the pinhole (``visible``) and panoramic (``rooms``) scans.

    ij : (N, 2) int pixel of each sample in an image of ``shape``; depth : (N,) its distance
    tolerance : (N,) how far behind the nearest surface a sample still counts as seen
    splat : (N, 2) int half-sizes (rows, columns) of the rectangle each sample writes its depth
        into; None: 3x3 pixels for all. Returns (N,) bool, visible.
    """
    if splat is None:
        splat = np.ones((len(depth), 2), dtype=np.int64)
    zbuf = np.full(shape, np.inf)
    kinds, group = np.unique(splat, axis=0, return_inverse=True)
    for k, half in enumerate(kinds):
        mine = group.ravel() == k
        nearest = np.full(shape, np.inf)
        np.minimum.at(nearest, (ij[mine, 0], ij[mine, 1]), depth[mine])
        size = (2 * int(half[0]) + 1, 2 * int(half[1]) + 1)
        np.minimum(zbuf, minimum_filter(nearest, size=size, mode="constant", cval=np.inf), out=zbuf)
    return depth <= zbuf[ij[:, 0], ij[:, 1]] + tolerance


def random_viewpoints(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` viewpoints (count, 3) in random directions at distances in VIEW_DISTANCE."""
    directions = rng.normal(size=(count, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return directions * rng.uniform(*VIEW_DISTANCE, (count, 1))


def partial_mask(points: np.ndarray, normals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Samples (N,) bool seen from 1-3 random viewpoints (points, normals (N, 3))."""
    seen = np.zeros(len(points), dtype=bool)
    for eye in random_viewpoints(rng, int(rng.integers(1, 4))):
        seen |= visible(points, normals, eye)
    return seen


def weighted_subset(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` indices drawn without replacement with probabilities proportional to ``weights`` (N,)
    (Gumbel top-k); all of them, shuffled, when k >= N."""
    keys = np.log(np.maximum(weights, 1e-300)) + rng.gumbel(size=len(weights))
    k = min(k, len(weights))
    return np.argpartition(-keys, k - 1)[:k] if k < len(weights) else rng.permutation(len(weights))


def scan_cloud(surface: np.ndarray, normals: np.ndarray, kinds: InputKinds, n_default: int,
               rng: np.random.Generator) -> np.ndarray:
    """A clean scan-like cloud (M, 3) from surface samples (N, 3) with normals (N, 3):
    partial, uneven, M points (at most SCAN_CANDIDATES, fewer when partial)."""
    keep = _subset(len(surface), SCAN_CANDIDATES, rng)
    candidates = surface[keep].astype(np.float64)
    if kinds.partial > 0 and rng.random() < kinds.partial:
        seen = candidates[partial_mask(candidates, normals[keep].astype(np.float64), rng)]
        candidates = seen if len(seen) >= 10 else candidates
    count = n_default if kinds.counts is None else int(np.exp(rng.uniform(*np.log(kinds.counts))))
    weights = np.ones(len(candidates))
    if kinds.uneven > 0 and rng.random() < kinds.uneven:
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        weights = np.exp(np.log(DENSITY_RANGE) * (candidates @ direction))
    return candidates[weighted_subset(weights, count, rng)]


def _subset(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``min(n, k)`` distinct items of ``n`` (faster than a full permutation)."""
    if k >= n:
        return np.arange(n)
    picked = np.unique(rng.integers(0, n, int(k * 1.3) + 16))
    while len(picked) < k:
        picked = np.unique(np.concatenate([picked, rng.integers(0, n, k)]))
    return np.sort(rng.choice(picked, k, replace=False))


def encoder_subset(cloud: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points of ``cloud`` (M, 3): a random subset, or with repeats when M < n."""
    return cloud[rng.choice(len(cloud), n, replace=len(cloud) < n)]


def noise_and_outliers(cloud: np.ndarray, kinds: InputKinds, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``cloud`` (n, 3) with Gaussian noise (``kinds.noise`` range or ``noise``) and a few of its
    points replaced by outliers uniform in the box."""
    sigma = noise if kinds.noise is None else rng.uniform(*kinds.noise)
    out = cloud + rng.normal(0.0, sigma, cloud.shape)
    if kinds.outliers > 0:
        k = int(round(rng.uniform(0.0, kinds.outliers) * len(out)))
        out[rng.choice(len(out), k, replace=False)] = rng.uniform(-BOX_HALF, BOX_HALF, (k, 3))
    return out.astype(np.float32)


# --------------------------------------------------------------------------- pose


@dataclass(frozen=True)
class Pose:
    """An affine map of the unit frame, ``p -> p @ matrix.T + offset``."""

    matrix: np.ndarray
    offset: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        return points @ self.matrix.T + self.offset

    def invert(self, points: np.ndarray) -> np.ndarray:
        return np.linalg.solve(self.matrix, (points - self.offset).T).T


def random_rotation(rng: np.random.Generator, kind: str) -> np.ndarray:
    """(3, 3): identity ("none"), a uniform yaw about y ("yaw") or a uniform rotation ("any")."""
    if kind == "none":
        return np.eye(3)
    if kind == "yaw":
        a = rng.uniform(0.0, 2.0 * np.pi)
        return np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def random_pose(cloud: np.ndarray, kinds: InputKinds, rng: np.random.Generator) -> Pose:
    """A random rotation and scaling (``kinds``), followed by the normalisation that puts the
    moved ``cloud`` (M, 3) in the unit frame (bounding-box centre at 0, longest side 1)."""
    turn = random_rotation(rng, kinds.rotate) if rng.random() < kinds.rotated else np.eye(3)
    linear = np.diag(rng.uniform(1.0 - kinds.scale, 1.0 + kinds.scale, 3)) @ turn
    moved = cloud @ linear.T
    lo, hi = moved.min(axis=0), moved.max(axis=0)
    size = float((hi - lo).max()) or 1.0
    return Pose(linear / size, -(lo + hi) / 2.0 / size)


def posed_uniform_queries(points: np.ndarray, occ: np.ndarray, count: int, pose: Pose,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` labelled points uniform in the box of the posed frame, from the shape's
    uniform samples ``points`` (N, 3) with labels ``occ`` (N,) in its own frame (a random
    ``QUERY_POOL`` times ``count`` of them are moved).

    Candidates are drawn uniform in the box; one whose preimage lies outside the original
    box (which holds the whole shape) is outside; the others are replaced by posed samples
    that fall in the box, drawn at random (uniform there too, since the map is affine).
    """
    candidates = rng.uniform(-BOX_HALF, BOX_HALF, (count, 3))
    known = ~np.all(np.abs(pose.invert(candidates)) <= BOX_HALF, axis=1)
    drawn = _subset(len(points), QUERY_POOL * count, rng)
    points, occ = points[drawn].astype(np.float64), occ[drawn]
    moved = pose.apply(points)
    pool = np.flatnonzero(np.all(np.abs(moved) <= BOX_HALF, axis=1))
    need = int((~known).sum())
    labels = np.zeros(count, dtype=bool)
    if need and len(pool):
        pick = pool[rng.choice(len(pool), need, replace=need > len(pool))]
        candidates[~known] = moved[pick]
        labels[~known] = occ[pick]
    return candidates, labels
