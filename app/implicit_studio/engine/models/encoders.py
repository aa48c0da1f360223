"""Encoders: ResNet-PointNet (global code), small image CNN, local-pooling PointNet with U-Nets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ResnetBlockFC


class ResnetPointNet(nn.Module):
    """PointNet with residual blocks and max-pool feature sharing: (B, N, 3) -> (B, c_dim)."""

    def __init__(self, c_dim: int = 512, hidden: int = 512, n_blocks: int = 5):
        super().__init__()
        self.fc_pos = nn.Linear(3, 2 * hidden)
        self.blocks = nn.ModuleList(ResnetBlockFC(2 * hidden, hidden) for _ in range(n_blocks))
        self.fc_c = nn.Linear(hidden, c_dim)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        net = self.blocks[0](self.fc_pos(points))
        for block in self.blocks[1:]:
            pooled = net.max(dim=1, keepdim=True).values.expand_as(net)
            net = block(torch.cat([net, pooled], dim=2))
        return self.fc_c(torch.relu(net.max(dim=1).values))


class ImageEncoder(nn.Module):
    """Small CNN trained from scratch (no pretrained weights can be had): (B, 3, H, W) -> (B, c_dim).

    Five stride-2 conv stages with batch norm, global average pooling and a linear head.
    """

    def __init__(self, c_dim: int = 256, width: int = 32):
        super().__init__()
        chans = [3, width, 2 * width, 4 * width, 8 * width, 8 * width]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                       nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(chans[-1], c_dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(image).mean(dim=(2, 3)))


PLANES = {"xz": (0, 2), "xy": (0, 1), "yz": (1, 2)}


def normalize_coords(points: torch.Tensor, padding: float) -> torch.Tensor:
    """Box coordinates in [-(1+padding)/2, (1+padding)/2] -> [0, 1), as (B, N, D)."""
    unit = points / (1.0 + padding + 1e-3) + 0.5
    return unit.clamp(0.0, 1.0 - 1e-5)


def cell_index(unit: torch.Tensor, reso: int) -> torch.Tensor:
    """(B, N, D) coordinates in [0, 1) -> (B, N) flat cell index (x fastest)."""
    idx = (unit * reso).long()
    flat = idx[..., 0]
    stride = reso
    for d in range(1, unit.shape[-1]):
        flat = flat + stride * idx[..., d]
        stride *= reso
    return flat


def scatter(features: torch.Tensor, index: torch.Tensor, cells: int, reduce: str) -> torch.Tensor:
    """Pool point features into cells: features (B, N, C), index (B, N) -> (B, C, cells)."""
    b, _, c = features.shape
    out = features.new_zeros(b, c, cells)
    src = features.transpose(1, 2)
    idx = index[:, None, :].expand(-1, c, -1)
    return out.scatter_reduce(2, idx, src, reduce=reduce, include_self=False)


class LocalPoolPointNet(nn.Module):
    """ConvONet encoder: PointNet with local max pooling, scattered into planes or a grid.

    points (B, N, 3) -> dict of feature maps: planes "xz", "xy", "yz" (B, c_dim, R, R) or
    "grid" (B, c_dim, R, R, R), each refined by a U-Net.
    """

    def __init__(self, c_dim: int = 32, hidden: int = 32, n_blocks: int = 5, kind: str = "3plane",
                 reso: int = 64, unet_depth: int = 4, unet_filters: int = 32, padding: float = 0.1):
        super().__init__()
        self.kind, self.reso, self.padding = kind, reso, padding
        self.fc_pos = nn.Linear(3, 2 * hidden)
        self.blocks = nn.ModuleList(ResnetBlockFC(2 * hidden, hidden) for _ in range(n_blocks))
        self.fc_c = nn.Linear(hidden, c_dim)
        if kind == "3plane":
            self.unet = UNet(c_dim, c_dim, depth=unet_depth, filters=unet_filters, dims=2)
        elif kind == "grid":
            self.unet = UNet(c_dim, c_dim, depth=unet_depth, filters=unet_filters, dims=3)
        else:
            raise ValueError(f"unknown ConvONet feature kind {kind!r}")

    def _keys(self) -> list[str]:
        return list(PLANES) if self.kind == "3plane" else ["grid"]

    def _unit(self, points: torch.Tensor, key: str) -> torch.Tensor:
        unit = normalize_coords(points, self.padding)
        return unit if key == "grid" else unit[..., list(PLANES[key])]

    def forward(self, points: torch.Tensor) -> dict[str, torch.Tensor]:
        keys = self._keys()
        cells = {k: self.reso ** (3 if k == "grid" else 2) for k in keys}
        index = {k: cell_index(self._unit(points, k), self.reso) for k in keys}
        net = self.blocks[0](self.fc_pos(points))
        for block in self.blocks[1:]:
            pooled = 0
            for k in keys:
                cell_max = scatter(net, index[k], cells[k], "amax")
                pooled = pooled + torch.gather(cell_max, 2, index[k][:, None, :].expand(-1, net.shape[2], -1)).transpose(1, 2)
            net = block(torch.cat([net, pooled], dim=2))
        c = self.fc_c(net)
        shape = (self.reso,) * (3 if self.kind == "grid" else 2)
        maps = [scatter(c, index[k], cells[k], "mean").reshape(c.shape[0], c.shape[2], *shape) for k in keys]
        # one U-Net call over all planes (stacked on the batch axis) is faster than one per plane
        refined = self.unet(torch.cat(maps, dim=0)).split(c.shape[0], dim=0)
        return dict(zip(keys, refined))


class UNet(nn.Module):
    """U-Net over 2D planes or a 3D grid: (B, C_in, *S) -> (B, C_out, *S), S divisible by 2**(depth-1)."""

    def __init__(self, c_in: int, c_out: int, depth: int = 4, filters: int = 32, dims: int = 2):
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        upconv = nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose3d
        self.pool = F.max_pool2d if dims == 2 else F.max_pool3d
        widths = [filters * 2 ** i for i in range(depth)]
        self.down = nn.ModuleList()
        cin = c_in
        for w in widths:
            self.down.append(nn.Sequential(conv(cin, w, 3, padding=1), nn.ReLU(inplace=True), conv(w, w, 3, padding=1), nn.ReLU(inplace=True)))
            cin = w
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for w_hi, w_lo in zip(widths[::-1][:-1], widths[::-1][1:]):
            self.up.append(upconv(w_hi, w_lo, 2, stride=2))
            self.merge.append(nn.Sequential(conv(2 * w_lo, w_lo, 3, padding=1), nn.ReLU(inplace=True), conv(w_lo, w_lo, 3, padding=1), nn.ReLU(inplace=True)))
        self.out = conv(widths[0], c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            if i > 0:
                x = self.pool(x, 2)
            x = block(x)
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, skips[::-1][1:]):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.out(x)
