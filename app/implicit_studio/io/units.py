"""Scenes keep their size: a room scan in metres, centimetres or millimetres, expressed in metres.

Object models squeeze every input into the unit box (``io.normalize``); the scene model works at a
fixed scale in metres (``engine.scene_frame``), so its input is re-expressed in metres around the
same centre, with the same up axis, and results map back to the file's own units on export.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import InputError
from .inputs import InputData

METRES_PER_UNIT = {"m": 1.0, "cm": 0.01, "mm": 0.001}
ROOM_EXTENT_M = (2.0, 60.0)     # longest sides that read as a room or a building floor


def parse_units(text: str) -> str:
    """``"m"``, ``"cm"`` or ``"mm"`` (any case); InputError otherwise."""
    units = text.strip().lower()
    if units not in METRES_PER_UNIT:
        raise InputError(f"unknown units {text!r}; choose one of {', '.join(METRES_PER_UNIT)}")
    return units


def in_metres(data: InputData, units: str) -> InputData:
    """A copy of point input ``data`` (unit frame) with its points in metres around the same centre:
    the file's coordinates are read as ``units``. A notice is added when the extent suggests
    other units."""
    units = parse_units(units)
    if data.kind != "points":
        raise InputError(f"{data.source}: a scene must be a point cloud or a mesh, not an image")
    factor = data.normalization.scale * METRES_PER_UNIT[units]      # metres per unit-frame unit
    points = (data.points.astype(np.float64) * factor).astype(np.float32)
    gt_mesh = None
    if data.gt_mesh is not None:
        gt_mesh = data.gt_mesh.copy()
        gt_mesh.apply_scale(factor)
    extent = float((points.max(axis=0) - points.min(axis=0)).max())
    notice = units_notice(extent, units)
    norm = replace(data.normalization, scale=1.0 / METRES_PER_UNIT[units])
    return replace(data, points=points, gt_mesh=gt_mesh, normalization=norm,
                   notices=data.notices + ([notice] if notice else []))


def units_notice(extent_m: float, units: str) -> str | None:
    """One line when a scene whose longest side reads as ``extent_m`` metres in ``units`` is
    probably in other units (or is not a scene at all); None when it looks like a room."""
    low, high = ROOM_EXTENT_M
    if extent_m > high:
        better = [u for u, f in METRES_PER_UNIT.items() if low <= extent_m * f / METRES_PER_UNIT[units] <= high]
        hint = f"; if the file is in {better[0]}, pass --units {better[0]}" if better else ""
        return f"the scene is {extent_m:,.0f} m across read as {units}{hint}"
    if extent_m < low:
        return (f"the scene is only {extent_m:.2f} m across read as {units}: the scene model expects rooms; "
                "for a single object choose an object model")
    return None
