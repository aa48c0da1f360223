"""``implicit-studio benchmark quality``: the ONet-paper-style results table on the data set's test shapes.

Rows: every learned model with a checkpoint, screened Poisson (Open3D, estimated normals, when
installed) and SIREN fitted for ``--siren-seconds``; columns: IoU, Chamfer-L1 (raw and x10),
normal consistency, F@1%, seconds per shape; separately for seen categories (the test split)
and the held-out categories. Inputs are as in the papers: 300 noisy points for ONet, 3000 for
ConvONet, SIREN and Poisson (noise std 0.005), one rendered view for the image model. Failed
reconstructions count (IoU 0, F 0). Splits: the test split, the held-out categories and the
"unfamiliar" shapes (whole sources and procedural families never trained on), as the data set
has them. ``--inputs partial`` gives every method the same partial scans instead (the surface
seen from two random viewpoints, noise 0.005); ``--rotate random`` turns each shape, inputs and
ground truth together, by a random rotation and puts it back in the unit frame, as loading a
turned scan does. ``NAME@photo`` (image models) measures the same
view put over a photographic background of the evaluation bank (never used in training; with
new lighting, scale, blur, noise and JPEG artefacts, ``train.data.photos``), isolated and framed
by the application's own pipeline (GrabCut from the centred box).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
METRIC_KEYS = ("iou", "chamfer_l1", "chamfer_l1_x10", "normal_consistency", "fscore_1pct", "seconds")


def noisy_input(surface: np.ndarray, n: int, noise: float, seed: int) -> np.ndarray:
    """n points drawn from (M, 3) surface samples plus Gaussian noise: (n, 3) float32."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(surface), n, replace=len(surface) < n)
    return (surface[idx] + rng.normal(scale=noise, size=(n, 3))).astype(np.float32)


INPUT_KINDS = ("uniform", "partial")
PARTIAL_VIEWS = 2


def benchmark_input(shape: dict, n: int, seed: int, kind: str = "uniform") -> np.ndarray:
    """The input cloud (n, 3) float32 of one shape: ``noisy_input`` of its surface samples, or for
    "partial" the samples seen from PARTIAL_VIEWS random viewpoints (seeded), with the same noise."""
    if kind == "uniform":
        return noisy_input(shape["surface_points"], n, 0.005, seed)
    from ..train.data import scans

    rng = np.random.default_rng([seed, 1])
    points, normals = shape["surface_points"].astype(np.float64), shape["surface_normals"].astype(np.float64)
    seen = np.zeros(len(points), dtype=bool)
    for eye in scans.random_viewpoints(rng, PARTIAL_VIEWS):
        seen |= scans.visible(points, normals, eye)
    return noisy_input(points[seen], n, 0.005, seed)


def posed_shape(shape: dict, rotation: np.ndarray) -> dict:
    """``shape`` turned by ``rotation`` (3, 3) and put back in the unit frame, as loading a
    user's file does (``Normalization.fit`` of the turned surface samples: bounding-box centre
    at 0, longest side 1). Points (surface, uniform) and normals move together; the
    uniform samples keep their occupancy labels."""
    from ..io.normalize import Normalization

    surface = shape["surface_points"].astype(np.float64) @ rotation.T
    frame = Normalization.fit(surface)
    out = dict(shape)
    out["surface_points"] = frame.to_unit(surface)
    out["uniform_points"] = frame.to_unit(shape["uniform_points"].astype(np.float64) @ rotation.T)
    out["surface_normals"] = (shape["surface_normals"].astype(np.float64) @ rotation.T).astype(np.float32)
    return out


def rotated_shape(shape: dict, seed: int) -> dict:
    """``posed_shape`` of ``shape`` under a random rotation fixed by ``seed``."""
    from ..train.data.scans import random_rotation

    return posed_shape(shape, random_rotation(np.random.default_rng([seed, 2]), "any"))


