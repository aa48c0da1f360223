"""Progress events a reconstruction session yields; plain data, no Qt, safe to send across threads."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..io.photo import Isolation


@dataclass
class Started:
    model: str
    device: str
    checkpoint: str | None
    input_summary: str


Isolated = Isolation
"""An image input's object was isolated and framed, before encoding: ``io.photo.Isolation``
(mask, framed image, box, method, problem) as the session yields it."""


@dataclass
class Encoded:
    """The input was encoded (learned models) or the fit set up (SIREN)."""

    seconds: float


@dataclass
class FitProgress:
    """Weighted loss terms after ``step`` optimisation steps of ``stage``: "fit" (SIREN / ReLU
    fitted from scratch) or "refine" (a learned model's features tuned to this input)."""

    step: int
    seconds: float
    total: float
    terms: dict[str, float]
    steps_per_s: float
    stage: str = "fit"


@dataclass
class LevelMesh:
    """A mesh in the unit frame: vertices (V, 3) float32, faces (F, 3) int64.

    ``final`` is True for the last mesh of the run. While SIREN fits (or refinement runs) it emits
    ``preview`` meshes of the current weights (``fit_step`` says after how many steps); a preview
    that is not of a fit says what it shows in ``note`` (the input as loaded, before Find pose).
    """

    level: int
    levels: int
    resolution: int
    vertices: np.ndarray
    faces: np.ndarray
    evaluations: int
    seconds: float
    final: bool = False
    preview: bool = False
    fit_step: int | None = None
    note: str = ""


@dataclass
class TileMesh:
    """The scene model meshed one more tile of the scene: its part of the surface, vertices (V, 3)
    float32 in the session's frame (metres), faces (F, 3) int64; ``done`` of ``total`` tiles so far."""

    tile: tuple[int, int, int]
    done: int
    total: int
    vertices: np.ndarray
    faces: np.ndarray
    seconds: float


@dataclass
class Finished:
    """The run ended; ``stats`` is the JSON-ready summary, ``cancelled`` if it was stopped early."""

    stats: dict = field(default_factory=dict)
    cancelled: bool = False


Event = Started | Isolated | Encoded | FitProgress | LevelMesh | TileMesh | Finished
