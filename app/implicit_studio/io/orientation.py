"""Which way is up: turn a scan so that its up axis becomes the models' +y.

Every model was trained on upright shapes (y up), and a scan in another pose costs quality
(``scripts/orientation_check.py`` measures how much). ``reorient`` rotates an
input's unit-frame arrays by a quarter or half turn and records the rotation in its
``Normalization``, so meshes still go back to the user's own coordinates on export.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import InputError
from .inputs import InputData

# proper rotations (det +1) taking each axis to +y; "+z": (x, y, z) -> (x, z, -y), a z-up scan stands up
UP_ROTATIONS: dict[str, np.ndarray] = {
    "+y": np.eye(3),
    "+z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
    "-z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    "+x": np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    "-x": np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    "-y": np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]),
}
UP_AXES = tuple(UP_ROTATIONS)


def parse_up(text: str) -> str:
    """"z", "+Z", " -x" ... -> one of ``UP_AXES``; anything else is an InputError."""
    up = text.strip().lower()
    up = up if up[:1] in "+-" else "+" + up
    if up not in UP_ROTATIONS:
        raise InputError(f"unknown up axis {text!r}; choose one of {', '.join(UP_AXES)}")
    return up


def current_up(data: InputData) -> str:
    """The up axis ``data`` was turned with ("+y" when it never was)."""
    rotation = data.normalization.rotation
    if rotation is None:
        return "+y"
    return next(up for up, r in UP_ROTATIONS.items() if np.array_equal(r, rotation))


def reorient(data: InputData, up: str) -> InputData:
    """A copy of ``data`` turned so that the user's axis ``up`` points along +y.

    Relative to the file's own axes, so calling it again with another axis replaces the turn.
    Points, normals and the ground-truth mesh are rotated in the unit frame (the rotation
    keeps the bounding box centred, so centre and scale stay valid); images are left alone.
    """
    up, now = parse_up(up), current_up(data)
    if data.kind != "points" or up == now:
        return data
    turn = UP_ROTATIONS[up] @ UP_ROTATIONS[now].T      # from the current frame to the new

    def turned(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else (a @ turn.T).astype(a.dtype)

    gt = data.gt_mesh
    if gt is not None:
        gt = gt.copy()
        gt.vertices = turned(np.asarray(gt.vertices))
    norm = replace(data.normalization, rotation=None if up == "+y" else UP_ROTATIONS[up])
    return replace(data, points=turned(data.points), normals=turned(data.normals), gt_mesh=gt,
                   normalization=norm, notices=list(data.notices))
