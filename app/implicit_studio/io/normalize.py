"""The ONet normalisation: centre at the bounding-box centre, longest side 1, y up.

Models work in this unit frame (the padded box ``BOX``); results are
mapped back to the user's own coordinates and units on export. A scan whose up axis is
not +y gets a rotation too (``io.orientation``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOX = 1.1              # models work in the padded unit box [-BOX / 2, BOX / 2]^3
BOX_HALF = BOX / 2


@dataclass(frozen=True)
class Normalization:
    """Maps user coordinates to the unit frame: ``unit = rotation @ (user - center) / scale``.

    center : (3,) float64, the bounding-box centre in user coordinates
    scale : float, the longest bounding-box side in user units (1.0 = identity)
    rotation : (3, 3) float64 proper rotation, or None for none (the user's axes are kept)
    """

    center: np.ndarray
    scale: float
    rotation: np.ndarray | None = None

    @classmethod
    def identity(cls) -> "Normalization":
        return cls(np.zeros(3), 1.0)

    @classmethod
    def fit(cls, points: np.ndarray) -> "Normalization":
        """Fit to ``points`` (N, 3); a degenerate extent (all points equal) keeps scale 1."""
        pts = np.asarray(points, dtype=np.float64)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        extent = float((hi - lo).max())
        scale = extent if np.isfinite(extent) and extent > 0 else 1.0
        return cls((lo + hi) / 2.0, scale)

    def to_unit(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) user coordinates -> (N, 3) float32 unit-frame coordinates."""
        unit = (np.asarray(points, dtype=np.float64) - self.center) / self.scale
        return (unit if self.rotation is None else unit @ self.rotation.T).astype(np.float32)

    def to_user(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) unit-frame coordinates -> (N, 3) float64 user coordinates."""
        unit = np.asarray(points, dtype=np.float64)
        return (unit if self.rotation is None else unit @ self.rotation) * self.scale + self.center
