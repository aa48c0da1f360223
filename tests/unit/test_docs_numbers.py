"""The benchmark figures of README.md and docs/TRAINING.md, and the mutation scores of docs/TESTING.md, are those
of the result files they cite."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import implicit_studio

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
DOCS = {"README.md": ROOT / "README.md", "TRAINING.md": ROOT / "docs" / "TRAINING.md"}
SPEED_SECTIONS = {"README.md": "## Speed", "TRAINING.md": "## Speed benchmark"}
ORIENTATION_SECTIONS = {"README.md": "## Quality", "TRAINING.md": "## Orientation"}


def section(doc: str, heading: str) -> str:
    """The text of ``doc`` from the line ``heading`` to the next heading of the same or a higher level."""
    text = DOCS[doc].read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    level = heading.split()[0]
    ends = [m.start() for m in re.finditer(r"\n#{1,%d} " % len(level), text) if m.start() > start]
    return text[start:ends[0] if ends else len(text)]


def cited_speed_file(text: str) -> dict:
    """The first benchmark-speed result file ``text`` cites, loaded."""
    name = re.search(r"benchmarks/results/(bench-[\w.-]+\.json)", text).group(1)
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def table_rows(text: str) -> dict[str, list[str]]:
    """Markdown table rows of ``text`` by their first cell: {first cell: [the other cells]}."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def speed_cells(run: dict) -> list[str]:
    """What each column of the speed table must show for one model's entry of a speed file."""
    return [run["weights"], f"{run['first_mesh_s']:.2f} s", f"{run['final_mesh_s']:.2f} s",
            f"{run['final_mesh_levels3_s']:.2f} s", f"{run['evaluations']:,}", f"{run['dense_over_mise']:.1f}x",
            f"{run['decoder_points_per_s'] / 1000:.0f} k ({100 * run['matmul_fraction']:.0f} %)",
            f"{run['marching_cubes_s']:.2f} s", f"{run['peak_rss_mb']:.0f} MB"]


@pytest.mark.parametrize("doc", DOCS)
def test_speed_table_is_the_cited_file(doc):
    text = section(doc, SPEED_SECTIONS[doc])
    bench = cited_speed_file(text)
    rows = table_rows(text)
    assert set(bench["models"]) <= set(rows), f"{doc}: models missing from the speed table"
    for model, run in bench["models"].items():
        for cell, expected in zip(rows[model], speed_cells(run)):
            assert expected in cell.replace("**", ""), f"{doc}, {model}: '{cell}' should show {expected}"


def test_speed_sentences_are_the_cited_file():
    readme = section("README.md", "## Speed")
    bench = cited_speed_file(readme)
    assert f"was {bench['ui_max_stall_ms']:.0f} ms (target 50 ms)" in readme
    training = section("TRAINING.md", "## Speed benchmark")
    bench = cited_speed_file(training)
    ui = bench["ui"]["per_model_ms"]
    expected = [f"at {bench['matmul_gflops']:.0f} GFLOP/s", f"({bench['total_s']:.0f} s for the whole harness)",
                f"{100 * bench['models']['onet-pointcloud']['matmul_fraction']:.0f} % in the file cited above",
                f"**{ui['siren']:.0f} ms** for a SIREN fit, {ui['convonet-3plane']:.0f} ms for convonet-3plane and",
                f"{ui['onet-pointcloud']:.0f} ms for onet-pointcloud in the bench run above",
                f"on the same 3,000 points: {bench['poisson']['seconds']:.2f} s",
                f"Today's bench run: recognisable after {bench['siren']['seconds_to_recognisable']:.2f} s, "
                f"F@1% >= 0.9 after {bench['siren']['seconds_to_f1_0p9']:.1f} s"]
    mise = bench["mise_reference_check"]
    sphere, torus = mise["sphere_r0.35"], mise["torus_R0.3_r0.1"]
    expected.append(f"(sphere {sphere['evaluations']:,}, torus {torus['evaluations']:,} evaluations), "
                    f"{100 * sphere['evaluations'] / sphere['dense_evaluations']:.1f} % and "
                    f"{100 * torus['evaluations'] / torus['dense_evaluations']:.1f} % of the dense grid")
    learned = [run["dense_over_mise"] for run in bench["models"].values() if run["weights"] == "shipped"]
    expected.append(f"The dense grid is {min(learned):.0f}-{max(learned):.0f}x slower than MISE for the learned "
                    f"models; for SIREN it is faster ({bench['models']['siren']['dense_over_mise']:.1f}x)")
    if "Every first-mesh and final-mesh target is met in this run" in " ".join(training.split()):
        for kind in ("first_mesh_s", "final_mesh_s"):
            for model, target in bench["targets"][kind].items():
                assert bench["models"][model][kind] <= target, f"{model} {kind} misses its target {target}"
    flowing = " ".join(training.split())           # sentences wrap across lines
    for phrase in expected:
        assert phrase in flowing, f"TRAINING.md should say {phrase!r}"


@pytest.mark.parametrize("doc", DOCS)
def test_quality_table_is_what_its_script_prints(doc):
    env = {**os.environ, "PYTHONPATH": str(Path(implicit_studio.__file__).parents[1])}
    printed = subprocess.run([sys.executable, "scripts/quality_table.py",
                              "benchmarks/results/quality-poisson-full.json", "benchmarks/results/quality-siren-8.json"],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    text = DOCS[doc].read_text(encoding="utf-8")
    for line in printed.splitlines():
        assert line in text, f"{doc} lacks the quality row {line!r}"


@pytest.mark.parametrize("doc", DOCS)
def test_orientation_table_is_the_cited_files(doc):
    rows = table_rows(section(doc, ORIENTATION_SECTIONS[doc]))
    for path in sorted(RESULTS.glob("orientation-*-val16.json")):
        for model, poses in json.loads(path.read_text(encoding="utf-8"))["results"].items():
            expected = [f"{poses[p]['iou']:.3f} / {poses[p]['fscore_1pct']:.3f}"
                        for p in ("identity", "x90", "yaw45", "random")]
            assert rows[model] == expected, f"{doc}, {model}: {rows[model]} should be {expected} ({path.name})"


@pytest.mark.parametrize("result", ["quality-refine-24.json", "quality-unfamiliar-refine-24.json",
                                    "quality-photos-24.json"])
def test_refinement_tables_are_what_their_script_prints(result):
    env = {**os.environ, "PYTHONPATH": str(Path(implicit_studio.__file__).parents[1])}
    printed = subprocess.run([sys.executable, "scripts/quality_table.py", "--rows",
                              f"benchmarks/results/{result}"],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    text = DOCS["README.md"].read_text(encoding="utf-8")
    for line in printed.splitlines():
        assert line in text, f"README.md lacks the refinement row {line!r}"


def test_mutation_scores_are_what_the_recorded_runs_give():
    """docs/TESTING.md's mutation-score table is what ``scripts/mutants.py --table`` computes from the recorded
    runs (benchmarks/results/mutants-*.json) and the equivalent mutants the same file lists; no listed
    equivalent mutant is missing from the recorded runs or detected by a test (a stale listing)."""
    printed = subprocess.run([sys.executable, "scripts/mutants.py", "--table"], cwd=ROOT, capture_output=True,
                             text=True, check=False)
    assert printed.returncode == 0, printed.stderr
    text = (ROOT / "docs" / "TESTING.md").read_text(encoding="utf-8")
    for line in printed.stdout.splitlines():
        assert line in text, f"docs/TESTING.md lacks the mutation-score row {line!r}"
