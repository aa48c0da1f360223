"""What a reconstruction starts from: a point cloud or an image, in the unit frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .normalize import Normalization


@dataclass
class InputData:
    """One input, normalised the ONet way.

    kind : "points" or "image"
    points : (N, 3) float32 in the unit frame, or None for an image
    normals : (N, 3) float32 unit vectors, or None when the file had none
    image : (H, W, 3) uint8 RGB, or None for a point cloud
    gt_mesh : a trimesh.Trimesh in the unit frame when the input was a mesh (ground truth)
    normalization : maps unit-frame results back to the user's coordinates
    notices : things the user should be told (e.g. "downsampled from 10,000,000 points")
    """

    source: str
    kind: Literal["points", "image"]
    points: np.ndarray | None = None
    normals: np.ndarray | None = None
    image: np.ndarray | None = None
    gt_mesh: object | None = None
    normalization: Normalization = field(default_factory=Normalization.identity)
    notices: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for a status bar or log."""
        if self.kind == "image":
            h, w = self.image.shape[:2]
            return f"image {w}x{h}"
        text = f"{len(self.points):,} points" + (" with normals" if self.normals is not None else "")
        if self.gt_mesh is not None:
            text += f", ground-truth mesh ({len(self.gt_mesh.faces):,} faces)"
        return text
