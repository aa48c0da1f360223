"""Convolutional Occupancy Networks (Peng et al., ECCV 2020): local features on planes or a grid."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .encoders import PLANES, LocalPoolPointNet, normalize_coords
from .layers import ResnetBlockFC


@dataclass
class ConvONetConfig:
    """Sizes of a ConvONet; ``kind`` is "3plane" (three 2D feature planes) or "grid" (one 3D grid)."""

    kind: str = "3plane"
    c_dim: int = 32               # feature channels per plane / grid cell
    hidden: int = 32              # encoder PointNet and decoder width
    n_blocks: int = 5
    reso: int = 64                # plane side (3plane) or grid side (grid)
    unet_depth: int = 4
    unet_filters: int = 32
    padding: float = 0.1
    n_input_points: int = 3000
    input_noise: float = 0.005

    def build(self) -> "ConvONet":
        return ConvONet(self)


def sample_features(features: dict[str, torch.Tensor], points: torch.Tensor, padding: float) -> torch.Tensor:
    """Bilinear (planes, summed) or trilinear (grid) feature lookup: points (B, T, 3) -> (B, T, C)."""
    unit = normalize_coords(points, padding)
    total = 0
    for key, fmap in features.items():
        if key == "grid":
            grid = (2.0 * unit - 1.0)[:, :, None, None, :]
            sampled = F.grid_sample(fmap, grid, mode="bilinear", padding_mode="border", align_corners=True)
            sampled = sampled[:, :, :, 0, 0]
        else:
            grid = (2.0 * unit[..., list(PLANES[key])] - 1.0)[:, :, None, :]
            sampled = F.grid_sample(fmap, grid, mode="bilinear", padding_mode="border", align_corners=True)[..., 0]
        total = total + sampled
    return total.transpose(1, 2)


class LocalDecoder(nn.Module):
    """Shallow occupancy readout: p (B, T, 3) and local features (B, T, C) -> logits (B, T)."""

    def __init__(self, c_dim: int, hidden: int, n_blocks: int):
        super().__init__()
        self.fc_p = nn.Linear(3, hidden)
        self.fc_c = nn.ModuleList(nn.Linear(c_dim, hidden) for _ in range(n_blocks))
        self.blocks = nn.ModuleList(ResnetBlockFC(hidden) for _ in range(n_blocks))
        self.fc_out = nn.Linear(hidden, 1)

    def forward(self, points: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        net = self.fc_p(points)
        for fc_c, block in zip(self.fc_c, self.blocks):
            net = block(net + fc_c(feats))
        return self.fc_out(torch.relu(net)).squeeze(-1)


class ConvONet(nn.Module):
    """Local-pooling PointNet + U-Net feature maps + shallow local decoder."""

    def __init__(self, cfg: ConvONetConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = LocalPoolPointNet(cfg.c_dim, cfg.hidden, cfg.n_blocks, cfg.kind, cfg.reso,
                                         cfg.unet_depth, cfg.unet_filters, cfg.padding)
        self.decoder = LocalDecoder(cfg.c_dim, cfg.hidden, cfg.n_blocks)

    def encode(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, N, 3) points -> feature maps (see LocalPoolPointNet)."""
        return self.encoder(inputs)

    def decode(self, points: torch.Tensor, code: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, T, 3) query points -> (B, T) occupancy logits."""
        return self.decoder(points, sample_features(code, points, self.cfg.padding))

    def forward(self, points: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return self.decode(points, self.encode(inputs))
