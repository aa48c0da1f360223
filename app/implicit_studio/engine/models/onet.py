"""Occupancy Networks (Mescheder et al., CVPR 2019): global code + conditional-BN decoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .encoders import ImageEncoder, ResnetPointNet
from .layers import CBatchNorm, CResnetBlock


@dataclass
class ONetConfig:
    """Sizes of an Occupancy Network; ``encoder`` is "pointcloud" or "image"."""

    encoder: str = "pointcloud"
    c_dim: int = 128              # size of the global shape code
    hidden: int = 128             # decoder width (paper: 256)
    n_blocks: int = 5             # conditional residual blocks in the decoder
    encoder_hidden: int = 128     # ResNet-PointNet width (paper: 512)
    image_width: int = 32         # first CNN stage channels (image encoder)
    image_size: int = 128         # input image side (paper: 224)
    n_input_points: int = 300     # points fed to the encoder
    input_noise: float = 0.005    # Gaussian noise std on input points in training

    def build(self) -> "ONet":
        return ONet(self)


class CBNDecoder(nn.Module):
    """f(p, c) -> occupancy logit: points (B, T, 3), code (B, C) -> (B, T)."""

    def __init__(self, c_dim: int, hidden: int, n_blocks: int):
        super().__init__()
        self.fc_p = nn.Linear(3, hidden)
        self.blocks = nn.ModuleList(CResnetBlock(c_dim, hidden) for _ in range(n_blocks))
        self.bn = CBatchNorm(c_dim, hidden)
        self.fc_out = nn.Linear(hidden, 1)

    def forward(self, points: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        net = self.fc_p(points)
        for block in self.blocks:
            net = block(net, code)
        return self.fc_out(torch.relu(self.bn(net, code))).squeeze(-1)


class ONet(nn.Module):
    """Encoder (point cloud or image) -> global code -> CBN decoder of occupancy logits."""

    def __init__(self, cfg: ONetConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.encoder == "pointcloud":
            self.encoder = ResnetPointNet(cfg.c_dim, cfg.encoder_hidden)
        elif cfg.encoder == "image":
            self.encoder = ImageEncoder(cfg.c_dim, cfg.image_width)
        else:
            raise ValueError(f"unknown ONet encoder {cfg.encoder!r}")
        self.decoder = CBNDecoder(cfg.c_dim, cfg.hidden, cfg.n_blocks)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, N, 3) points or (B, 3, H, W) image in [0, 1] -> (B, c_dim) code."""
        return self.encoder(inputs)

    def decode(self, points: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """(B, T, 3) query points -> (B, T) occupancy logits."""
        return self.decoder(points, code)

    def forward(self, points: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return self.decode(points, self.encode(inputs))
