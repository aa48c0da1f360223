"""Test-time refinement of a learned occupancy prior on the one input point cloud (issue 19).

A trained ConvONet or ONet encodes the input once; its surface is blobby and offset on shapes
unlike its training data. ``Refiner`` fine-tunes a *copy* of that encoding (the ConvONet feature
grid / planes, the ONet latent code) with Adam so the iso-surface passes through the points, while
the prior still decides everything away from them:

- ``surface``: the input points sit at the iso-level (BCE towards the threshold probability),
- ``offset``: points ``offset`` along the oriented normal are outside, against it inside (BCE),
- ``prior``: points farther than ``far`` from every input point keep the prior's occupancy (BCE
  with the prior's probabilities as soft targets).

Normals come from the file when given, else from PCA over the k nearest input points, oriented
outward by the prior itself (its logit is higher a few cells inwards) and smoothed by kNN votes.
ONet's global code alone cannot bend its surface much, so its (copied) decoder is tuned too.
The shipped model is never modified: the decoder is a deep copy and the optimised code a clone.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ...io.normalize import BOX
from ..ensemble import turned_mean
from ..models.convonet import ConvONet, sample_features
from ..models.onet import ONet
from .adam import LeanAdam

MAX_POINTS = 20_000  # input points kept for refinement (random subset beyond this)


@dataclass(frozen=True)
class RefineConfig:
    """Hyper-parameters of one refinement (defaults: ``DEFAULTS`` per model).

    lr : Adam learning rate of the optimised code
    batch : input points per step (each adds 1 surface + 2 offset queries)
    far_batch : prior-regulariser queries per step
    offset : distance of the labelled inside / outside points from an input point (unit frame)
    far : minimum distance of a prior-regulariser point from every input point
    w_surface, w_offset, w_prior : loss weights
    k : neighbours for PCA normals
    orient_step : a normal points outward if the prior's logit is higher this far against it than along it
    orient_iters : rounds of kNN majority voting that smooth the orientation afterwards
    lr_decoder : Adam learning rate of the (copied) decoder; 0 keeps it frozen
    steps : where the measured gain levels off; a session stops there even with time left
    bf16 : run the training forward / backward under bfloat16 autocast (``field`` stays fp32)
    """

    lr: float = 5e-3
    batch: int = 1024
    far_batch: int = 1024
    offset: float = 0.01
    far: float = 0.04
    w_surface: float = 1.0
    w_offset: float = 1.0
    w_prior: float = 1.0
    k: int = 16
    orient_step: float = 0.05
    orient_iters: int = 5
    lr_decoder: float = 0.0
    bf16: bool = False
    steps: int = 100


DEFAULTS: dict[str, RefineConfig] = {
    "convonet-grid": RefineConfig(lr=1e-2, steps=50),
    "convonet-3plane": RefineConfig(lr=5e-3, steps=100),
    # the latent code alone barely moves an ONet's surface; its decoder copy is tuned too, and its
    # IoU falls again after 100 steps on sparse inputs
    "onet-pointcloud": RefineConfig(lr=1e-2, lr_decoder=1e-4, batch=512, far_batch=512, steps=100),
    # per tile of a scene (engine.tiling): steps chosen on validation rooms (docs/TRAINING.md)
    "convonet-scene": RefineConfig(lr=2e-2, steps=15, bf16=True),
}
"""Per-model hyper-parameters, chosen by measurement on shapes unlike the training data
(docs/TRAINING.md, Refinement)."""


def _tensors(code, fn):
    """``fn`` applied to a code's tensor(s): a dict of feature maps or one latent tensor."""
    return {k: fn(v) for k, v in code.items()} if isinstance(code, dict) else fn(code)


