"""Print the README's quality table (markdown) from the shipped model cards and benchmark JSONs.

    python scripts/quality_table.py benchmarks/results/quality-poisson-full.json \
        benchmarks/results/quality-siren-8.json
    python scripts/quality_table.py --rows benchmarks/results/quality-refine-24.json   # one run's rows as they are

Learned rows come from ``checkpoints/NAME.json`` (metrics written by ship_checkpoint.py);
baseline rows (screened Poisson, SIREN) from the JSONs of ``implicit-studio benchmark quality``,
the first file that holds a (split, model) row winning.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from implicit_studio.engine.settings import DEFAULT_MODELS
from implicit_studio.evaluate.quality import metric_cells

LEARNED = ("convonet-3plane", "convonet-grid", "onet-pointcloud", "onet-image")
BASELINES = {"poisson": "screened Poisson (Open3D)", "siren": "SIREN, 60 s fit"}
SPLITS = {"test": "test (seen categories)", "heldout": "held-out categories"}
ROW_SPLITS = {**SPLITS, "unfamiliar": "unfamiliar sources (never trained on)"}
HEADER = ["| split | model | shapes | IoU | Chamfer-L1 | Chamfer-L1 x10 | NC | F@1% | s/shape | failures |",
          "|---|---|---|---|---|---|---|---|---|---|"]


def run_rows(path: str) -> list[str]:
    """Every row of one ``benchmark quality`` JSON, split by split, named as the run named them."""
    lines = list(HEADER)
    run = json.loads(Path(path).read_text())
    for split, table in run["splits"].items():
        for name, summary in table.items():
            label = BASELINES.get(name, name.replace("+ensemble", f", {run.get('ensemble')} turns averaged").replace(
                "+refine", ", refined").replace("@photo", ", photographic backgrounds (isolated)").replace(
                "+straighten", ", straightened"))
            lines.append(f"| {ROW_SPLITS.get(split, split)} | {label} | " + " | ".join(metric_cells(summary)) + " |")
    return lines


def main(paths: list[str]) -> int:
    if paths[:1] == ["--rows"]:
        print("\n".join(run_rows(paths[1])))
        return 0
    baselines: dict[str, dict[str, dict]] = {}
    for path in paths:
        for split, table in json.loads(Path(path).read_text())["splits"].items():
            for name, summary in table.items():
                baselines.setdefault(split, {}).setdefault(name, summary)
    lines = list(HEADER)
    for split, label in SPLITS.items():
        for name in LEARNED:
            card = json.loads(Path("checkpoints", f"{name}.json").read_text())
            role = "shipped, default" if name == DEFAULT_MODELS[0] else "shipped"
            lines.append(f"| {label} | {name} ({role}) | " + " | ".join(metric_cells(card["metrics"][split])) + " |")
        for name, summary in baselines.get(split, {}).items():
            lines.append(f"| {label} | {BASELINES.get(name, name)} | " + " | ".join(metric_cells(summary)) + " |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
