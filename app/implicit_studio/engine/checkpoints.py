"""Checkpoints: safetensors weights plus a JSON model card. Nothing is ever unpickled.

``NAME.safetensors`` holds the state dict; ``NAME.json`` beside it holds the card:
model name, config, format and program version, data, steps, wall time, metrics, and
optionally ``threshold``: the occupancy probability the weights mesh best at, chosen on the
validation split (``scripts/ship_checkpoint.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .. import __version__
from ..errors import CheckpointError
from .registry import CONFIG_TYPES, MODELS, default_checkpoint

FORMAT_VERSION = 1
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin")
MAX_SIZE_FACTOR = 10   # a card may ask for up to 10x the paper config: per size field and in parameters
MAX_ENCODER_POINTS = 1_000_000   # a card's encoder_points beyond this would only cost memory


def card_path(weights: Path) -> Path:
    return Path(weights).with_suffix(".json")


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(path: str | Path, model_name: str, model: nn.Module, config: Any, **card: Any) -> dict:
    """Write weights and card atomically; returns the card. ``card`` adds fields (steps, metrics, ...)."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    full_card = {"format": FORMAT_VERSION, "model": model_name, "version": __version__,
                 "config": dataclasses.asdict(config), **card}
    _atomic_write(path, lambda tmp: save_file(state, tmp, metadata={"model": model_name}))
    _atomic_write(card_path(path), lambda tmp: Path(tmp).write_text(json.dumps(full_card, indent=2, default=str)))
    return full_card


def read_card(path: str | Path) -> dict:
    """The JSON card of checkpoint ``path``, checked for format and model name."""
    path = Path(path)
    cpath = card_path(path)
    if not cpath.is_file():
        raise CheckpointError(f"{path}: its model card {cpath.name} is missing")
    try:
        card = json.loads(cpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{cpath}: model card is not valid JSON ({exc})") from None
    if not isinstance(card, dict) or "model" not in card or "config" not in card:
        raise CheckpointError(f"{cpath}: model card lacks 'model' or 'config'")
    fmt = card.get("format", 0)
    if not isinstance(fmt, int) or fmt > FORMAT_VERSION:
        raise CheckpointError(f"{path}: made by a newer Implicit Studio (checkpoint format {fmt}); "
                              f"this version {__version__} reads format {FORMAT_VERSION}")
    for key in ("threshold", "val_threshold"):
        value = card.get(key)
        if value is not None and not (isinstance(value, (int, float)) and 0.0 < value < 1.0):
            raise CheckpointError(f"{cpath}: '{key}' must be an occupancy probability in (0, 1), not {value!r}")
    value = card.get("encoder_points")
    if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ENCODER_POINTS):
        raise CheckpointError(f"{cpath}: 'encoder_points' must be a whole number of points in "
                              f"[1, {MAX_ENCODER_POINTS:,}], not {value!r}")
    return card


def encoder_points(card: dict, config: Any) -> int:
    """How many points of a denser cloud a (read, checked) card's point encoder takes: the card's
    own count (chosen on validation when shipped), else the count it was trained on."""
    return int(card.get("encoder_points") or config.n_input_points)


def tuned_threshold(card: dict) -> float:
    """The occupancy threshold a (read, checked) card's weights mesh at: the card's own (chosen on
    validation meshes when shipped), else the one the training run's validation scored best at (a
    run's checkpoint), else the registry default of its model."""
    return float(card.get("threshold") or card.get("val_threshold") or MODELS[card["model"]].threshold)


def default_threshold(name: str) -> float:
    """The iso-level model ``name`` meshes at unless told otherwise: the threshold its shipped
    checkpoint's card was tuned to, else the registry default (also when the card is unreadable)."""
    spec = MODELS[name]
    path = default_checkpoint(name) if spec.learned else None
    if path is None:
        return spec.threshold
    try:
        return tuned_threshold(read_card(path))
    except CheckpointError:
        return spec.threshold


