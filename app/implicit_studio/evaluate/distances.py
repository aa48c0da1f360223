"""How far a reconstructed mesh is from what it should match, vertex by vertex (the window's error colours).

Two references, both in the unit frame:

- "ground truth": the input mesh's surface (only when the input was a mesh), sampled uniformly by
  area with ``GT_SAMPLES`` points as the Chamfer distance of ``metrics`` samples it; the
  distance of a point on that surface to the nearest sample is the sampling floor (about half
  the samples' spacing: a few thousandths of the box for furniture-sized surfaces);
- "input points": the points the model was given (always there for point clouds and meshes).

Nearest neighbours come from a scipy ``cKDTree``, whose queries release the GIL, so a worker
thread computing them leaves the window's UI thread free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ..errors import InputError
from .metrics import sample_surface

GROUND_TRUTH = "ground truth"
INPUT_POINTS = "input points"
GT_SAMPLES = 200_000


@dataclass
class DistanceReference:
    """Points to measure against, with their KD-tree.

    kind : GROUND_TRUTH or INPUT_POINTS
    tree : cKDTree over the (M, 3) reference points
    """

    kind: str
    tree: cKDTree

    def distances(self, vertices: np.ndarray) -> np.ndarray:
        """(V, 3) points -> (V,) float32 distance of each to the nearest reference point."""
        if len(vertices) == 0:
            return np.zeros(0, np.float32)
        dist, _ = self.tree.query(np.asarray(vertices, np.float64), workers=1)
        return dist.astype(np.float32)


def available_references(data) -> list[str]:
    """The references ``data`` (an ``io.inputs.InputData``) offers, best first."""
    kinds = [GROUND_TRUTH] if data.gt_mesh is not None else []
    if data.points is not None and len(data.points):
        kinds.append(INPUT_POINTS)
    return kinds


def distance_reference(data, kind: str, samples: int = GT_SAMPLES, seed: int = 0) -> DistanceReference:
    """The reference ``kind`` of input ``data``; InputError when the input has none of that kind."""
    if kind not in available_references(data):
        what = "a ground truth (open a mesh)" if kind == GROUND_TRUTH else "input points (an image input)"
        raise InputError(f"no distances to {kind}: the input has no {what}")
    if kind == GROUND_TRUTH:
        mesh = data.gt_mesh
        triangles = np.asarray(mesh.vertices, np.float64)[np.asarray(mesh.faces, np.int64)]
        points, _ = sample_surface(triangles, samples, np.random.default_rng(seed))
    else:
        points = np.asarray(data.points, np.float64)
    return DistanceReference(kind, cKDTree(points))


def distance_summary(distances: np.ndarray) -> dict:
    """Mean and 95th percentile of per-vertex distances (V,); None for both when there are none."""
    if len(distances) == 0:
        return {"mean": None, "p95": None, "vertices": 0}
    return {"mean": float(np.mean(distances)), "p95": float(np.percentile(distances, 95)),
            "vertices": int(len(distances))}
