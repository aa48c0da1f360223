"""Supervised training of the learned models (ONet, ConvONet) on a data set from ``data build``.

Resumable (``--resume`` continues from ``RUN_DIR/last.safetensors`` and its optimizer
state), cut into chunks by ``--max-minutes``, model selection by validation IoU, and data
parallel under ``torchrun`` (gloo on CPU, NCCL on GPU). Logs go to ``RUN_DIR/log.csv``
and ``RUN_DIR/curves.png``; ``RUN_DIR/best.safetensors`` is the checkpoint to ship.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from ..errors import InputError
from ..engine.registry import get_spec
from ..engine.session import logit
from ..engine.models.convonet import ConvONet
from .widen import widened
from .batchnorm import batchnorm_layers, recalibrated
from ..engine.checkpoints import load_checkpoint, save_checkpoint
from .plot import plot_curves

log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    """One training run. ``lr`` peaks after ``warmup`` steps and decays by cosine to 10% at ``total_steps``."""

    model: str
    data: str
    out: str
    resume: bool = False
    max_minutes: float = 120.0
    size: str = "cpu"
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 200
    total_steps: int = 20000
    n_queries: int = 4096
    near_fraction: float = 0.5
    val_every: int = 200
    val_shapes: int = 64
    seed: int = 0
    mirror: bool = False        # also train on shapes mirrored left-right (x -> -x, images flipped)
    device: str = "auto"
    init: str | None = None     # a fresh run starts from these weights (a shipped checkpoint)
    widen_unet: int | None = None   # with init: first widen a ConvONet's U-Net to this many filters
    reso: int | None = None     # with init: a ConvONet's grid or plane side (its weights do not depend on it)
    # scan-like inputs and poses (data/scans.py; point models only; validation stays plain)
    partial: float = 0.0        # fraction of draws that see the shape from 1-3 viewpoints only
    point_counts: str = ""      # "LOW-HIGH" points per cloud before the encoder's subset ("" = n_input_points)
    uneven: float = 0.0         # fraction of draws with uneven density
    noise_range: str = ""       # "LOW-HIGH" noise standard deviation ("" = the model's input_noise)
    outliers: float = 0.0       # largest fraction of outliers per cloud
    rotate: str = "none"        # random rotation of inputs and queries: none, yaw or any
    rotated: float = 1.0        # with rotate: the fraction of draws rotated
    aniso_scale: float = 0.0    # per-axis scale factors in [1 - s, 1 + s]
    bf16: bool = False          # bfloat16 autocast for training steps (validation stays fp32)
    loader_workers: int = 0     # data loading processes (0: in the training process)
    # photos (image model; data/photos.py): every view framed as a user's photo is, this share of
    # them over photographic or procedural backgrounds; validation then scores plain and photo views
    photo: float = 0.0          # 0: plain renders as rendered (no framing)


MAX_UNET_FILTERS = 256


def widen_for_init(model: torch.nn.Module, filters: int) -> torch.nn.Module:
    """``model`` with its U-Net widened to ``filters`` (same function), or a one-line error."""
    if not isinstance(model, ConvONet):
        raise InputError("--widen-unet applies to ConvONet models only")
    if filters < model.cfg.unet_filters:
        raise InputError(f"--widen-unet {filters}: the U-Net already has {model.cfg.unet_filters} filters")
    if filters > MAX_UNET_FILTERS:
        raise InputError(f"--widen-unet {filters}: at most {MAX_UNET_FILTERS} filters (the paper uses 32)")
    return widened(model, filters)


RESO_RANGE = (8, 128)


def reso_for_init(model: torch.nn.Module, reso: int) -> torch.nn.Module:
    """``model`` with its feature grid or planes ``reso`` cells a side, or a one-line error.

    A ConvONet's weights (point encoder, U-Net convolutions, decoder) do not depend on the side,
    so they carry over unchanged; only the size of a cell, and so the detail the features hold, changes.
    """
    if not isinstance(model, ConvONet):
        raise InputError("--reso applies to ConvONet models only")
    halvings = model.cfg.unet_depth - 1
    step = 2 ** halvings
    if not RESO_RANGE[0] <= reso <= RESO_RANGE[1] or reso % step:
        raise InputError(f"--reso {reso}: give a multiple of {step} (the U-Net halves it {halvings} "
                         f"times) from {RESO_RANGE[0]} to {RESO_RANGE[1]}")
    resized = replace(model.cfg, reso=reso).build().to(next(model.parameters()).device)
    resized.load_state_dict(model.state_dict(), strict=True)
    return resized


def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: torch.device) -> None:
    """Join the process group when started by torchrun (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def lr_at(step: int, opts: TrainOptions) -> float:
    if step < opts.warmup:
        return opts.lr * (step + 1) / opts.warmup
    frac = min(1.0, (step - opts.warmup) / max(1, opts.total_steps - opts.warmup))
    return opts.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def model_inputs(batch: dict, input_kind: str, device: torch.device) -> torch.Tensor:
    return (batch["image"] if input_kind == "image" else batch["inputs"]).to(device)


def input_kinds(opts: TrainOptions):
    """The ``scans.InputKinds`` training draws for ``opts``; InputError for a bad range."""
    from .data.scans import InputKinds

    def span(text: str, name: str, kind):
        if not text:
            return None
        try:
            low, high = (kind(v) for v in text.split("-"))
        except ValueError:
            raise InputError(f"--{name} {text!r}: give LOW-HIGH, e.g. 1000-20000") from None
        if not 0 <= low <= high:
            raise InputError(f"--{name} {text!r}: need 0 <= LOW <= HIGH")
        return low, high

    counts = span(opts.point_counts, "point-counts", int)
    if counts is not None and counts[0] < 1:
        raise InputError("--point-counts: at least one point")
    for name in ("partial", "uneven", "outliers", "rotated"):
        if not 0.0 <= getattr(opts, name) <= 1.0:
            raise InputError(f"--{name} {getattr(opts, name)}: give a fraction in [0, 1]")
    if not 0.0 <= opts.aniso_scale < 1.0:
        raise InputError(f"--aniso-scale {opts.aniso_scale}: give a value in [0, 1)")
    if opts.rotate not in ("none", "yaw", "any"):
        raise InputError(f"--rotate {opts.rotate!r}: choose none, yaw or any")
    return InputKinds(partial=opts.partial, counts=counts, uneven=opts.uneven,
                      noise=span(opts.noise_range, "noise-range", float), outliers=opts.outliers,
                      rotate=opts.rotate, rotated=opts.rotated, scale=opts.aniso_scale)


def room_dataset(opts: TrainOptions, split: str, cfg, train: bool):
    """The crops of a rooms folder (``data rooms``) a metric model trains on. ``--rotate yaw``
    turns ``--rotated`` of the training draws by any angle (the others by quarter turns); the
    shape data sets' scan-like options do not apply (the crops draw scan clouds of their own)."""
    from .data.room_crops import RoomCropDataset
    from .data.scans import InputKinds

    kinds = input_kinds(opts)
    if kinds.rotate == "any" or kinds != InputKinds(rotate=kinds.rotate, rotated=kinds.rotated) or opts.mirror:
        raise InputError(f"{opts.model} trains on room crops: of the input options only --rotate yaw and "
                         "--rotated apply (rooms stay upright)")
    try:
        return RoomCropDataset(opts.data, split, n_input_points=cfg.n_input_points, noise=cfg.input_noise,
                               n_queries=opts.n_queries if train else 8192, near_fraction=opts.near_fraction,
                               seed=opts.seed, eval=not train, any_yaw=kinds.rotated if kinds.rotate == "yaw" else 0.0)
    except ValueError as exc:
        raise InputError(f"{opts.model}: {exc}") from None


def make_loader(opts: TrainOptions, split: str, spec, cfg, train: bool, photo_share: float | None = None):
    """The training loader, or a validation loader (``photo_share``: the share of photo-like views,
    isolated by GrabCut as at test time; None: the training option)."""
    from .data.dataset import ShapeDataset
    from .data.photos import PhotoAugment
    from .data.scans import InputKinds

    if spec.metric:
        ds = room_dataset(opts, split, cfg, train)
    else:
        n_in = getattr(cfg, "n_input_points", 3000)
        kinds = input_kinds(opts) if train else InputKinds()
        if spec.input_kind == "image" and not kinds.plain:
            raise InputError("scan-like inputs and poses (--partial, --rotate, ...) apply to point models only")
        ds = ShapeDataset(opts.data, split, n_input_points=n_in, noise=getattr(cfg, "input_noise", 0.005),
                          n_queries=opts.n_queries if train else 20000,
                          near_fraction=opts.near_fraction if train else 0.0,
                          with_images=spec.input_kind == "image", seed=opts.seed, eval=not train,
                          mirror=opts.mirror, kinds=kinds, photos=_photo_augment(opts, spec, train, photo_share))
    if len(ds) == 0:
        raise InputError(f"{opts.data}: the {split} split is empty")
    rank, world = _dist_info()
    if train:
        sampler = torch.utils.data.DistributedSampler(ds, world, rank, shuffle=True, seed=opts.seed, drop_last=True) \
            if world > 1 else torch.utils.data.RandomSampler(ds, generator=torch.Generator().manual_seed(opts.seed))
        return torch.utils.data.DataLoader(ds, batch_size=min(opts.batch_size, len(ds)), sampler=sampler,
                                           drop_last=True, num_workers=opts.loader_workers,
                                           persistent_workers=opts.loader_workers > 0)
    idx = list(range(0, len(ds), max(1, len(ds) // max(1, opts.val_shapes))))[:opts.val_shapes]   # all sources
    return torch.utils.data.DataLoader(torch.utils.data.Subset(ds, idx), batch_size=8, shuffle=False)


def _photo_augment(opts: TrainOptions, spec, train: bool, photo_share: float | None):
    """The ``PhotoAugment`` of a loader, or None when views stay as rendered."""
    from .data.photos import PhotoAugment

    if opts.photo < 0.0 or opts.photo > 1.0:
        raise InputError(f"--photo {opts.photo}: give a fraction in [0, 1]")
    if not opts.photo or spec.input_kind != "image":
        return None
    if train:
        return PhotoAugment(photo=opts.photo)
    return PhotoAugment(photo=photo_share or 0.0, grabcut=1.0)


def validation_loaders(opts: TrainOptions, spec, cfg) -> list:
    """The validation loaders: plain views, and with ``--photo`` photo-like views too (scored as
    the mean of the two)."""
    loaders = [make_loader(opts, "val", spec, cfg, train=False, photo_share=0.0)]
    if opts.photo and spec.input_kind == "image":
        loaders.append(make_loader(opts, "val", spec, cfg, train=False, photo_share=1.0))
    return loaders


# occupancy thresholds validation tries: training shifts the model's calibration, so a fixed
# threshold (ONet's 0.2) can hide a better model; scripts/ship_checkpoint.py picks among the same
OCCUPANCY_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@torch.no_grad()
def validation_iou(model, loader, input_kind: str, device: torch.device) -> tuple[float, float]:
    """Mean IoU of predicted vs true occupancy at the uniform points of each validation shape, at
    the best of ``OCCUPANCY_THRESHOLDS``; returns (IoU, that threshold). ``loader`` may be a list
    of loaders (plain and photo views): the IoU is then the mean of theirs, at one threshold."""
    several = isinstance(loader, list) and bool(loader) and not isinstance(loader[0], dict)
    per_threshold = torch.stack([_iou_per_threshold(model, one, input_kind, device)
                                 for one in (loader if several else [loader])]).mean(0)
    best = int(per_threshold.argmax())
    return float(per_threshold[best]), OCCUPANCY_THRESHOLDS[best]


@torch.no_grad()
def validation_parts(model, loaders: list, input_kind: str, device: torch.device, threshold: float) -> list[float]:
    """The mean IoU of each loader at ``threshold`` (for the log)."""
    index = OCCUPANCY_THRESHOLDS.index(threshold)
    return [float(_iou_per_threshold(model, one, input_kind, device)[index]) for one in loaders]


def _iou_per_threshold(model, loader, input_kind: str, device: torch.device) -> torch.Tensor:
    """(len(OCCUPANCY_THRESHOLDS),) mean IoU over the loader's shapes at each threshold."""
    model.eval()
    logits_t = torch.tensor([logit(t) for t in OCCUPANCY_THRESHOLDS], device=device)
    ious = []
    for batch in loader:
        logits = model(batch["points"].to(device), model_inputs(batch, input_kind, device))
        pred = logits[:, None, :] > logits_t[None, :, None]          # (B, T, N)
        gt = (batch["occ"].to(device) > 0.5)[:, None, :]
        inter = (pred & gt).sum(-1).float()
        union = (pred | gt).sum(-1).float().clamp_min(1)
        ious.append(inter / union)                                    # (B, T)
    model.train()
    if not ious:
        return torch.zeros(len(OCCUPANCY_THRESHOLDS))
    return torch.cat(ious).mean(0).cpu()


# training batches BatchNorm statistics are recomputed on before each validation (train/batchnorm.py)
BN_CALIBRATION_BATCHES = 16


def calibration_batches(opts: TrainOptions, spec, cfg) -> list[dict]:
    """A fixed list of training batches, the same at every validation of a run."""
    loader = make_loader(replace(opts, seed=opts.seed + 1, loader_workers=0), "train", spec, cfg, train=True)
    return list(itertools.islice(loader, BN_CALIBRATION_BATCHES))


def scored_model(model, calibration: list[dict], input_kind: str, device: torch.device):
    """What validation scores and checkpoints hold: ``model`` with its BatchNorm statistics
    recomputed on ``calibration`` (``model`` itself when it has none)."""
    return recalibrated(model, calibration, lambda m, b: m(b["points"].to(device), model_inputs(b, input_kind, device)))


def _save_optimizer(path: Path, opt: torch.optim.Optimizer) -> None:
    state = opt.state_dict()
    tensors = {}
    scalars = {}
    for pid, st in state["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v) and v.dim() > 0:
                tensors[f"{pid}.{k}"] = v.contiguous()
            else:
                scalars[f"{pid}.{k}"] = float(v)
    save_file(tensors, str(path), metadata={"scalars": json.dumps(scalars)})


def _load_optimizer(path: Path, opt: torch.optim.Optimizer) -> None:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        scalars = json.loads(f.metadata()["scalars"])
    tensors = load_file(str(path))
    state = opt.state_dict()
    new_state: dict = {}
    for key, v in list(tensors.items()) + list(scalars.items()):
        pid, name = key.split(".", 1)
        value = torch.tensor(v) if name == "step" else v
        new_state.setdefault(int(pid), {})[name] = value
    state["state"] = new_state
    opt.load_state_dict(state)


def _starting_point(opts: TrainOptions, spec, device: torch.device, state_path: Path) -> tuple:
    """The model, its config and the run state to start from: the run's last weights (``--resume``),
    given weights (``--init``, optionally widened), or fresh ones."""
    cfg = spec.config(opts.size)
    if opts.resume and state_path.is_file():
        model, _ = load_checkpoint(state_path.parent / "last.safetensors", expected_model=spec.name, device=device)
        state = json.loads(state_path.read_text())
        state["options"] = asdict(opts)
        return model, model.cfg, state
    state = {"step": 0, "wall_s": 0.0, "best_iou": -1.0, "options": asdict(opts)}
    if opts.init:
        model, init_card = init_weights(Path(opts.init), spec, cfg, device)
        state["init"] = {"checkpoint": Path(opts.init).name, "steps": int(init_card.get("steps", 0)),
                         "wall_time_s": float(init_card.get("wall_time_s", 0.0))}
        if opts.widen_unet:
            state["init"]["widened_unet_filters"] = [model.cfg.unet_filters, opts.widen_unet]
            model = widen_for_init(model, opts.widen_unet)
        if opts.reso:
            if opts.reso != model.cfg.reso:
                state["init"]["reso"] = [model.cfg.reso, opts.reso]
            model = reso_for_init(model, opts.reso)
        return model, model.cfg, state
    if opts.widen_unet:
        raise InputError("--widen-unet widens the weights given by --init: give --init too")
    if opts.reso:
        raise InputError("--reso changes the side of the weights given by --init: give --init too")
    return cfg.build().to(device), cfg, state


# --init may start a model from another model's weights only where the two are one network: the
# scene model is convonet-grid's architecture (registry: the same ConvONetConfig sizes) trained on
# room crops in metres, so the object model's weights are its natural starting point
INIT_FROM = {"convonet-scene": ("convonet-grid",)}
WEIGHT_FREE_FIELDS = ("n_input_points", "input_noise", "reso")   # config fields the weights do not depend on


def init_weights(path: Path, spec, cfg, device: torch.device) -> tuple[torch.nn.Module, dict]:
    """The model and card of ``--init``: a checkpoint of ``spec`` itself, or of a model in
    ``INIT_FROM[spec.name]`` whose network is the same (its weights then go into a model of
    ``cfg``, keeping ``spec``'s input sizes and feature side); CheckpointError otherwise."""
    from ..engine.checkpoints import check_checkpoint
    from ..errors import CheckpointError

    card = check_checkpoint(path)
    if card["model"] == spec.name or card["model"] not in INIT_FROM.get(spec.name, ()):
        return load_checkpoint(path, expected_model=spec.name, device=device)
    model, card = load_checkpoint(path, expected_model=card["model"], device=device)
    network = {k: v for k, v in asdict(model.cfg).items() if k not in WEIGHT_FREE_FIELDS}
    if type(model.cfg) is not type(cfg) or network != {k: v for k, v in asdict(cfg).items() if k not in WEIGHT_FREE_FIELDS}:
        raise CheckpointError(f"{path}: a {card['model']} checkpoint of another size than {spec.name}'s network")
    own = cfg.build()
    own.load_state_dict(model.state_dict(), strict=True)
    return own.to(device), card


def _save_run(out: Path, opts: TrainOptions, spec, cfg, state: dict, scored, opt, iou: float, threshold: float,
              hardware: str) -> None:
    """Write last.safetensors (and best.safetensors when ``iou`` beats the run's best), the optimiser
    state and state.json after a validation."""
    init = state.get("init")      # the card counts the steps and time of the weights it started from
    card = dict(steps=state["step"] + (init["steps"] if init else 0),
                wall_time_s=round(state["wall_s"] + (init["wall_time_s"] if init else 0.0), 1),
                val_iou=iou, val_threshold=threshold, data=str(opts.data), hardware=hardware, options=asdict(opts))
    if init:
        card["init_from"] = init
    save_checkpoint(out / "last.safetensors", spec.name, scored, cfg, **card)
    _save_optimizer(out / "last_optimizer.safetensors", opt)
    if iou > state["best_iou"]:
        state["best_iou"] = iou
        save_checkpoint(out / "best.safetensors", spec.name, scored, cfg, **card)
    (out / "state.json").write_text(json.dumps(state, indent=2))


def train(opts: TrainOptions) -> dict:
    """Run (or continue) training until ``max_minutes`` or ``total_steps``; returns a summary."""
    from ..engine.device import select_device

    spec = get_spec(opts.model)
    if not spec.learned:
        raise InputError(f"{spec.name} is fitted per shape, not trained: use 'reconstruct --model {spec.name}'")
    device = select_device(opts.device)
    init_distributed(device)
    rank, world = _dist_info()
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(opts.seed)
    model, cfg, state = _starting_point(opts, spec, device, out / "state.json")
    model.train()
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.Adam(model.parameters(), lr=opts.lr)
    if opts.resume and (out / "last_optimizer.safetensors").is_file():
        _load_optimizer(out / "last_optimizer.safetensors", opt)
    train_loader = make_loader(opts, "train", spec, cfg, train=True)
    val_loader = validation_loaders(opts, spec, cfg) if rank == 0 else None
    val_ids = [val_loader[0].dataset.dataset.ids[i] for i in val_loader[0].dataset.indices] if val_loader else []
    if state.get("val_ids") != val_ids:
        # the data set grew or changed: earlier validation scores are not comparable
        state.update(val_ids=val_ids, best_iou=-1.0)
    calibration = calibration_batches(opts, spec, cfg) if rank == 0 and batchnorm_layers(model) else []
    log_path = out / "log.csv"
    new_log = not log_path.exists() or not opts.resume
    log_file = open(log_path, "w" if new_log else "a", newline="")
    writer = csv.writer(log_file)
    if new_log:
        writer.writerow(["step", "minutes", "loss", "val_iou", "lr", "val_threshold"])
    if opts.init and state["step"] == 0 and rank == 0:
        # the starting weights are the score to beat: best.safetensors only when training improves on them
        scored = scored_model(model, calibration, spec.input_kind, device)
        state["best_iou"], threshold = validation_iou(scored, val_loader, spec.input_kind, device)
        writer.writerow([0, 0.0, "", round(state["best_iou"], 4), 0.0, threshold])
        log.info("step 0 (weights of %s)  val IoU %.4f (threshold %.1f)", opts.init, state["best_iou"], threshold)
        if len(val_loader) > 1:
            log.info("validation IoU plain / photo views: %s", " / ".join(
                f"{v:.4f}" for v in validation_parts(scored, val_loader, spec.input_kind, device, threshold)))
    start = time.perf_counter()
    wall0 = state["wall_s"]
    epoch = 0
    losses: list[float] = []
    done = False
    while not done:
        if hasattr(train_loader.sampler, "set_epoch"):
            train_loader.sampler.set_epoch(epoch)
        for batch in train_loader:
            step = state["step"]
            for group in opt.param_groups:
                group["lr"] = lr_at(step, opts)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=opts.bf16):
                logits = ddp(batch["points"].to(device), model_inputs(batch, spec.input_kind, device))
            loss = F.binary_cross_entropy_with_logits(logits.float(), batch["occ"].to(device),
                                                      reduction="none").sum(-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            state["step"] = step + 1
            elapsed = time.perf_counter() - start
            state["wall_s"] = wall0 + elapsed
            out_of_time = elapsed > opts.max_minutes * 60 or state["step"] >= opts.total_steps
            if rank == 0 and (state["step"] % opts.val_every == 0 or out_of_time):
                scored = scored_model(model, calibration, spec.input_kind, device)
                iou, threshold = validation_iou(scored, val_loader, spec.input_kind, device)
                if len(val_loader) > 1:
                    log.info("validation IoU plain / photo views: %s", " / ".join(
                        f"{v:.4f}" for v in validation_parts(scored, val_loader, spec.input_kind, device, threshold)))
                mean_loss = float(np.mean(losses))
                losses.clear()
                writer.writerow([state["step"], round(state["wall_s"] / 60, 3), round(mean_loss, 4), round(iou, 4),
                                 lr_at(step, opts), threshold])
                log_file.flush()
                log.info("step %d  %.1f min  loss %.3f  val IoU %.4f (threshold %.1f)", state["step"],
                         state["wall_s"] / 60, mean_loss, iou, threshold)
                _save_run(out, opts, spec, cfg, state, scored, opt, iou, threshold, _hardware(device, world))
                plot_run(out)
            if out_of_time:
                done = True
                break
        epoch += 1
    log_file.close()
    summary = {"steps": state["step"], "wall_s": state["wall_s"], "best_val_iou": state["best_iou"], "out": str(out),
               "world_size": world}
    if world > 1:
        summary["replicas_identical"] = replicas_identical(model)
        dist.barrier()
    return summary


@torch.no_grad()
def replicas_identical(model: torch.nn.Module) -> bool:
    """True when every process holds exactly the same parameters (a position-weighted checksum)."""
    flat = torch.cat([p.detach().flatten().double().cpu() for p in model.parameters()])
    weights = torch.arange(1, flat.numel() + 1, dtype=torch.float64).remainder_(977).add_(1)
    local = torch.stack([flat.sum(), (flat * weights).sum()])
    gathered = [torch.zeros_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, local)
    return all(torch.equal(g, gathered[0]) for g in gathered)


def _hardware(device: torch.device, world: int) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    return f"{world} x {name}, torch {torch.__version__}"


def plot_run(out: Path) -> None:
    """Draw ``out/log.csv`` into ``out/curves.png`` (loss and validation IoU against minutes)."""
    with open(out / "log.csv") as f:
        rows = list(csv.DictReader(f))
    minutes = [float(r["minutes"]) for r in rows]
    trained = [(m, float(r["loss"])) for m, r in zip(minutes, rows) if r["loss"]]   # an --init run's step 0 has none
    plot_curves(out / "curves.png", [
        ("training loss (BCE summed over query points)", {"loss": ([m for m, _ in trained], [v for _, v in trained])}),
        ("validation IoU", {"val IoU": (minutes, [float(r["val_iou"]) for r in rows])}),
    ])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainOptions("", "", "")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="data set folder made by 'implicit-studio data build'")
    parser.add_argument("--out", required=True, help="run folder (checkpoints, log.csv, curves.png)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--init", metavar="CHECKPOINT",
                        help="start a new run from these weights (validated first: the score to beat)")
    parser.add_argument("--widen-unet", type=int, metavar="FILTERS",
                        help="with --init: widen a ConvONet's U-Net to FILTERS first-stage channels, keeping "
                             "what it computes (new channels start with zero outgoing weights)")
    parser.add_argument("--reso", type=int, metavar="SIDE",
                        help="with --init: run a ConvONet's features on a grid or planes SIDE cells a side "
                             "(the weights carry over; finer cells hold finer detail and cost more)")
    parser.add_argument("--max-minutes", type=float, default=d.max_minutes, help="stop this chunk after so long")
    # run settings default to None: a fresh run takes TrainOptions' defaults, a resumed one its own
    parser.add_argument("--size", choices=["cpu", "paper"], help=f"model size (default {d.size})")
    for name in RUN_SETTINGS[1:]:
        default, flag = getattr(d, name), "--" + name.replace("_", "-")
        kind = {"action": argparse.BooleanOptionalAction} if isinstance(default, bool) else {"type": type(default)}
        parser.add_argument(flag, **kind, help=f"default {default}, or the resumed run's own value")
    parser.add_argument("--device", default=d.device)


RUN_SETTINGS = ("size", "batch_size", "lr", "warmup", "total_steps", "n_queries", "near_fraction", "val_every",
                "val_shapes", "seed", "mirror", "partial", "point_counts", "uneven", "noise_range", "outliers", "rotate",
                "rotated", "aniso_scale", "bf16", "loader_workers", "photo")
"""Options that shape a run; ``--resume`` keeps the run's stored values unless given again."""


def resolve_options(args: argparse.Namespace) -> TrainOptions:
    """TrainOptions from the command line: given values, else the resumed run's, else the defaults."""
    base = asdict(TrainOptions("", "", ""))
    state_path = Path(args.out, "state.json")
    if args.resume and state_path.is_file():
        try:
            stored = json.loads(state_path.read_text()).get("options", {})
        except (OSError, ValueError) as exc:
            raise InputError(f"{state_path}: cannot read the run's state ({exc})") from None
        base.update({k: stored[k] for k in RUN_SETTINGS if k in stored})
    given = {k: getattr(args, k) for k in RUN_SETTINGS if getattr(args, k, None) is not None}
    settings = {k: given.get(k, base[k]) for k in RUN_SETTINGS}
    return TrainOptions(model=args.model, data=args.data, out=args.out, resume=args.resume,
                        max_minutes=args.max_minutes, device=args.device, init=getattr(args, "init", None),
                        widen_unet=getattr(args, "widen_unet", None), reso=getattr(args, "reso", None),
                        **settings)


def run(args: argparse.Namespace) -> int:
    if not Path(args.data, "manifest.json").is_file():
        raise InputError(f"{args.data}: no manifest.json; build a data set with 'implicit-studio data build'")
    summary = train(resolve_options(args))
    if _dist_info()[0] == 0:
        print(json.dumps(summary))
    return 0
