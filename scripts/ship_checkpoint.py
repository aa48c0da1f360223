"""Copy a run's best checkpoint into checkpoints/ with a model card holding test-split metrics.

    python scripts/ship_checkpoint.py runs/convonet-3plane --data data/dataset [--shapes 50]

First picks the occupancy threshold the weights mesh best at on validation shapes (mean of IoU
and F@1%), then measures the test, held-out and unfamiliar splits (those the data set has) at that threshold. Writes
checkpoints/NAME.safetensors, NAME.json (the card: config, steps, wall time, hardware, data and
split sizes, validation IoU, threshold and how it was chosen, test and held-out metrics) and
NAME.md + NAME-curves.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from implicit_studio.engine.registry import checkpoint_dirs
from implicit_studio.evaluate.quality import choose_threshold, evaluate_split
from implicit_studio.engine.checkpoints import read_card
from implicit_studio.train.data.build import SPLITS
from implicit_studio.train.trainer import OCCUPANCY_THRESHOLDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--data", default="data/dataset")
    parser.add_argument("--shapes", type=int, default=50, help="test and held-out shapes measured")
    parser.add_argument("--val-shapes", type=int, default=32, help="validation shapes the threshold is chosen on")
    parser.add_argument("--thresholds", help="candidate occupancy thresholds (default: those of the trainer's "
                        "validation within 0.2 of the one the run's best checkpoint scored at)")
    args = parser.parse_args()
    run, data = Path(args.run), Path(args.data)
    card = read_card(run / "best.safetensors")
    name = card["model"]
    manifest = json.loads((data / "manifest.json").read_text())
    splits = {s: sum(1 for x in manifest["shapes"] if x["split"] == s) for s in SPLITS}
    sources = sorted({x["source"] for x in manifest["shapes"]})
    weights = str(run / "best.safetensors")
    if args.thresholds:
        candidates = [float(t) for t in args.thresholds.split(",")]
    else:
        near = card.get("val_threshold", 0.4)
        candidates = [t for t in OCCUPANCY_THRESHOLDS if abs(t - near) < 0.2 + 1e-9]
    threshold, scores = choose_threshold(data, name, weights, args.val_shapes, candidates)
    print(f"threshold {threshold} (validation: " + ", ".join(
        f"{t}: IoU {r['iou']:.3f} F@1% {r['fscore_1pct']:.3f}" for t, r in scores.items()) + ")")
    metrics = {}
    for split in [s for s in ("test", "heldout", "unfamiliar") if splits[s]]:
        res = evaluate_split(data, split, [name], args.shapes, 0, 60.0, seed=0, checkpoint=weights, threshold=threshold)
        metrics[split] = res.get(name)
    out = checkpoint_dirs()[0]
    out.mkdir(exist_ok=True)
    shutil.copyfile(run / "best.safetensors", out / f"{name}.safetensors")
    card.update(threshold=threshold,
                threshold_selection={"split": "val", "shapes": args.val_shapes, "rule": "max mean of IoU and F@1%",
                                     "scores": {str(t): {k: r[k] for k in ("iou", "fscore_1pct")} for t, r in scores.items()}},
                data={"source": f"implicit-studio data build --sources {','.join(sources)} (docs/DATA.md)",
                      "splits": splits, "held_out_categories": manifest["held_out_categories"]},
                metrics={"val_iou_points": card.get("val_iou"), "test_iou": (metrics["test"] or {}).get("iou"),
                         **metrics})
    (out / f"{name}.json").write_text(json.dumps(card, indent=2, default=str))
    shutil.copyfile(run / "curves.png", out / f"{name}-curves.png")
    (out / f"{name}.md").write_text(model_card_md(name, card))
    print(json.dumps(card["metrics"], indent=2))


def model_card_md(name: str, card: dict) -> str:
    def row(split):
        m = card["metrics"].get(split) or {}
        f = lambda v, d=3: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
        return (f"| {split} | {m.get('shapes', 0)} | {f(m.get('iou'))} | {f(m.get('chamfer_l1'), 4)} | "
                f"{f(m.get('normal_consistency'))} | {f(m.get('fscore_1pct'))} | {m.get('failures', 0)} |")
    return "\n".join([
        f"# {name}", "",
        f"- steps: {card['steps']}, wall time: {card['wall_time_s'] / 60:.1f} min on {card['hardware']}",
        *([f"- continued from {card['init_from']['checkpoint']} ({card['init_from']['steps']} steps, "
           f"{card['init_from']['wall_time_s'] / 60:.1f} min) with a fresh optimiser"
           + ("; its U-Net widened from {} to {} filters first, computing the same function".format(
               *card["init_from"]["widened_unet_filters"]) if "widened_unet_filters" in card["init_from"] else "")
           + ("; its features moved from a {}- to a {}-cell side first (the same weights)".format(
               *card["init_from"]["reso"]) if "reso" in card["init_from"] else "")
           + "; the curves show this last run"]
          if card.get("init_from") else []),
        f"- config (CPU size): `{json.dumps(card['config'])}`",
        f"- data: {card['data']['source']}; splits {card['data']['splits']}; held-out categories "
        f"{', '.join(card['data']['held_out_categories'])}",
        f"- model selection: best validation IoU at occupancy points ({card['metrics']['val_iou_points']:.3f}); "
        f"meshed at occupancy threshold {card['threshold']}, the best of "
        f"{', '.join(card['threshold_selection']['scores'])} on {card['threshold_selection']['shapes']} validation "
        "shapes (mean of IoU and F@1%)",
        "- inputs at test: 300 noisy points (ONet), 3000 (ConvONet), noise std 0.005; one rendered view (image model, "
        "isolated and framed as a photo is: a render passes unchanged)",
        *([f"- training inputs: {training_inputs(card['options'])}"] if training_inputs(card.get("options") or {}) else []),
        *([f"- measured: {card['metrics_note']}"] if card.get("metrics_note") else []),
        "", "| split | shapes | IoU | Chamfer-L1 (raw) | NC | F@1% | failures |", "|---|---|---|---|---|---|---|",
        *[row(s) for s in ("test", "heldout", "unfamiliar") if s in card["metrics"]], "",
        f"![validation IoU against wall time]({name}-curves.png)",
        "", "These weights are an early CPU training run; see the README for how far they are from the paper.", ""])


def training_inputs(options: dict) -> str:
    """The scan-like and pose options of the last run, as flags ('' when it had none)."""
    defaults = {"partial": 0.0, "point_counts": "", "uneven": 0.0, "noise_range": "", "outliers": 0.0,
                "rotate": "none", "rotated": 1.0, "aniso_scale": 0.0, "mirror": False, "bf16": False, "photo": 0.0}
    used = {k: options[k] for k in defaults if k in options and options[k] != defaults[k]}
    return " ".join(f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in used.items())


if __name__ == "__main__":
    main()
