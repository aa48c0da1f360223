"""Building blocks shared by the models (torch only)."""

from __future__ import annotations

import torch
from torch import nn


class ResnetBlockFC(nn.Module):
    """Fully connected residual block: x + fc1(relu(fc0(relu(x)))), second layer zero-initialised.

    Input (..., size_in) -> output (..., size_out).
    """

    def __init__(self, size_in: int, size_out: int | None = None, size_h: int | None = None):
        super().__init__()
        size_out = size_in if size_out is None else size_out
        size_h = min(size_in, size_out) if size_h is None else size_h
        self.fc_0 = nn.Linear(size_in, size_h)
        self.fc_1 = nn.Linear(size_h, size_out)
        nn.init.zeros_(self.fc_1.weight)
        self.shortcut = None if size_in == size_out else nn.Linear(size_in, size_out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dx = self.fc_1(torch.relu(self.fc_0(torch.relu(x))))
        skip = x if self.shortcut is None else self.shortcut(x)
        return skip + dx


class CBatchNorm(nn.Module):
    """Conditional batch norm: gamma(c) * BN(x) + beta(c), BN without affine parameters.

    x : (B, T, F) features of T points per shape; c : (B, C) shape code.
    gamma starts at weight 0 / bias 1 and beta at 0, so the block starts as plain BN.
    """

    def __init__(self, c_dim: int, f_dim: int):
        super().__init__()
        self.gamma = nn.Linear(c_dim, f_dim)
        self.beta = nn.Linear(c_dim, f_dim)
        self.bn = nn.BatchNorm1d(f_dim, affine=False)
        nn.init.zeros_(self.gamma.weight)
        nn.init.ones_(self.gamma.bias)
        nn.init.zeros_(self.beta.weight)
        nn.init.zeros_(self.beta.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        b, t, f = x.shape
        normed = self.bn(x.reshape(b * t, f)).reshape(b, t, f)
        return self.gamma(c)[:, None, :] * normed + self.beta(c)[:, None, :]

    def affine(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """In eval mode the layer is x * scale + shift per channel: c (B, C) -> scale, shift (B, 1, F)."""
        inv_std = torch.rsqrt(self.bn.running_var + self.bn.eps)
        scale = self.gamma(c) * inv_std
        shift = self.beta(c) - scale * self.bn.running_mean
        return scale[:, None, :], shift[:, None, :]


class CResnetBlock(nn.Module):
    """ONet decoder block: CBN -> ReLU -> Linear -> CBN -> ReLU -> Linear, identity shortcut."""

    def __init__(self, c_dim: int, size: int):
        super().__init__()
        self.bn_0 = CBatchNorm(c_dim, size)
        self.bn_1 = CBatchNorm(c_dim, size)
        self.fc_0 = nn.Linear(size, size)
        self.fc_1 = nn.Linear(size, size)
        nn.init.zeros_(self.fc_1.weight)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if not self.training and not torch.is_grad_enabled():
            return self._fused(x, c)
        net = self.fc_0(torch.relu(self.bn_0(x, c)))
        return x + self.fc_1(torch.relu(self.bn_1(net, c)))

    def _fused(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Inference: the same function with both batch norms folded into per-channel affines
        and the second one into fc_0's weights, so each point costs two matmuls and four
        elementwise passes instead of about twelve."""
        scale0, shift0 = self.bn_0.affine(c)
        scale1, shift1 = self.bn_1.affine(c)
        weight = self.fc_0.weight.t()[None] * scale1           # (B, F, F): bn_1 after fc_0
        bias = self.fc_0.bias * scale1 + shift1                # (B, 1, F)
        net = torch.baddbmm(bias, torch.addcmul(shift0, x, scale0).relu_(), weight).relu_()
        return torch.addmm(x.reshape(-1, x.shape[-1]), net.reshape(-1, net.shape[-1]), self.fc_1.weight.t(),
                           ).view_as(x).add_(self.fc_1.bias)
