"""What a reconstruction is asked to do, declared once: each setting's default, range, unit and help.

The CLI's options, the window's spin boxes and the API's ``Settings`` all read ``PARAMETERS``,
so they cannot disagree. Kept free of torch: the argument parser imports it before anything heavy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError

# best first: the 3D-grid ConvONet scores highest on the test and held-out splits and loses least
# when the input is rotated (the model cards and scripts/orientation_check.py); the 3-plane one is the fastest
DEFAULT_MODELS = ("convonet-grid", "convonet-3plane")

OCCUPANCY_THRESHOLD = 0.2   # ONet's default iso-level, for weights whose card names none
SDF_LEVEL = 0.0             # fitted signed distance functions mesh their zero level set
# "straighten": the learned point models see the scan turned to the axes of its tightest box;
# "auto": they look for the pose they fit the scan best in (``engine.pose``)
POSES = ("as-is", "straighten", "auto")
DEFAULT_POSE = "as-is"


@dataclass(frozen=True)
class Parameter:
    """One numeric setting: ``low <= value <= high`` (open at an end where ``open_ends`` says so)."""

    name: str
    default: float | None
    low: float
    high: float
    unit: str
    help: str
    step: float = 1.0
    decimals: int = 0
    open_ends: bool = False

    def check(self, value: float, flag: str | None = None) -> None:
        """Raise InputError with one line when ``value`` is outside the range."""
        inside = (self.low < value < self.high) if self.open_ends else (self.low <= value <= self.high)
        if not (math.isfinite(value) and inside):
            brackets = "()" if self.open_ends else "[]"
            raise InputError(f"{flag or '--' + self.name.replace('_', '-')} must be in "
                             f"{brackets[0]}{self.low:g}, {self.high:g}{brackets[1]}, not {value:g}")


PARAMETERS: dict[str, Parameter] = {p.name: p for p in [
    Parameter("resolution0", 32, 4, 256, "cells", "grid resolution of the first MISE level", step=8),
    Parameter("levels", 2, 0, 4, "", "subdivision levels: each doubles the resolution near the surface"),
    Parameter("seconds", 20.0, 0.1, 600.0, "s", "fitting time for SIREN and the ReLU MLP", decimals=1),
    Parameter("refine", None, 0.0, 600.0, "s", "test-time refinement of a learned model's features to "
              "this input, after the prior's meshes (0: off; default: the model's measured budget; scene model: "
              "per tile, default off)", decimals=1),
    Parameter("ensemble", 1, 1, 24, "turns", "learned point models: average the field over this many quarter "
              "turns of the input (test-time augmentation; 1: off; each turn costs one more encoding and decoding)"),
    Parameter("voxel", 0.02, 0.005, 0.1, "m", "scene model: the lattice step its meshes are made on",
              step=0.005, decimals=3),
    Parameter("trim", 0.0, 0.0, 0.15, "m", "scene model: drop the mesh's faces farther than this from every "
              "input point, as screened Poisson's density trim does (0: keep the whole closed scene)",
              step=0.01, decimals=3),
    Parameter("mesh_every", 2.0, 0.1, math.inf, "s", "seconds of fitting between intermediate meshes", decimals=1),
]}
# the threshold's meaning depends on the model: a probability, or a signed distance in the unit box
OCCUPANCY = Parameter("threshold", None, 0.0, 1.0, "", "occupancy probability the surface is meshed at "
                      "(default: the one the checkpoint was tuned to)", step=0.05, decimals=3, open_ends=True)
SDF = Parameter("threshold", SDF_LEVEL, -0.2, 0.2, "", "signed distance level the surface is meshed at",
                step=0.01, decimals=3)
MAX_FINE_RESOLUTION = 1024


def parse_pose(text: str) -> str:
    """``text`` if it is one of ``POSES``, else an InputError of one line."""
    if text not in POSES:
        raise InputError(f"pose must be one of {', '.join(POSES)}, not {text!r}")
    return text


def threshold_parameter(learned: bool) -> Parameter:
    """The threshold's range for an occupancy model (``learned``) or a fitted SDF."""
    return OCCUPANCY if learned else SDF


@dataclass
class Settings:
    """What to reconstruct with; the defaults are the application's defaults (``PARAMETERS``).

    threshold : occupancy probability for ONet/ConvONet (default: the checkpoint card's),
        signed distance level for SIREN (default 0)
    seconds : SIREN / ReLU fitting time budget
    refine : seconds of test-time refinement for learned point models (None: the model's default, 0: off;
        the scene model: seconds per tile, default off)
    mesh_every : seconds between intermediate meshes while fitting
    n_input_points : at most this many of the input's points are fed to a learned encoder (default:
        the count its checkpoint's card was tuned to, ``encoder_points``, else its training count)
    units : what the input's coordinates are in, for the scene model: "m", "cm" or "mm"
    voxel : the scene model's lattice step in metres
    trim : the scene model: faces farther than this (metres) from every input point are dropped (0: none)
    box : (x0, y0, x1, y1) pixels of an image input that hold the object (None: the object is
        looked for from a centred box, see ``io.photo``)
    pose : for a learned point model (not the scene model): "as-is" (the input's own axes),
        "straighten" (the input turned to the axes of its tightest box when it is clearly off them,
        ``engine.pose.straighten``: instant) or "auto" (the input tried in 25 poses, the one its coarse
        mesh fits best kept, ``engine.pose.find_pose``: seconds); meshes still come back in the
        input's frame
    ensemble : a learned point model's (not the scene model's) field is the mean of its fields in
        this many quarter turns of the input (``engine.ensemble``; 1: the model alone)
    """

    model: str = DEFAULT_MODELS[0]
    checkpoint: str | None = None
    resolution0: int = PARAMETERS["resolution0"].default
    levels: int = PARAMETERS["levels"].default
    threshold: float | None = None
    device: str = "auto"
    seconds: float = PARAMETERS["seconds"].default
    refine: float | None = None
    mesh_every: float = PARAMETERS["mesh_every"].default
    n_input_points: int | None = None
    seed: int = 0
    batch_points: int = 16384
    units: str = "m"
    voxel: float = PARAMETERS["voxel"].default
    trim: float = PARAMETERS["trim"].default
    box: tuple[int, int, int, int] | None = None
    pose: str = DEFAULT_POSE
    ensemble: int = PARAMETERS["ensemble"].default

    def validate(self):
        """Check the settings (and a learned model's checkpoint) without loading anything heavy;
        returns the model's ``ModelSpec``."""
        from .registry import get_spec
        from .session import resolve_checkpoint

        spec = get_spec(self.model)
        for name in ("resolution0", "levels", "seconds", "mesh_every", "voxel", "trim", "ensemble"):
            PARAMETERS[name].check(getattr(self, name))
        if spec.metric:
            from ..io.units import parse_units

            parse_units(self.units)
        if self.resolution0 * 2 ** self.levels > MAX_FINE_RESOLUTION:
            raise InputError(f"resolution0 * 2**levels must be at most {MAX_FINE_RESOLUTION}, "
                             f"not {self.resolution0 * 2 ** self.levels}")
        if self.refine is not None:
            PARAMETERS["refine"].check(self.refine)
        parse_pose(self.pose)
        if self.threshold is not None:
            threshold_parameter(spec.learned).check(self.threshold)
        if spec.learned:
            resolve_checkpoint(spec, self.checkpoint)
        return spec
