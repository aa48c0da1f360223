"""How much a point-cloud model's reconstruction depends on the input's orientation.

    python scripts/orientation_check.py convonet-3plane,convonet-grid,onet-pointcloud --shapes 16 [--json FILE]
    python scripts/orientation_check.py convonet-grid --checkpoint runs/grid/best.safetensors [--threshold 0.4]
    python scripts/orientation_check.py convonet-3plane --pose auto   (each model finds its pose: engine.pose)
    python scripts/orientation_check.py convonet-3plane --pose straighten   (turned to its tightest box)

Rotates validation shapes (input points and ground truth together) by the identity, 90 degrees
about x (a z-up scan), 45 degrees of yaw about the vertical y axis and a random rotation, and
prints mean IoU and F@1% per model and rotation. A turned shape is put back in the unit frame
(bounding-box centre 0, longest side 1), as loading a turned scan does. The training data are upright and unrotated, so
this measures what a user's scan in another pose costs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from implicit_studio.engine.checkpoints import read_card, tuned_threshold
from implicit_studio.engine.registry import get_spec
from implicit_studio.engine.settings import POSES
from implicit_studio.train.data.dataset import load_shape
from implicit_studio.io.inputs import InputData
from implicit_studio.evaluate.metrics import evaluate_against_samples
from implicit_studio.evaluate.quality import noisy_input, posed_shape, reconstruct, spread_ids


def rotations(k: int) -> dict[str, np.ndarray]:
    """The (3, 3) rotations tried on shape number k."""
    return {"identity": np.eye(3), "x90": Rotation.from_euler("x", 90, degrees=True).as_matrix(),
            "yaw45": Rotation.from_euler("y", 45, degrees=True).as_matrix(),
            "random": Rotation.random(random_state=k).as_matrix()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models")
    parser.add_argument("--data", default="data/dataset")
    parser.add_argument("--shapes", type=int, default=16)
    parser.add_argument("--json")
    parser.add_argument("--checkpoint", help="weights to measure instead of the shipped ones (one model)")
    parser.add_argument("--threshold", type=float, help="with --checkpoint: occupancy threshold (default: its card's)")
    parser.add_argument("--pose", choices=POSES, default="as-is",
                        help="Settings.pose: 'auto' searches each input's pose, 'straighten' turns it to its tightest box")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root, models = Path(args.data), args.models.split(",")
    if args.checkpoint and len(models) != 1:
        parser.error("--checkpoint measures one model")
    threshold = (args.threshold or tuned_threshold(read_card(Path(args.checkpoint)))) if args.checkpoint else None
    ids = spread_ids(root, "val", args.shapes)
    suffix = {"as-is": "", "straighten": "+straighten", "auto": "+pose"}[args.pose]
    row = {m: m + suffix for m in models}    # rows named as benchmark quality's
    scores: dict[str, dict[str, list]] = {row[m]: {} for m in models}
    for k, shape_id in enumerate(ids):
        shape = load_shape(root / "shapes" / f"{shape_id}.npz")
        for name, R in rotations(k).items():
            posed = posed_shape(shape, R)
            for m in models:
                n_in = get_spec(m).config("cpu").n_input_points
                data = InputData(shape_id, "points", points=noisy_input(posed["surface_points"], n_in, 0.005, k))
                mesh, _ = reconstruct(m, data, 1.0, args.checkpoint, threshold, pose=args.pose)
                r = evaluate_against_samples(mesh, posed["uniform_points"], shape["uniform_occ"],
                                             posed["surface_points"], posed["surface_normals"], seed=0)
                scores[row[m]].setdefault(name, []).append((r["iou"] or 0.0, r["fscore_1pct"] or 0.0))
    table = {m: {name: {"iou": float(np.mean([v[0] for v in rows])), "fscore_1pct": float(np.mean([v[1] for v in rows]))}
                 for name, rows in by_rot.items()} for m, by_rot in scores.items()}
    for m, by_rot in table.items():
        print(m, "  ".join(f"{name} IoU {r['iou']:.3f} F@1% {r['fscore_1pct']:.3f}" for name, r in by_rot.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"split": "val", "shapes": len(ids), "checkpoint": args.checkpoint,
                                               "threshold": threshold, "pose": args.pose, "results": table}, indent=2))


if __name__ == "__main__":
    main()