class Refiner:
    """Adam on a copy of a learned model's code for one point cloud; call ``step()`` as time allows.

    model : a ConvONet or an ONet (never modified: its decoder is deep-copied, and frozen unless
        ``config.lr_decoder`` > 0)
    code : ``model.encode`` of the input: dict of (1, C, ...) feature maps or a (1, C) latent code;
        with ``turns``, the list of the K codes of an ensemble (``engine.ensemble``), refined together
    points : (N, 3) float32 input points in the unit frame
    normals : (N, 3) float32 outward normals (any length), or None to estimate them
    iso : the logit meshed (log(t / (1 - t)) for threshold t)
    turns : (K, 3, 3) the ensemble's turns, or None for a single code
    """

    def __init__(self, model: ConvONet | ONet, code: dict[str, torch.Tensor] | torch.Tensor,
                 points: np.ndarray, normals: np.ndarray | None, iso: float,
                 device: torch.device | str = "cpu", seed: int = 0, config: RefineConfig | None = None,
                 turns: np.ndarray | None = None):
        if not isinstance(model, (ConvONet, ONet)):
            raise TypeError(f"cannot refine a {type(model).__name__}")
        self.cfg = config or RefineConfig()
        self.device = torch.device(device)
        self.target = 1.0 / (1.0 + np.exp(-float(iso)))                  # the threshold probability
        self.generator = torch.Generator().manual_seed(seed)
        self.padding = model.cfg.padding if isinstance(model, ConvONet) else None
        self.decoder = copy.deepcopy(model.decoder).to(self.device).eval()
        self.decoder.requires_grad_(self.cfg.lr_decoder > 0)
        codes = [code] if turns is None else list(code)
        self.turns = [torch.as_tensor(t, dtype=torch.float32, device=self.device)
                      for t in (np.eye(3)[None] if turns is None else np.asarray(turns))]
        if len(codes) != len(self.turns):
            raise ValueError(f"{len(codes)} codes for {len(self.turns)} turns")
        prior_code = [_tensors(c, lambda v: v.detach().to(self.device)) for c in codes]
        self.code = [_tensors(c, lambda v: v.clone().requires_grad_(True)) for c in prior_code]
        params = [v for c in self.code for v in (c.values() if isinstance(c, dict) else [c])]

        keep = slice(None)
        if len(points) > MAX_POINTS:
            keep = np.random.default_rng(seed).choice(len(points), MAX_POINTS, replace=False)
        self.points = torch.as_tensor(np.asarray(points, np.float32)[keep], device=self.device)
        if normals is None:
            normals = self._estimate_normals(prior_code)
        else:
            normals = torch.as_tensor(np.asarray(normals, np.float32)[keep], device=self.device)
        self.normals = normals / normals.norm(dim=1, keepdim=True).clamp_min(1e-8)
        self.far_points, self.far_target = self._prior_samples(prior_code)
        self.optimizers = [LeanAdam(params, lr=self.cfg.lr)]
        if self.cfg.lr_decoder > 0:
            self.optimizers.append(LeanAdam(self.decoder.parameters(), lr=self.cfg.lr_decoder))
        self.steps = 0

    # --- the field ------------------------------------------------------------------------
    def _decode(self, pts: torch.Tensor, codes: list) -> torch.Tensor:
        """(T, 3) points -> (T,) logits: the mean over the turns of each turn's code's."""
        return turned_mean(pts, codes, self.turns, self._decode_one)

    def _decode_one(self, pts: torch.Tensor, code) -> torch.Tensor:
        """(T, 3) points -> (T,) logits under one ``code``."""
        if self.padding is None:
            return self.decoder(pts[None], code)[0]
        return self.decoder(pts[None], sample_features(code, pts[None], self.padding))[0]

    @torch.inference_mode()
    def field(self, points: np.ndarray) -> np.ndarray:
        """Meshing field: (M, 3) unit-frame points -> (M,) float32 occupancy logits (fp32)."""
        pts = torch.as_tensor(np.ascontiguousarray(points, dtype=np.float32), device=self.device)
        return self._decode(pts, self.code).float().cpu().numpy()

    # --- set-up ---------------------------------------------------------------------------
    def _knn(self, k: int) -> torch.Tensor:
        """(N, k) indices of each input point's k nearest other input points."""
        n = len(self.points)
        k = min(k, n - 1)
        rows = max(1, (1 << 22) // n)
        out = [torch.cdist(self.points[s:s + rows], self.points).topk(k + 1, largest=False).indices[:, 1:]
               for s in range(0, n, rows)]
        return torch.cat(out)

    def _estimate_normals(self, prior_code) -> torch.Tensor:
        """(N, 3) PCA normals over k neighbours, oriented by the prior (a central difference over
        +-``orient_step``), then smoothed by kNN majority votes in which the prior's confidence
        weighs as much as the k neighbours."""
        knn = self._knn(self.cfg.k)
        nb = self.points[knn]                                             # (N, k, 3)
        centred = nb - nb.mean(dim=1, keepdim=True)
        _, vectors = torch.linalg.eigh(centred.transpose(1, 2) @ centred)  # ascending eigenvalues
        normals = vectors[:, :, 0]
        with torch.no_grad():
            d = self.cfg.orient_step * normals
            outward = self._decode(self.points - d, prior_code) - self._decode(self.points + d, prior_code)
        sign = torch.where(outward >= 0, 1.0, -1.0)
        confidence = torch.sigmoid(outward.abs()) - 0.5                   # 0 (no idea) .. 0.5 (sure)
        align = (normals[:, None, :] * normals[knn]).sum(dim=2)           # (N, k) signed n_i . n_j
        for _ in range(self.cfg.orient_iters):
            vote = (align * sign[knn]).sum(dim=1) + self.cfg.k * confidence * sign
            sign = torch.where(vote >= 0, 1.0, -1.0)
        return normals * sign[:, None]

    @torch.no_grad()
    def _prior_samples(self, prior_code, n: int = 16384) -> tuple[torch.Tensor, torch.Tensor]:
        """Uniform box points farther than ``cfg.far`` from every input point, (F, 3), and the
        prior's occupancy probability there, (F,)."""
        pts = (torch.rand(n, 3, generator=self.generator) - 0.5).mul_(BOX).to(self.device)
        rows = max(1, (1 << 22) // len(self.points))
        near = torch.cat([torch.cdist(pts[s:s + rows], self.points).min(dim=1).values
                          for s in range(0, n, rows)])
        pts = pts[near > self.cfg.far]
        return pts, torch.sigmoid(self._decode(pts, prior_code))

    # --- optimisation ---------------------------------------------------------------------
    def step(self, cancel: threading.Event | None = None) -> dict[str, float] | None:
        """One Adam step; returns the weighted loss terms and their sum ("total").

        If ``cancel`` is set once the forward pass is done, the step is abandoned before the
        backward pass and None is returned; the code is then unchanged.
        """
        cfg = self.cfg
        n = min(cfg.batch, len(self.points))
        idx = torch.randint(len(self.points), (n,), generator=self.generator).to(self.device)
        x, nrm = self.points[idx], self.normals[idx]
        shift = nrm * cfg.offset
        far_idx = torch.randint(len(self.far_points), (min(cfg.far_batch, len(self.far_points)),),
                                generator=self.generator).to(self.device)
        queries = torch.cat([x, x + shift, x - shift, self.far_points[far_idx]])
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16):
            logits = self._decode(queries, self.code).float()
        surf, out, inn, far = logits.split([n, n, n, len(far_idx)])
        terms = {
            "surface": cfg.w_surface * F.binary_cross_entropy_with_logits(surf, torch.full_like(surf, self.target)),
            "offset": cfg.w_offset * 0.5 * (F.binary_cross_entropy_with_logits(out, torch.zeros_like(out))
                                            + F.binary_cross_entropy_with_logits(inn, torch.ones_like(inn))),
            "prior": cfg.w_prior * F.binary_cross_entropy_with_logits(far, self.far_target[far_idx]),
        }
        if cancel is not None and cancel.is_set():
            return None
        total = sum(terms.values())
        for opt in self.optimizers:
            opt.zero_grad()
        total.backward()
        for opt in self.optimizers:
            opt.step()
        self.steps += 1
        out_terms = {k: float(v.detach()) for k, v in terms.items()}
        out_terms["total"] = float(total.detach())
        return out_terms
