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


def test_partial_benchmark_inputs_see_part_of_the_shape_and_rotation_moves_everything():
    import numpy as np

    from implicit_studio.evaluate.quality import benchmark_input, rotated_shape

    rng = np.random.default_rng(0)
    normals = rng.normal(size=(30000, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    uniform = rng.uniform(-0.55, 0.55, (1000, 3))
    shape = {"surface_points": 0.4 * normals, "surface_normals": normals, "uniform_points": uniform,
             "uniform_occ": np.linalg.norm(uniform, axis=1) < 0.4}
    full = benchmark_input(shape, 3000, 1, "uniform")
    partial = benchmark_input(shape, 3000, 1, "partial")
    assert partial.shape == full.shape == (3000, 3)
    assert np.all(np.abs(np.linalg.norm(partial, axis=1) - 0.4) < 0.04)
    assert np.array_equal(partial, benchmark_input(shape, 3000, 1, "partial"))      # seeded

    def coverage(cloud):    # fraction of 200 directions with an input point within 0.1
        d = rng.normal(size=(200, 3))
        d = 0.4 * d / np.linalg.norm(d, axis=1, keepdims=True)
        return np.mean(np.min(np.linalg.norm(d[:, None] - cloud[None], axis=2), axis=1) < 0.1)

    assert coverage(full) == 1.0 and coverage(partial) < 0.9
    turned = rotated_shape(shape, 3)
    assert not np.allclose(turned["uniform_points"], uniform)
    # back in the unit frame as a loaded file is: the sphere of radius 0.4 now has longest side 1
    lo, hi = turned["surface_points"].min(axis=0), turned["surface_points"].max(axis=0)
    assert np.isclose((hi - lo).max(), 1.0, atol=1e-5) and np.allclose((lo + hi) / 2, 0.0, atol=1e-5)
    radius = (np.linalg.norm(turned["surface_points"], axis=1).mean())
    assert np.array_equal(np.linalg.norm(turned["uniform_points"], axis=1) < radius,
                          np.linalg.norm(uniform, axis=1) < 0.4)
    assert np.allclose(np.linalg.norm(turned["surface_normals"], axis=1), 1.0, atol=1e-5)
