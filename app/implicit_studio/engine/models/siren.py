"""SIREN (Sitzmann et al., NeurIPS 2020) and the ReLU-MLP baseline, fitted to one shape as an SDF."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

SPHERE_RADIUS = 0.3   # the ReLU field starts as the distance to this sphere (unit frame)


@dataclass
class SirenConfig:
    """An MLP 3 -> width x (hidden_layers + 1) -> 1 fitted to one shape's signed distance.

    activation "sine" is SIREN (sin(omega0 * (Wx + b)) after every hidden layer);
    "relu" is the baseline of the slides' comparison, same width and depth.
    """

    activation: str = "sine"
    width: int = 128              # paper: 256
    hidden_layers: int = 3        # 256->256 layers after the first (paper: 3)
    omega0: float = 30.0
    coord_scale: float = 2.0      # unit frame (longest side 1) -> SIREN's [-1, 1] frame
    lr: float = 1e-4
    batch: int = 4096             # surface points per step (as many off-surface points)
    loss_weights: tuple[float, float, float, float] = (3000.0, 100.0, 100.0, 50.0)

    def build(self, generator: torch.Generator | None = None) -> "ImplicitMLP":
        return ImplicitMLP(self, generator)


class ImplicitMLP(nn.Module):
    """Coordinate MLP: points (..., 3) in the unit frame -> signed distance (...,) in SIREN units."""

    def __init__(self, cfg: SirenConfig, generator: torch.Generator | None = None):
        super().__init__()
        if cfg.activation not in ("sine", "relu"):
            raise ValueError(f"unknown activation {cfg.activation!r}")
        self.cfg = cfg
        dims = [3] + [cfg.width] * (cfg.hidden_layers + 1)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(cfg.width, 1)
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw every weight from ``generator`` (the global RNG when None).

        SIREN (the paper's initialisation): W ~ U(-1/fan_in, 1/fan_in) in the first layer,
        U(-sqrt(6/fan_in)/omega0, +sqrt(6/fan_in)/omega0) after it; biases as torch's default.
        ReLU: the geometric initialisation of SAL (Atzmon & Lipman 2020), under which the
        network starts close to the distance to a sphere: hidden W ~ N(0, 2/fan_out), b = 0;
        output W ~ N(sqrt(pi/fan_in), 1e-5), b = -SPHERE_RADIUS. With torch's default
        initialisation the ReLU field starts almost flat and about one fit in ten collapses
        to a constant (no surface at all).
        A private generator keeps two fits started at once on different threads deterministic.
        """
        layers = list(self.hidden) + [self.out]
        for i, layer in enumerate(layers):
            fan_in, fan_out = layer.in_features, layer.out_features
            if self.cfg.activation == "relu":
                if layer is self.out:
                    layer.weight.normal_(math.sqrt(math.pi / fan_in), 1e-5, generator=generator)
                    layer.bias.fill_(-SPHERE_RADIUS * self.cfg.coord_scale)
                else:
                    layer.weight.normal_(0.0, math.sqrt(2.0 / fan_out), generator=generator)
                    layer.bias.zero_()
                continue
            bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / self.cfg.omega0
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in), generator=generator)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        x = points * self.cfg.coord_scale
        for layer in self.hidden:
            x = torch.sin(self.cfg.omega0 * layer(x)) if self.cfg.activation == "sine" else torch.relu(layer(x))
        return self.out(x).squeeze(-1)


def sdf_loss_terms(model: ImplicitMLP, surface: torch.Tensor, normals: torch.Tensor,
                   off_surface: torch.Tensor) -> dict[str, torch.Tensor]:
    """The SIREN paper's four SDF terms, already weighted.

    surface, normals : (N, 3) oriented surface samples (unit normals)
    off_surface : (M, 3) uniform points in the box
    Returns "sdf" (|f| on the surface), "inter" (exp(-100|f|) off it), "normal"
    (1 - cos(grad f, n) on it) and "eikonal" (| |grad f| - 1 | everywhere).
    """
    w_sdf, w_inter, w_normal, w_eik = model.cfg.loss_weights
    pts = torch.cat([surface, off_surface], dim=0).requires_grad_(True)
    sdf = model(pts)
    (grad,) = torch.autograd.grad(sdf.sum(), pts, create_graph=True)
    grad = grad / model.cfg.coord_scale  # gradient in SIREN units
    n = surface.shape[0]
    return {
        "sdf": w_sdf * sdf[:n].abs().mean(),
        "inter": w_inter * torch.exp(-100.0 * sdf[n:].abs()).mean(),
        "normal": w_normal * (1.0 - torch.cosine_similarity(grad[:n], normals, dim=-1)).mean(),
        "eikonal": w_eik * (grad.norm(dim=-1) - 1.0).abs().mean(),
    }
