"""Named models, each with a CPU-size config (the default on CPU) and the paper-size config."""

from __future__ import annotations

import dataclasses
import os
import site
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .models.convonet import ConvONetConfig
from .models.onet import ONetConfig
from .models.siren import SirenConfig
from ..errors import InputError
from .settings import OCCUPANCY_THRESHOLD, SDF_LEVEL

CONFIG_TYPES = {"onet": ONetConfig, "convonet": ConvONetConfig, "siren": SirenConfig}


@dataclass(frozen=True)
class ModelSpec:
    """What the application knows about a model before any weights are loaded.

    input_kind : "points" or "image"
    learned : True for models that need trained weights; False for per-shape fits (SIREN, ReLU MLP)
    threshold : default iso-level as a probability for occupancy models, a distance for SDF models
    refine_seconds : default test-time refinement budget for point inputs (0: none): about twice the
        time its refinement steps (``engine.fitting.refine.DEFAULTS``) took on 2 busy CPU cores;
        for the scene model, seconds per tile
    metric : True for the scene model: the input keeps its size in metres and is reconstructed
        crop by crop (``engine.scene_frame``, ``engine.tiling``) instead of being squeezed into one box
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
    refine_seconds: float = 0.0
    metric: bool = False

    def config(self, size: str = "cpu"):
        """A fresh copy of the "cpu" or "paper" config."""
        if size not in ("cpu", "paper"):
            raise InputError(f"unknown model size {size!r}: choose cpu or paper")
        return dataclasses.replace(self.cpu if size == "cpu" else self.paper)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "onet-pointcloud", "Occupancy Network (point cloud)", "onet", "points", True, OCCUPANCY_THRESHOLD,
            "Global 128-d code from a ResNet-PointNet, conditional-batch-norm decoder. Smooth, "
            "whole-object shapes; loses thin detail (the slides' 'oversmooth').",
            ONetConfig("pointcloud"),
            ONetConfig("pointcloud", c_dim=512, hidden=256, encoder_hidden=512),
            refine_seconds=8.0,
        ),
        ModelSpec(
            "onet-image", "Occupancy Network (single image)", "onet", "image", True, OCCUPANCY_THRESHOLD,
            "Small CNN trained from scratch encodes one RGB image; same decoder as the point model.",
            ONetConfig("image", c_dim=128, image_size=128),
            ONetConfig("image", c_dim=256, hidden=256, image_size=224, image_width=64),
        ),
        ModelSpec(
            "convonet-3plane", "Convolutional ONet (3 planes)", "convonet", "points", True, OCCUPANCY_THRESHOLD,
            "Local features on three axis-aligned planes with a 2D U-Net; keeps local detail and is "
            "the fastest to mesh on a CPU. Wants upright, axis-aligned input: a tilted or yawed scan "
            "loses detail (set Pose to straighten or find pose, or prefer the 3D grid).",
            ConvONetConfig("3plane", reso=64, unet_depth=4, unet_filters=32),
            ConvONetConfig("3plane", reso=64, unet_depth=4, unet_filters=32),
            refine_seconds=4.0,
        ),
        ModelSpec(
            "convonet-grid", "Convolutional ONet (3D grid)", "convonet", "points", True, OCCUPANCY_THRESHOLD,
            "Local features on a 3D grid with a 3D U-Net; the least sensitive to how the input "
            "is rotated.",
            ConvONetConfig("grid", reso=32, unet_depth=3, unet_filters=16),
            ConvONetConfig("grid", reso=32, unet_depth=3, unet_filters=32),
            refine_seconds=3.0,
        ),
        ModelSpec(
            "convonet-scene", "Convolutional ONet (scenes, metric)", "convonet", "points", True,
            OCCUPANCY_THRESHOLD,
            "The 3D-grid ConvONet trained on crops of synthetic rooms at a fixed scale in metres; "
            "reconstructs a room scan of any extent with a sliding window, tile by tile.",
            ConvONetConfig("grid", reso=32, unet_depth=3, unet_filters=16, n_input_points=4096),
            ConvONetConfig("grid", reso=64, unet_depth=4, unet_filters=32, n_input_points=4096),
            metric=True,
        ),
        ModelSpec(
            "siren", "SIREN (fitted to your points)", "siren", "points", False, SDF_LEVEL,
            "A sine-activated MLP fitted to this one shape's oriented points as a signed distance "
            "function; no training data, sharp detail, needs some seconds of fitting.",
            SirenConfig("sine", width=64, lr=1e-3, batch=2048),
            SirenConfig("sine", width=256, batch=16384),
        ),
        ModelSpec(
            "relu-mlp", "ReLU MLP (baseline fit)", "siren", "points", False, SDF_LEVEL,
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


def checkpoint_dirs() -> list[Path]:
    """The folders searched for shipped weights, in order (the first holding NAME.safetensors wins):

    1. ``$IMPLICIT_STUDIO_CHECKPOINTS``: one folder, or several separated by ``os.pathsep``
       (when set, nothing else is searched);
    2. ``checkpoints/`` of the source checkout this package runs from (the folder holding
       ``pyproject.toml`` above it);
    3. ``share/implicit-studio/checkpoints`` under the installation prefix, where an installed
       wheel puts them (``sys.prefix``, then the user's base, e.g. ``~/.local``).
    """
    env = os.environ.get("IMPLICIT_STUDIO_CHECKPOINTS")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    dirs = [parent / "checkpoints" for parent in Path(__file__).resolve().parents
            if (parent / "pyproject.toml").is_file()][:1]
    return dirs + [Path(prefix) / "share" / "implicit-studio" / "checkpoints"
                   for prefix in (sys.prefix, site.getuserbase())]


def default_checkpoint(name: str) -> Path | None:
    """The shipped weights of model ``name`` (``NAME.safetensors`` in ``checkpoint_dirs()``), or None."""
    return next((d / f"{name}.safetensors" for d in checkpoint_dirs() if (d / f"{name}.safetensors").is_file()),
                None)
