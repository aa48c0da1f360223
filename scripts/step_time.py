"""Seconds per training step in fp32 and with bfloat16 autocast (``train --bf16``) on this CPU.

    python scripts/step_time.py --model convonet-grid --data data/dataset [--batch-size 8] [--threads 1]

Loads the shipped checkpoint, takes one fixed batch of training items (4,096 queries each) and
times ``--steps`` Adam steps alternately without and with autocast, twice, after a warm-up step
each; prints the CPU flags that bf16 speed depends on (avx512_bf16, amx_bf16).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from implicit_studio.engine.checkpoints import load_checkpoint
from implicit_studio.engine.registry import default_checkpoint
from implicit_studio.train.data.dataset import ShapeDataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="convonet-grid")
    parser.add_argument("--data", default="data/dataset")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    print("cpu flags:", [f for f in ("avx512_bf16", "amx_bf16") if f in flags])
    model, _ = load_checkpoint(default_checkpoint(args.model), expected_model=args.model, device=torch.device("cpu"))
    model.train()
    ds = ShapeDataset(args.data, "train", n_input_points=model.cfg.n_input_points, n_queries=4096)
    batch = torch.utils.data.default_collate([ds[i % len(ds)] for i in range(args.batch_size)])
    opt = torch.optim.Adam(model.parameters(), lr=1e-6)
    for bf16 in (False, True, False, True):
        times = []
        for _ in range(args.steps + 1):
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = model(batch["points"], batch["inputs"])
            loss = F.binary_cross_entropy_with_logits(logits.float(), batch["occ"], reduction="none").sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - start)
        print("bf16" if bf16 else "fp32", "seconds per step after a warm-up:", [round(t, 2) for t in times[1:]])


if __name__ == "__main__":
    main()
