"""IoU of scene-model checkpoints on fixed crops of the rooms of each split (the trainer's validation measure).

    python scripts/room_crop_iou.py --data /work/scratch/rooms CHECKPOINT [CHECKPOINT ...]
        [--splits val,test,unfamiliar] [--threads 1]

Each split's rooms give 4 fixed surface-centred crops each (``RoomCropDataset(eval=True)``),
scored on 8,192 uniform labelled points of each crop's core at the threshold the checkpoint's
card chose on validation (0.5 when it has none), and at the best threshold for that split (an
optimistic bound). A convonet-grid checkpoint is scored as the scene model's starting point
(its weights in the scene model, ``trainer.init_weights``). Prints one JSON line per
checkpoint and split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from implicit_studio.engine.checkpoints import check_checkpoint
from implicit_studio.engine.registry import get_spec
from implicit_studio.engine.session import logit
from implicit_studio.train.data.room_crops import RoomCropDataset
from implicit_studio.train.trainer import OCCUPANCY_THRESHOLDS, init_weights


@torch.no_grad()
def crop_ious(model, data: str, split: str, threshold: float) -> tuple[float, float, float, int]:
    """(IoU at ``threshold``, best IoU over OCCUPANCY_THRESHOLDS, that threshold, crops)."""
    loader = torch.utils.data.DataLoader(RoomCropDataset(data, split, n_queries=8192, eval=True), batch_size=8)
    levels = torch.tensor([logit(t) for t in (threshold, *OCCUPANCY_THRESHOLDS)])
    ious = []
    for batch in loader:
        logits = model(batch["points"], batch["inputs"])
        pred = logits[:, None, :] > levels[None, :, None]
        gt = (batch["occ"] > 0.5)[:, None, :]
        ious.append((pred & gt).sum(-1).float() / (pred | gt).sum(-1).float().clamp_min(1))
    per_level = torch.cat(ious).mean(0)
    best = int(per_level[1:].argmax()) + 1
    return float(per_level[0]), float(per_level[best]), OCCUPANCY_THRESHOLDS[best - 1], len(loader.dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--data", required=True, help="rooms folder made by 'implicit-studio data rooms'")
    parser.add_argument("--splits", default="val,test,unfamiliar")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = get_spec("convonet-scene")
    for path in args.checkpoints:
        card = check_checkpoint(path)
        model, card = init_weights(Path(path), spec, spec.config(), torch.device("cpu"))
        model.eval()
        threshold = float(card.get("val_threshold", 0.5)) if card["model"] == spec.name else 0.5
        for split in args.splits.split(","):
            iou, best, best_t, n = crop_ious(model, args.data, split, threshold)
            print(json.dumps({"checkpoint": path, "model": card["model"], "steps": card.get("steps"), "split": split,
                              "crops": n, "threshold": threshold, "iou": round(iou, 4), "best_iou": round(best, 4),
                              "best_threshold": best_t}), flush=True)


if __name__ == "__main__":
    main()
