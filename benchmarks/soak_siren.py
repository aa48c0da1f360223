"""Soak test: fit SIREN to one shape for many minutes and watch the process's memory.

Runs ``SdfFitter.step`` in a loop (the same engine the window and the CLI use), samples
the resident set size every few seconds and prints one JSON object::

    {"minutes", "steps", "rss_start_mb", "rss_end_mb", "rss_max_mb", "growth_mb", "flat", "samples"}

``rss_start_mb`` is the first sample, taken after a warm-up of 20 steps (torch's first
allocations), ``rss_end_mb`` the last. RSS wanders by tens of MB from step to step (the
allocator's free lists), so ``growth_mb`` compares the medians of the first and the last
quarter of the samples, and ``flat`` is true when it is within ``--tolerance-mb``. Not
part of the test suite: ``python benchmarks/soak_siren.py --minutes 10``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

WARMUP_STEPS = 20


def rss_mb() -> float:
    """Resident memory of this process in MB (/proc/self/statm, or psutil off Linux)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        import psutil

        return psutil.Process().memory_info().rss / 1e6


def sphere_cloud(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) points on a sphere of radius 0.3 and their unit normals."""
    normals = np.random.default_rng(seed).normal(size=(n, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return (0.3 * normals).astype(np.float32), normals.astype(np.float32)


def soak(minutes: float, every: float, model: str, size: str, points: int, tolerance_mb: float) -> dict:
    """Fit for ``minutes``, sampling RSS every ``every`` seconds; the figures as a dict."""
    from implicit_studio.engine.registry import get_spec
    from implicit_studio.engine.fitting.siren_fit import SdfFitter

    fitter = SdfFitter(*sphere_cloud(points), get_spec(model).config(size))
    for _ in range(WARMUP_STEPS):
        fitter.step()
    start = time.perf_counter()
    samples = [(0.0, rss_mb())]
    next_sample = every
    loss = None
    while (elapsed := time.perf_counter() - start) < minutes * 60:
        loss = fitter.step()["total"]
        if elapsed >= next_sample:
            samples.append((round(elapsed, 1), rss_mb()))
            next_sample += every
    samples.append((round(time.perf_counter() - start, 1), rss_mb()))
    rss = [r for _, r in samples]
    quarter = max(1, len(rss) // 4)
    growth = float(np.median(rss[-quarter:]) - np.median(rss[:quarter]))
    return {"minutes": minutes, "model": model, "size": size, "points": points,
            "steps": fitter.steps - WARMUP_STEPS, "final_loss": loss,
            "rss_start_mb": round(rss[0], 1), "rss_end_mb": round(rss[-1], 1), "rss_max_mb": round(max(rss), 1),
            "growth_mb": round(growth, 1), "flat": abs(growth) <= tolerance_mb,
            "samples": [(t, round(r, 1)) for t, r in samples]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to fit (default 10)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between RSS samples (default 5)")
    parser.add_argument("--model", default="siren", choices=["siren", "relu-mlp"])
    parser.add_argument("--size", default="cpu", choices=["cpu", "paper"])
    parser.add_argument("--points", type=int, default=20_000, help="points on the fitted sphere")
    parser.add_argument("--tolerance-mb", type=float, default=20.0, help="growth still called flat")
    args = parser.parse_args(argv)
    result = soak(args.minutes, args.every, args.model, args.size, args.points, args.tolerance_mb)
    json.dump(result, sys.stdout)
    print()
    return 0 if result["flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
