"""The metric frame of the scene model: how a crop of a room maps into the model's unit box.

The scene model (``convonet-scene``) sees a scene through cubic crops of a fixed size in metres,
whatever the scene's extent. A crop centred at ``c`` (metres, y up) maps metres to box units by
``(p - c) / UNIT_M``: the crop is the model's padded box ``[-BOX / 2, BOX / 2]^3``, i.e.
``BOX * UNIT_M`` metres on a side. Each crop meshes only its central ``CORE_M`` cube (a *tile*);
the rest of the crop is context, so the features near a tile's border have seen both sides of it.
Training (``train.data.rooms``) and sliding-window inference (``engine.tiling``) both use this frame.
"""

from __future__ import annotations

import numpy as np

from ..io.normalize import BOX_HALF

UNIT_M = 1.25                  # metres per box unit: the crop is BOX * UNIT_M = 1.375 m on a side
CORE_M = 1.0                   # the side of the cube a tile meshes, centred in its crop
CROP_HALF_M = BOX_HALF * UNIT_M


def in_crop(points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(N, 3) metres, (3,) crop centre -> (N,) bool: strictly inside the crop cube."""
    return np.all(np.abs(np.asarray(points) - centre) < CROP_HALF_M, axis=1)


def to_box(points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(N, 3) metres -> (N, 3) float32 box units of the crop centred at ``centre`` (3,)."""
    return ((np.asarray(points, dtype=np.float64) - centre) / UNIT_M).astype(np.float32)


def to_metres(points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(N, 3) box units of the crop centred at ``centre`` -> (N, 3) float64 metres."""
    return np.asarray(points, dtype=np.float64) * UNIT_M + centre
