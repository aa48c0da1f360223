"""Encode time and decoder throughput of the learned models with 1 and 2 torch threads, as JSON.

Random CPU-size weights (speed does not depend on the values). Shows how intra-op threads
behave on this machine: on a shared, oversubscribed machine two threads can be many times
slower than one (each parallel region waits for a descheduled thread).

    nice -n 10 .venv/bin/python benchmarks/threads.py > benchmarks/results/threads.json
"""

from __future__ import annotations

import json
import os
import statistics
import time

import torch

from implicit_studio.evaluate.speed import machine_info, matmul_gflops
from implicit_studio.engine.registry import get_spec

MODELS = ("onet-pointcloud", "convonet-3plane", "convonet-grid")


def timed(fn, repeats: int = 5) -> float:
    """Median seconds of ``fn()`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    torch.manual_seed(0)
    report = {"machine": machine_info(), "threads": {}}
    queries = (torch.rand(1, 16384, 3) - 0.5) * 1.1
    for threads in (1, 2):
        torch.set_num_threads(threads)
        row = {"matmul_gflops": matmul_gflops(1.0)}
        for name in MODELS:
            cfg = get_spec(name).config("cpu")
            model = cfg.build().eval()
            inputs = torch.rand(1, cfg.n_input_points, 3) - 0.5
            with torch.inference_mode():
                code = model.encode(inputs)
                row[name] = {"encode_s": timed(lambda: model.encode(inputs)),
                             "decoder_points_per_s": 16384 / timed(lambda: model.decode(queries, code))}
        report["threads"][threads] = row
    report["load_average_end"] = list(os.getloadavg())
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