def reconstruct(model: str, data, seconds: float, checkpoint: str | None = None, threshold: float | None = None,
                refine: float | None = 0.0, pose: str = "as-is", ensemble: int = 1):
    """Final mesh (trimesh, unit frame) of one session run, or None if empty; and seconds taken.
    ``refine``: seconds of test-time refinement (0: the prior alone, None: the model's default);
    ``pose``, ``ensemble``: ``Settings.pose``, ``Settings.ensemble``."""
    import trimesh

    from ..engine.events import LevelMesh
    from ..engine.session import ReconstructionSession, Settings

    t0 = time.perf_counter()
    final = None
    settings = Settings(model=model, seconds=seconds, checkpoint=checkpoint, threshold=threshold, refine=refine,
                        pose=pose, ensemble=ensemble)
    for event in ReconstructionSession(data, settings).run():
        if isinstance(event, LevelMesh) and event.final:
            final = event
    dt = time.perf_counter() - t0
    if final is None or len(final.faces) == 0:
        return None, dt
    return trimesh.Trimesh(final.vertices, final.faces, process=False), dt


def open3d_problem() -> str | None:
    """Why Open3D (the screened Poisson baseline) cannot be used here, or None when it can."""
    try:
        import open3d  # noqa: F401
    except ImportError as exc:
        return f"Open3D cannot be imported ({exc}); 'make bench' installs it and its system library"
    return None


def poisson(points: np.ndarray):
    """Screened Poisson with Open3D on (N, 3) points (normals estimated): trimesh or None, seconds."""
    import open3d as o3d
    import trimesh

    t0 = time.perf_counter()
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points.astype(np.float64)))
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(16))
    pcd.orient_normals_consistent_tangent_plane(16)
    mesh, density = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(pcd, depth=8)
    density = np.asarray(density)
    mesh.remove_vertices_by_mask(density < np.quantile(density, 0.02))
    dt = time.perf_counter() - t0
    out = trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.triangles), process=False)
    return (out if len(out.faces) else None), dt


