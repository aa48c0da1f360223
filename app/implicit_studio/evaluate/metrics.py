"""Mesh metrics with the definitions of the ONet / ConvONet papers (Mescheder et al. 2019, Peng et al. 2020).

All metrics are computed in one *evaluation frame*, fixed by the ground truth and
applied identically to the prediction (see :func:`evaluation_frame`):

- IoU: occupancy of both meshes (winding-number inside test) at ``n_points`` points
  uniform in the padded cube [-0.55, 0.55]^3.
- Chamfer-L1: 0.5 * (mean nearest-neighbour distance pred->gt + mean gt->pred), with
  ``n_points`` points sampled uniformly by area on each surface. ``chamfer_l1`` is the
  raw value; ``chamfer_l1_x10`` is the papers' "Chamfer-L1 dagger" (raw x 10).
- Normal consistency: 0.5 * (mean |n . n_nn| in both directions), using the face
  normal of the face each sample came from.
- F-score at 0.01 and 0.02 ("1 %" and "2 %" of the unit frame's side): harmonic mean
  of precision (pred samples within the distance of a gt sample) and recall (gt
  samples within the distance of a pred sample).

An empty or broken prediction is a counted failure, never an exception: IoU 0,
F-score 0, Chamfer and normal consistency ``None``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from ..errors import InputError
from ..io.normalize import BOX_HALF, Normalization
from .inside import points_inside

log = logging.getLogger(__name__)

"""Half side of the padded cube the IoU points are drawn from."""

FSCORE_THRESHOLDS = {"1pct": 0.01, "2pct": 0.02}
"""F-score distances in the evaluation frame, keyed by the suffix of the result keys."""


def evaluation_frame(gt_vertices: np.ndarray, normalize: bool = True) -> Normalization:
    """The frame both meshes are evaluated in, fixed by the ground truth alone.

    With ``normalize`` the ground truth is centred at its bounding-box centre and, if
    its longest side exceeds 1, scaled down so that side is 1. A ground truth that
    already fits in the unit cube keeps its size: data sets prepared the ONet way are
    already in the unit frame, and the papers' evaluators measure them as they are,
    without rescaling (the reference sphere pair of the tests, whose ground truth is 0.8 wide,
    reproduces its published values only this way; scaling it up to 1 would multiply
    every distance by 1.25). Large inputs (millimetres, centimetres) are brought into
    the unit frame so the fixed distances 0.01 / 0.02 and the IoU cube make sense.
    Without ``normalize`` the coordinates are used as given.

    Parameters
    ----------
    gt_vertices : (V, 3) float, the vertices the ground-truth faces use
    normalize : bool

    Returns
    -------
    Normalization, mapping input coordinates to the evaluation frame
    """
    if not normalize:
        return Normalization.identity()
    fitted = Normalization.fit(gt_vertices)
    return Normalization(fitted.center, max(fitted.scale, 1.0))


def mesh_problem(mesh: trimesh.Trimesh | None) -> str | None:
    """Why ``mesh`` cannot be evaluated, or None when it can.

    Parameters
    ----------
    mesh : trimesh.Trimesh or None (anything with ``vertices`` and ``faces``)

    Returns
    -------
    str or None, e.g. "empty mesh", "non-finite vertices", "zero surface area"
    """
    faces = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))))
    if mesh is None or faces.size == 0:
        return "empty mesh"
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= len(vertices):
        return "invalid face indices"
    triangles = vertices[faces]
    if not np.isfinite(triangles).all():
        return "non-finite vertices"
    if not face_areas(triangles).sum() > 0.0:
        return "zero surface area"
    return None


def face_areas(triangles: np.ndarray) -> np.ndarray:
    """Areas of triangles.

    Parameters
    ----------
    triangles : (M, 3, 3) float, corner coordinates of each triangle

    Returns
    -------
    (M,) float64
    """
    return 0.5 * np.linalg.norm(_face_cross(triangles), axis=1)


def _face_cross(triangles: np.ndarray) -> np.ndarray:
    """(M, 3, 3) triangles -> (M, 3) cross products of two edges (length = 2 * area)."""
    return np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])


def sample_surface(triangles: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points uniform by area on a triangle soup, with the normal of their face.

    Parameters
    ----------
    triangles : (M, 3, 3) float, with a positive total area
    n : int, number of samples
    rng : numpy.random.Generator

    Returns
    -------
    points : (n, 3) float64
    normals : (n, 3) float64, unit face normals (zero-area faces are never drawn)
    """
    cross = _face_cross(triangles)
    cumulative = np.cumsum(np.linalg.norm(cross, axis=1))
    draws = rng.random(n) * cumulative[-1]
    face = np.minimum(np.searchsorted(cumulative, draws, side="right"), len(triangles) - 1)
    u, v = rng.random((2, n))
    flip = u + v > 1.0
    u[flip], v[flip] = 1.0 - u[flip], 1.0 - v[flip]
    corner = triangles[face]
    origin = corner[:, 0]
    points = origin + u[:, None] * (corner[:, 1] - origin) + v[:, None] * (corner[:, 2] - origin)
    normals = cross[face] / np.linalg.norm(cross[face], axis=1, keepdims=True)
    return points, normals