def config_from_card(card: dict, path: Path):
    """Rebuild the config dataclass stored in ``card``."""
    spec = MODELS.get(card["model"])
    if spec is None:
        raise CheckpointError(f"{path}: unknown model {card['model']!r} in its card")
    cls = CONFIG_TYPES[spec.family]
    fields = {f.name for f in dataclasses.fields(cls)}
    raw = card["config"]
    if not isinstance(raw, dict) or set(raw) - fields:
        raise CheckpointError(f"{path}: config in its card does not fit {spec.name} "
                              f"(unknown fields: {sorted(set(raw) - fields) if isinstance(raw, dict) else raw!r})")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    _check_fields(values, spec.paper, path)
    try:
        config = cls(**values)
    except TypeError as exc:
        raise CheckpointError(f"{path}: bad config in its card ({exc})") from None
    _check_parameter_count(config, spec.name, path)
    return config


def _check_fields(values: dict, paper: Any, path: Path) -> None:
    """Each integer size at most MAX_SIZE_FACTOR times the paper's, each float finite; types as the paper's."""
    for name, value in values.items():
        ref = getattr(paper, name)
        if isinstance(ref, bool) or not isinstance(ref, (int, float)):
            continue
        if isinstance(ref, int):
            limit = MAX_SIZE_FACTOR * max(ref, 1)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
                raise CheckpointError(f"{path}: config field {name}={value!r} in its card is not an integer "
                                      f"from 0 to {limit:,}; refused before building the model")
        elif not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise CheckpointError(f"{path}: config field {name}={value!r} in its card is not a finite number")


@functools.lru_cache(maxsize=None)
def _paper_parameter_count(model_name: str) -> int:
    return _parameter_count(MODELS[model_name].paper)


def _parameter_count(config: Any) -> int:
    """Parameters of the model ``config`` builds, counted on the meta device (no memory allocated)."""
    with torch.device("meta"):
        model = config.build()
    return sum(p.numel() for p in model.parameters())


def _check_parameter_count(config: Any, model_name: str, path: Path) -> None:
    """Refuse a config that would build more than MAX_SIZE_FACTOR times the paper model's parameters."""
    try:
        count = _parameter_count(config)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path}: cannot build the model its card describes ({exc})") from None
    limit = MAX_SIZE_FACTOR * _paper_parameter_count(model_name)
    if count > limit:
        raise CheckpointError(f"{path}: its card describes a {model_name} with {count:,} parameters, more than "
                              f"{MAX_SIZE_FACTOR}x the paper model ({limit:,} at most); refused before allocating")


def check_checkpoint(path: str | Path, expected_model: str | None = None) -> dict:
    """Cheap checks before any tensor is read: file kind, presence, card, model name; returns the card."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(f"{path}: pickle-based checkpoints ({path.suffix}) are refused because "
                              "loading them can run code; use a .safetensors checkpoint")
    if path.suffix.lower() != ".safetensors":
        raise CheckpointError(f"{path}: not a .safetensors checkpoint")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    card = read_card(path)
    if expected_model is not None and card["model"] != expected_model:
        raise CheckpointError(f"{path}: this is a checkpoint of {card['model']!r}, not of {expected_model!r}")
    return card


def load_checkpoint(path: str | Path, expected_model: str | None = None,
                    device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Build the model described by the card and load its weights (eval mode).

    Refuses pickle-based files without opening them, and raises CheckpointError with one
    line naming the file for a missing, truncated, corrupt, oversized, non-finite or mismatched
    checkpoint.
    """
    path = Path(path)
    card = check_checkpoint(path, expected_model)
    config = config_from_card(card, path)
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({str(exc).splitlines()[0]})") from None
    try:
        model = config.build()
    except (ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: cannot build the model its card describes ({exc})") from None
    _check_state(path, model, state)
    _check_finite(path, state)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), card


def _check_state(path: Path, model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        what = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(f"{path}: tensors do not match the model ({what}{'...' if len(missing or unexpected) > 3 else ''})")
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(f"{path}: tensor {key} has shape {tuple(state[key].shape)}, "
                                  f"the model needs {tuple(tensor.shape)}")


def _check_finite(path: Path, state: dict[str, torch.Tensor]) -> None:
    """Refuse weights holding NaN or Inf: such a model would only ever produce NaN fields."""
    for key, tensor in state.items():
        if tensor.is_floating_point():
            bad = tensor.numel() - int(torch.isfinite(tensor).sum())
            if bad:
                raise CheckpointError(f"{path}: tensor {key} holds {bad:,} NaN or Inf values; "
                                      "the checkpoint is damaged (was training diverging?)")
