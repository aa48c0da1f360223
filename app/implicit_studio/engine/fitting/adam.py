"""Adam for the in-window fits, without ``torch.optim``.

The first ``step`` or ``zero_grad`` of any ``torch.optim`` optimiser imports ``torch._dynamo``:
about 800 modules (sympy among them) and 1-2 s here of import work holding the GIL in bursts.
In the window that happened on the fitting worker at the start of the first SIREN fit and
stalled the UI thread with it. This is the same update (Kingma & Ba 2015, bias-corrected,
no weight decay, as ``torch.optim.Adam`` with its defaults) on ``torch._foreach`` kernels.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch


class LeanAdam:
    """Adam over ``params`` (tensors that require grad); ``zero_grad`` / ``step`` as in torch.optim."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.steps = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        live = [k for k, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        params = [self.params[k] for k in live]
        grads = [p.grad for p in params]
        avg = [self.exp_avg[k] for k in live]
        avg_sq = [self.exp_avg_sq[k] for k in live]
        self.steps += 1
        torch._foreach_lerp_(avg, grads, 1.0 - self.beta1)
        torch._foreach_mul_(avg_sq, self.beta2)
        torch._foreach_addcmul_(avg_sq, grads, grads, value=1.0 - self.beta2)
        denom = torch._foreach_sqrt(avg_sq)
        torch._foreach_div_(denom, math.sqrt(1.0 - self.beta2 ** self.steps))
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, avg, denom, value=-self.lr / (1.0 - self.beta1 ** self.steps))
