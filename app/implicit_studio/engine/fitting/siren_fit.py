"""Fitting one shape's signed distance with SIREN (or the ReLU baseline) from oriented points."""

from __future__ import annotations

import threading

import numpy as np
import torch

from ...io.normalize import BOX
from ..models.siren import SirenConfig, sdf_loss_terms
from .adam import LeanAdam


class SdfFitter:
    """Adam on the SIREN SDF loss for one point cloud; call ``step()`` as often as time allows.

    points, normals : (N, 3) float arrays in the unit frame; normals need not be unit length
    """

    def __init__(self, points: np.ndarray, normals: np.ndarray, cfg: SirenConfig,
                 device: torch.device | str = "cpu", seed: int = 0):
        self.cfg = cfg
        self.device = torch.device(device)
        gen = torch.Generator().manual_seed(seed)
        self.model = cfg.build(gen).to(self.device)   # never the global RNG: fits may start on two threads at once
        self.points = torch.as_tensor(np.asarray(points, np.float32), device=self.device)
        n = torch.as_tensor(np.asarray(normals, np.float32), device=self.device)
        self.normals = n / n.norm(dim=1, keepdim=True).clamp_min(1e-8)
        self.optimizer = LeanAdam(self.model.parameters(), lr=cfg.lr)
        self.generator = gen
        self.steps = 0

    def step(self, stop: threading.Event | None = None) -> dict[str, float] | None:
        """One optimisation step; returns the weighted loss terms and their sum ("total").

        If ``stop`` is set once the forward pass is done, the step is abandoned before the
        backward pass (about two thirds of its time) and None is returned; the weights are unchanged.
        """
        self.model.train()
        n = min(self.cfg.batch, len(self.points))
        idx = torch.randint(len(self.points), (n,), generator=self.generator).to(self.device)
        off = (torch.rand(n, 3, generator=self.generator) - 0.5).mul_(BOX).to(self.device)
        terms = sdf_loss_terms(self.model, self.points[idx], self.normals[idx], off)
        if stop is not None and stop.is_set():
            return None
        total = sum(terms.values())
        self.optimizer.zero_grad()
        total.backward()
        self.optimizer.step()
        self.steps += 1
        out = {k: float(v.detach()) for k, v in terms.items()}
        out["total"] = float(total.detach())
        return out

    @torch.inference_mode()
    def field(self, points: np.ndarray) -> np.ndarray:
        """Meshing field: (N, 3) unit-frame points -> (N,) negative signed distance (inside > 0)."""
        self.model.eval()
        pts = torch.as_tensor(points, dtype=torch.float32, device=self.device)
        return (-self.model(pts)).float().cpu().numpy()
