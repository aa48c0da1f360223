"""Smoke test of ``implicit-studio benchmark speed --quick``: it runs and its JSON has every key (no timing checks)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

MODEL_KEYS = {"first_mesh_s", "final_mesh_s", "evaluations", "dense_evaluations", "decoder_points_per_s",
              "matmul_fraction", "marching_cubes_s", "peak_rss_mb"}


def test_bench_imports_without_torch():
    code = "import sys, implicit_studio.evaluate.speed; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_bench_quick_json_has_every_key(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "implicit_studio.cli", "benchmark", "speed", "--quick", "--threads", "1",
           "--models", "convonet-3plane,siren", "--no-ui", "--siren-seconds", "1", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert json.loads(proc.stdout) == report
    for key in ("machine", "matmul_gflops", "models", "siren", "ui_max_stall_ms", "poisson", "mise_reference_check"):
        assert key in report
    assert set(report["models"]) == {"convonet-3plane", "siren"}
    for figures in report["models"].values():
        assert MODEL_KEYS <= set(figures)
        assert figures["evaluations"] < figures["dense_evaluations"]
    assert {"seconds_to_recognisable", "seconds_to_f1_0p9"} <= set(report["siren"])
    assert {"seconds", "input_points"} <= set(report["poisson"])
    assert report["ui_max_stall_ms"] is None and report["ui"]["reason"]
    assert all(check["matches"] for check in report["mise_reference_check"].values())