def spread_ids(root: Path, split: str, n_shapes: int) -> list[str]:
    """At most ``n_shapes`` shape ids of ``split``, spread evenly over its sorted ids so that every
    source is represented."""
    ids = [line.strip() for line in (root / "splits" / f"{split}.txt").read_text().splitlines() if line.strip()]
    return ids[::max(1, len(ids) // n_shapes)][:n_shapes]


VARIANTS = ("+straighten", "+pose", "+ensemble", "+refine", "@photo")   # suffixes of a benchmark row's name, in this order


def row_pose(name: str) -> str:
    """A benchmark row's ``Settings.pose``: "straighten" for NAME+straighten, "auto" for NAME+pose."""
    return "straighten" if "+straighten" in name else "auto" if "+pose" in name else "as-is"


def base_model(name: str) -> str:
    """A benchmark row's model: ``name`` without its ``VARIANTS`` suffixes ("convonet-grid+ensemble+refine")."""
    for suffix in reversed(VARIANTS):
        name = name.removesuffix(suffix)
    return name


def evaluate_split(root: Path, split: str, models: list[str], n_shapes: int, siren_shapes: int,
                   siren_seconds: float, seed: int, checkpoint: str | None = None,
                   threshold: float | None = None, inputs: str = "uniform", rotate: bool = False,
                   ensemble: int = 1) -> dict:
    """Per-model mean metrics over ``n_shapes`` shapes spread evenly over ``split``
    (``checkpoint`` replaces the shipped weights and ``threshold`` their iso-level, for a single
    learned model; ``inputs`` is one of INPUT_KINDS; ``rotate`` turns each shape at random). A
    learned model is its prior alone; ``NAME+refine`` is the same model refined to each input with
    its default budget, ``NAME+pose`` the model in the pose it finds for each input (``engine.pose``),
    ``NAME+straighten`` the model on each input turned to its tightest box's axes (``engine.pose.straighten``),
    ``NAME+ensemble`` its field averaged over ``ensemble`` quarter turns of each input (``engine.ensemble``)."""
    from ..engine.registry import get_spec
    from ..train.data.dataset import load_shape
    from ..io.inputs import InputData
    from .metrics import evaluate_against_samples

    ids = spread_ids(root, split, n_shapes)
    rows: dict[str, list[dict]] = {}
    for k, shape_id in enumerate(ids):
        shape = load_shape(root / "shapes" / f"{shape_id}.npz")
        if rotate:
            shape = rotated_shape(shape, seed + k)
        gt = (shape["uniform_points"], shape["uniform_occ"], shape["surface_points"], shape["surface_normals"])
        for name in models:
            if name in ("siren", "relu-mlp") and k >= siren_shapes:
                continue
            if name == "poisson":
                mesh, dt = poisson(benchmark_input(shape, 3000, seed + k, inputs))
            else:
                model, refined = base_model(name), "+refine" in name
                spec = get_spec(model)
                if spec.input_kind == "image":
                    image = shape["images"][0]
                    if name.endswith("@photo"):
                        from ..train.data.photos import photo_scene

                        image = photo_scene(image, seed + k)
                    data = InputData(shape_id, "image", image=image)
                else:
                    n_in = getattr(spec.config("cpu"), "n_input_points", 3000)
                    data = InputData(shape_id, "points", points=benchmark_input(shape, n_in, seed + k, inputs))
                mesh, dt = reconstruct(model, data, siren_seconds, *((checkpoint, threshold) if spec.learned else (None, None)),
                                       refine=None if refined else 0.0, pose=row_pose(name),
                                       ensemble=ensemble if "+ensemble" in name else 1)
            metrics = evaluate_against_samples(mesh, *gt, seed=seed)
            metrics["seconds"] = dt
            metrics["shape"] = shape_id
            rows.setdefault(name, []).append(metrics)
            log.info("%s %s %s IoU %s F1 %.3f %.1f s", split, shape_id, name, metrics["iou"], metrics["fscore_1pct"], dt)
    return {name: summarize(r) for name, r in rows.items()}


def choose_threshold(root: Path, model: str, checkpoint: str, n_shapes: int, candidates: list[float],
                     seed: int = 0) -> tuple[float, dict]:
    """The occupancy threshold that meshes ``checkpoint`` best on the validation split: the
    candidate maximising the mean of IoU and F@1% over ``n_shapes`` val shapes (the test split is
    never looked at). Returns it and {threshold: summary} for the model card."""
    scores = {t: evaluate_split(root, "val", [model], n_shapes, 0, 60.0, seed, checkpoint, t)[model] for t in candidates}
    best = max(candidates, key=lambda t: (scores[t]["iou"] or 0.0) + (scores[t]["fscore_1pct"] or 0.0))
    return best, scores


def summarize(rows: list[dict]) -> dict:
    """Means over shapes; missing Chamfer/NC (failures) are reported as a count, never dropped silently."""
    out = {"shapes": len(rows), "failures": sum(1 for r in rows if r["failure"])}
    for key in METRIC_KEYS:
        values = [r[key] for r in rows if r[key] is not None]
        out[key] = float(np.mean(values)) if values else None
    return out


def metric_cells(summary: dict) -> list[str]:
    """A ``summarize`` row as text: shapes, IoU, Chamfer-L1, x10, NC, F@1%, seconds, failures."""
    def f(v, d=3):
        return "-" if v is None else f"{v:.{d}f}"
    return [str(summary["shapes"]), f(summary["iou"]), f(summary["chamfer_l1"], 4), f(summary["chamfer_l1_x10"]),
            f(summary["normal_consistency"]), f(summary["fscore_1pct"]), f(summary["seconds"], 2),
            str(summary["failures"])]


TABLE_COLUMNS = ("shapes", "IoU", "CD-L1", "CD x10", "NC", "F@1%", "s/shape", "fail")
TABLE_WIDTHS = (6, 6, 7, 7, 6, 6, 8, 4)


def format_table(results: dict) -> str:
    lines = []
    for split, table in results["splits"].items():
        lines.append(f"\n{split} ({results['machine']})")
        for name, cells in [("model", TABLE_COLUMNS)] + [(n, metric_cells(r)) for n, r in table.items()]:
            lines.append(f"{name:18s} " + " ".join(c.rjust(w) for c, w in zip(cells, TABLE_WIDTHS)))
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="data/dataset", help="data set folder (from 'data build')")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--shapes", type=int, default=50, help="shapes per split")
    parser.add_argument("--siren-shapes", type=int, default=5, help="shapes per split for SIREN (60 s each)")
    parser.add_argument("--siren-seconds", type=float, default=60.0)
    parser.add_argument("--models", default="onet-pointcloud,onet-image,convonet-3plane,convonet-grid,poisson,siren",
                        help="comma-separated; NAME+refine adds a learned model refined to each input, "
                             "NAME+pose one in the pose it finds for each input, NAME+straighten one on each "
                             "input turned to its tightest box's axes, NAME+ensemble one averaged "
                             "over --ensemble turns of each input (in this order: "
                             "NAME+straighten|pose+ensemble+refine), "
                             "IMAGE-MODEL@photo the image model on views over photographic backgrounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ensemble", type=int, default=4, help="quarter turns averaged by NAME+ensemble rows "
                        "(1-24, default 4)")
    parser.add_argument("--splits", default="test,heldout,unfamiliar",
                        help="splits to measure, those the data set has (default test,heldout,unfamiliar)")
    parser.add_argument("--inputs", choices=INPUT_KINDS, default="uniform",
                        help="uniform noisy surface samples, or partial scans seen from two viewpoints")
    parser.add_argument("--rotate", choices=("none", "random"), default="none",
                        help="turn every shape (inputs and ground truth) by a random rotation")
    parser.add_argument("--checkpoint", help="weights to measure instead of the shipped ones (one learned model "
                        "in --models)")
    parser.add_argument("--threshold", type=float, help="with --checkpoint: occupancy threshold (default: its card's)")


def run(args: argparse.Namespace) -> int:
    import os
    import platform

    from ..errors import InputError
    from ..engine.checkpoints import read_card, tuned_threshold
    from ..engine.registry import MODELS, default_checkpoint
    from ..engine.settings import PARAMETERS

    root = Path(args.data)
    if not (root / "manifest.json").is_file():
        raise InputError(f"{root}: no data set there (manifest.json missing); run 'implicit-studio data build'")
    unknown = [m for m in args.models.split(",") if m != "poisson" and base_model(m) not in MODELS]
    if unknown:
        raise InputError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)} or poisson")
    if any(any(v in m for v in ("+straighten", "+pose", "+ensemble", "+refine")) and not (MODELS[base_model(m)].learned
                                                                          and MODELS[base_model(m)].input_kind == "points")
           for m in args.models.split(",")):
        raise InputError("+straighten, +pose, +ensemble and +refine apply to the learned point-cloud models")
    PARAMETERS["ensemble"].check(args.ensemble)
    if any(m.endswith("@photo") and MODELS[base_model(m)].input_kind != "image" for m in args.models.split(",")):
        raise InputError("@photo applies to the image model (onet-image@photo)")
    models = [m for m in args.models.split(",")
              if m == "poisson" or not MODELS[base_model(m)].learned or default_checkpoint(base_model(m))]
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores", "splits": {},
               "inputs": "300 points (ONet) / 3000 points (others), noise std 0.005; image: view 0",
               "input_kind": args.inputs, "rotate": args.rotate, "checkpoint": args.checkpoint, "skipped": {}}
    if any("+ensemble" in m for m in models):
        results["ensemble"] = args.ensemble
    for name in [m for m in args.models.split(",") if m not in models]:
        results["skipped"][name] = "no trained checkpoint"
    if "poisson" in models and (problem := open3d_problem()):
        models.remove("poisson")
        results["skipped"]["poisson"] = problem
    for name, why in results["skipped"].items():
        print(f"benchmark quality: {name} skipped: {why}", file=sys.stderr)
    threshold = None
    if args.checkpoint:
        learned = {base_model(m) for m in models if m != "poisson" and MODELS[base_model(m)].learned}
        if len(learned) != 1:
            raise InputError("--checkpoint needs exactly one learned model in --models")
        threshold = args.threshold or tuned_threshold(read_card(Path(args.checkpoint)))
    if args.inputs == "partial" and any(m != "poisson" and MODELS[base_model(m)].input_kind == "image"
                                        for m in models):
        raise InputError("--inputs partial applies to point inputs: leave the image model out of --models")
    for split in args.splits.split(","):
        if (root / "splits" / f"{split}.txt").is_file() and (root / "splits" / f"{split}.txt").read_text().strip():
            results["splits"][split] = evaluate_split(root, split, models, args.shapes, args.siren_shapes,
                                                      args.siren_seconds, args.seed, args.checkpoint, threshold,
                                                      args.inputs, args.rotate == "random", args.ensemble)
    print(format_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0