def iou_points(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3) float64 points uniform in the padded cube [-0.55, 0.55]^3."""
    return rng.uniform(-BOX_HALF, BOX_HALF, size=(n, 3))


def occupancy_iou(occ_pred: np.ndarray, occ_gt: np.ndarray) -> float | None:
    """Intersection over union of two (N,) bool occupancies; None when both are empty."""
    union = np.count_nonzero(occ_pred | occ_gt)
    if union == 0:
        log.warning("IoU undefined: no sample point is inside either mesh")
        return None
    return float(np.count_nonzero(occ_pred & occ_gt) / union)


def fscore(precision: float, recall: float) -> float:
    """Harmonic mean of precision and recall; 0 when both are 0."""
    total = precision + recall
    return 2.0 * precision * recall / total if total > 0 else 0.0


def surface_metrics(
    pred_points: np.ndarray, pred_normals: np.ndarray, gt_points: np.ndarray, gt_normals: np.ndarray
) -> dict:
    """Chamfer-L1, normal consistency, precision, recall and F-score of two samplings.

    Parameters
    ----------
    pred_points, pred_normals : (P, 3) float, samples on the prediction and their unit normals
    gt_points, gt_normals : (G, 3) float, samples on the ground truth and their unit normals

    Returns
    -------
    dict with ``chamfer_l1``, ``chamfer_l1_x10``, ``normal_consistency`` and, per
    threshold suffix, ``precision_*``, ``recall_*``, ``fscore_*``
    """
    dist_pred, nn_pred = cKDTree(gt_points).query(pred_points, workers=1)
    dist_gt, nn_gt = cKDTree(pred_points).query(gt_points, workers=1)
    chamfer = 0.5 * (dist_pred.mean() + dist_gt.mean())
    cos_pred = np.abs(np.einsum("ij,ij->i", pred_normals, gt_normals[nn_pred]))
    cos_gt = np.abs(np.einsum("ij,ij->i", gt_normals, pred_normals[nn_gt]))
    result = {
        "chamfer_l1": float(chamfer),
        "chamfer_l1_x10": float(10.0 * chamfer),
        "normal_consistency": float(0.5 * (cos_pred.mean() + cos_gt.mean())),
    }
    for suffix, threshold in FSCORE_THRESHOLDS.items():
        precision = float(np.mean(dist_pred <= threshold))
        recall = float(np.mean(dist_gt <= threshold))
        result[f"precision_{suffix}"] = precision
        result[f"recall_{suffix}"] = recall
        result[f"fscore_{suffix}"] = fscore(precision, recall)
    return result


def failed_result(reason: str, n_points: int, scale: float) -> dict:
    """The counted result of a prediction that cannot be evaluated (IoU 0, F 0, CD missing)."""
    result = {"iou": 0.0, "chamfer_l1": None, "chamfer_l1_x10": None, "normal_consistency": None}
    for suffix in FSCORE_THRESHOLDS:
        result.update({f"precision_{suffix}": 0.0, f"recall_{suffix}": 0.0, f"fscore_{suffix}": 0.0})
    result.update(n_points=n_points, frame_scale=scale, empty_prediction=True, failure=reason)
    return result


def evaluate_meshes(
    pred: trimesh.Trimesh | None,
    gt: trimesh.Trimesh,
    n_points: int = 100_000,
    seed: int = 0,
    normalize: bool = True,
) -> dict:
    """All metrics of a predicted mesh against the ground truth.

    Both meshes are mapped by the same transform, fixed by the ground truth (see
    :func:`evaluation_frame`): centred at the ground truth's bounding-box centre and
    scaled down only if its longest side exceeds 1. A ground truth already in the
    unit frame (for example the tests' reference spheres) is evaluated as it is.
    The inputs are not modified.

    Parameters
    ----------
    pred : trimesh.Trimesh or None, the reconstruction; None, no faces, bad indices,
        non-finite vertices or zero area make a counted failure
    gt : trimesh.Trimesh, the ground truth; should be closed for a meaningful IoU
    n_points : int, IoU points and surface samples per mesh
    seed : int, the same seed gives the same numbers
    normalize : bool, use the evaluation frame above; False uses raw coordinates

    Returns
    -------
    dict with ``iou`` (float, or None if neither mesh holds any IoU point),
    ``chamfer_l1`` and ``chamfer_l1_x10`` (float or None), ``normal_consistency``
    (float or None), ``fscore_1pct``, ``fscore_2pct``, ``precision_1pct``,
    ``recall_1pct``, ``precision_2pct``, ``recall_2pct`` (floats), ``n_points``,
    ``frame_scale`` (the ground truth's units per evaluation unit, 1.0 = as given),
    ``empty_prediction`` (bool) and ``failure`` (str or None)

    Raises
    ------
    InputError
        The ground truth itself cannot be evaluated, or ``n_points`` < 1.
    """
    if n_points < 1:
        raise InputError(f"the number of points must be positive, not {n_points}")
    gt_problem = mesh_problem(gt)
    if gt_problem is not None:
        raise InputError(f"ground-truth mesh cannot be evaluated: {gt_problem}")
    started = time.perf_counter()
    gt_vertices = np.asarray(gt.vertices, dtype=np.float64)
    gt_faces = np.asarray(gt.faces, dtype=np.int64)
    frame = evaluation_frame(gt_vertices[np.unique(gt_faces)], normalize)
    problem = mesh_problem(pred)
    if problem is not None:
        log.warning("prediction counted as a failure: %s", problem)
        return failed_result(problem, n_points, frame.scale)

    pred_vertices = frame.to_unit(pred.vertices).astype(np.float64)
    pred_faces = np.asarray(pred.faces, dtype=np.int64)
    gt_vertices = frame.to_unit(gt_vertices).astype(np.float64)
    rng_iou, rng_pred, rng_gt = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))

    points = iou_points(n_points, rng_iou)
    occ_pred = points_inside(pred_vertices, pred_faces, points)
    result = {"iou": occupancy_iou(occ_pred, points_inside(gt_vertices, gt_faces, points))}
    result.update(
        surface_metrics(
            *sample_surface(pred_vertices[pred_faces], n_points, rng_pred),
            *sample_surface(gt_vertices[gt_faces], n_points, rng_gt),
        )
    )
    result.update(n_points=n_points, frame_scale=frame.scale, empty_prediction=False, failure=None)
    seconds = time.perf_counter() - started
    log.debug("evaluated %d + %d faces in %.2f s", len(pred_faces), len(gt_faces), seconds)
    return result


def load_mesh(path: str | Path, allow_empty: bool = False) -> trimesh.Trimesh:
    """Read a mesh file with the hardened reader of :mod:`implicit_studio.io.files`.

    Parameters
    ----------
    path : str or Path
    allow_empty : bool
        Return a mesh without faces instead of raising (a prediction that came out empty,
        also a zero-byte file).

    Returns
    -------
    trimesh.Trimesh

    Raises
    ------
    InputError
        The file is missing, unreadable, too large or of an unknown format (one-line message).
    """
    from ..io.files import read_mesh

    p = Path(path)
    if allow_empty and p.is_file() and p.stat().st_size == 0:
        return trimesh.Trimesh()
    return read_mesh(p, allow_empty=allow_empty)


def evaluate_files(
    pred_path: str | Path, gt_path: str | Path, n_points: int = 100_000, seed: int = 0
) -> dict:
    """:func:`evaluate_meshes` on two mesh files, with the default evaluation frame.

    A prediction file that reads as an empty mesh is a counted failure (see
    :func:`evaluate_meshes`); an unreadable file or an unusable ground truth is an
    ``InputError`` naming the file.

    Parameters
    ----------
    pred_path, gt_path : str or Path
    n_points : int
    seed : int

    Returns
    -------
    dict, as :func:`evaluate_meshes`
    """
    gt = load_mesh(gt_path)
    gt_problem = mesh_problem(gt)
    if gt_problem is not None:
        raise InputError(f"ground-truth mesh {gt_path} cannot be evaluated: {gt_problem}")
    return evaluate_meshes(load_mesh(pred_path, allow_empty=True), gt, n_points=n_points, seed=seed)


def _number(value: float | None, digits: int) -> str:
    """``value`` with ``digits`` decimals, or "n/a" when missing."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_metrics(metrics: dict) -> str:
    """A short human-readable table of an :func:`evaluate_meshes` result.

    Parameters
    ----------
    metrics : dict, as returned by :func:`evaluate_meshes`

    Returns
    -------
    str, several lines without a trailing newline
    """
    rows = [
        ("IoU", _number(metrics["iou"], 4)),
        ("Chamfer-L1 (raw)", _number(metrics["chamfer_l1"], 5)),
        ("Chamfer-L1 (x10, papers)", _number(metrics["chamfer_l1_x10"], 4)),
        ("Normal consistency", _number(metrics["normal_consistency"], 4)),
    ]
    for suffix, threshold in FSCORE_THRESHOLDS.items():
        detail = (
            f"{metrics[f'fscore_{suffix}']:.4f}  (precision {metrics[f'precision_{suffix}']:.4f},"
            f" recall {metrics[f'recall_{suffix}']:.4f})"
        )
        rows.append((f"F-score @{threshold:g} ({suffix.replace('pct', '%')})", detail))
    rows.append(("Points", f"{metrics['n_points']:,} per measure"))
    if metrics.get("frame_scale", 1.0) != 1.0:
        rows.append(("Frame", f"ground truth scaled down by {metrics['frame_scale']:g}"))
    if metrics["failure"]:
        rows.append(("FAILED", f"{metrics['failure']} (counted: IoU 0, F 0, Chamfer missing)"))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def evaluate_against_samples(
    pred: trimesh.Trimesh | None,
    uniform_points: np.ndarray,
    uniform_occ: np.ndarray,
    surface_points: np.ndarray,
    surface_normals: np.ndarray,
    seed: int = 0,
) -> dict:
    """Metrics of a prediction against a data set shape stored as samples (no GT mesh).

    As in the ONet evaluation: IoU at the stored uniform points (N, 3) with their true
    occupancy (N,) bool, the prediction's inside test by winding number; Chamfer-L1, normal
    consistency and F-scores against the stored surface samples (M, 3) and normals (M, 3),
    with as many samples drawn on the prediction. Everything is in the unit frame.
    """
    n = len(surface_points)
    problem = mesh_problem(pred)
    if problem is not None:
        return failed_result(problem, n, 1.0)
    vertices = np.asarray(pred.vertices, dtype=np.float64)
    faces = np.asarray(pred.faces, dtype=np.int64)
    occ_pred = points_inside(vertices, faces, np.asarray(uniform_points, dtype=np.float64))
    result = {"iou": occupancy_iou(occ_pred, np.asarray(uniform_occ, dtype=bool))}
    gt_normals = np.asarray(surface_normals, dtype=np.float64)
    gt_normals = gt_normals / np.maximum(np.linalg.norm(gt_normals, axis=1, keepdims=True), 1e-12)
    result.update(surface_metrics(*sample_surface(vertices[faces], n, np.random.default_rng(seed)),
                                  np.asarray(surface_points, dtype=np.float64), gt_normals))
    result.update(n_points=n, frame_scale=1.0, empty_prediction=False, failure=None)
    return result
