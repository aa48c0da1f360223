"""Named models, each with a CPU-size config (the default on CPU) and the paper-size config."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models.convonet import ConvONetConfig
from ..models.onet import ONetConfig
from ..models.siren import SirenConfig
from .errors import InputError

CONFIG_TYPES = {"onet": ONetConfig, "convonet": ConvONetConfig, "siren": SirenConfig}


@dataclass(frozen=True)
class ModelSpec:
    """What the application knows about a model before any weights are loaded.

    input_kind : "points" or "image"
    learned : True for models that need trained weights; False for per-shape fits (SIREN, ReLU MLP)
    threshold : default iso-level as a probability for occupancy models, a distance for SDF models
    """

    name: str
    title: str
    family: str
    input_kind: str
    learned: bool
    threshold: float
    description: str
    cpu: Any
    paper: Any

    def config(self, size: str = "cpu"):
        """A fresh copy of the "cpu" or "paper" config."""
        if size not in ("cpu", "paper"):
            raise InputError(f"unknown model size {size!r}: choose cpu or paper")
        return dataclasses.replace(self.cpu if size == "cpu" else self.paper)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "onet-pointcloud", "Occupancy Network (point cloud)", "onet", "points", True, 0.2,
            "Global 128-d code from a ResNet-PointNet, conditional-batch-norm decoder. Smooth, "
            "whole-object shapes; loses thin detail (the slides' 'oversmooth').",
            ONetConfig("pointcloud"),
            ONetConfig("pointcloud", c_dim=512, hidden=256, encoder_hidden=512),
        ),
        ModelSpec(
            "onet-image", "Occupancy Network (single image)", "onet", "image", True, 0.2,
            "Small CNN trained from scratch encodes one RGB image; same decoder as the point model.",
            ONetConfig("image", c_dim=128, image_size=128),
            ONetConfig("image", c_dim=256, hidden=256, image_size=224, image_width=64),
        ),
        ModelSpec(
            "convonet-3plane", "Convolutional ONet (3 planes)", "convonet", "points", True, 0.2,
            "Local features on three axis-aligned planes with a 2D U-Net; keeps local detail and is "
            "the fastest to mesh on a CPU. Wants upright, axis-aligned input: a tilted or yawed scan "
            "loses detail (prefer the 3D grid then).",
            ConvONetConfig("3plane", reso=64, unet_depth=4, unet_filters=32),
            ConvONetConfig("3plane", reso=64, unet_depth=4, unet_filters=32),
        ),
        ModelSpec(
            "convonet-grid", "Convolutional ONet (3D grid)", "convonet", "points", True, 0.2,
            "Local features on a 32^3 grid with a 3D U-Net; the least sensitive to how the input "
            "is rotated.",
            ConvONetConfig("grid", reso=32, unet_depth=3, unet_filters=16),
            ConvONetConfig("grid", reso=32, unet_depth=3, unet_filters=32),
        ),
        ModelSpec(
            "siren", "SIREN (fitted to your points)", "siren", "points", False, 0.0,
            "A sine-activated MLP fitted to this one shape's oriented points as a signed distance "
            "function; no training data, sharp detail, needs some seconds of fitting.",
            SirenConfig("sine", width=64, lr=1e-3, batch=2048),
            SirenConfig("sine", width=256, batch=16384),
        ),
        ModelSpec(
            "relu-mlp", "ReLU MLP (baseline fit)", "siren", "points", False, 0.0,
            "The same MLP with ReLU instead of sine, fitted the same way: the slides' oversmooth baseline.",
            SirenConfig("relu", width=64, lr=1e-3, batch=2048),
            SirenConfig("relu", width=256, batch=16384),
        ),
    ]
}


def get_spec(name: str) -> ModelSpec:
    """The spec of model ``name``; an InputError lists the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}") from None


def checkpoint_dir() -> Path:
    """Folder of shipped checkpoints: $IMPLICIT_STUDIO_CHECKPOINTS, else the repository's checkpoints/."""
    env = os.environ.get("IMPLICIT_STUDIO_CHECKPOINTS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "checkpoints"


def default_checkpoint(name: str) -> Path | None:
    """The shipped weights of model ``name`` (``checkpoints/NAME.safetensors``), or None."""
    path = checkpoint_dir() / f"{name}.safetensors"
    return path if path.is_file() else None
