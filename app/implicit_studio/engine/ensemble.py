"""A learned point model's field averaged over quarter turns of its input (``Settings.ensemble``).

convonet-grid learned from inputs turned at random (a quarter of its training draws), so it
reconstructs a scan about as well in any pose, and its errors differ from pose to pose. Encoding
the input in K quarter turns and averaging the K logits at every query (each query turned with
its input) gives a better field than any one turn: test-time augmentation, paid for with K
encodings and K decodings (docs/TRAINING.md has the measurements that chose the turns' order).
Quarter turns map the model's cubic box onto itself, so every turn sees the whole input and
answers for every query; the first turn is the identity, so an ensemble of one is the model alone.
"""

from __future__ import annotations

import numpy as np
import torch

from .pose import CUBE

# the 24 quarter turns, identity first; then those farthest from it (trace -1: half turns, 0: thirds
# about a diagonal, 1: quarter turns about an axis), so that the first few differ most
ORDER = (0,) + tuple(sorted(range(1, len(CUBE)), key=lambda i: (round(float(np.trace(CUBE[i]))), i)))
MAX_TURNS = len(CUBE)


def ensemble_turns(count: int) -> np.ndarray:
    """(count, 3, 3) float64 rotations: the first ``count`` (1..24) of ``ORDER``."""
    if not 1 <= count <= MAX_TURNS:
        raise ValueError(f"an ensemble has 1 to {MAX_TURNS} turns, not {count}")
    return CUBE[list(ORDER[:count])]


class TurnEnsemble:
    """``model``'s ``encode`` / ``decode`` with every call made in each of ``turns`` and averaged.

    model : a learned point model (``encode((1, N, 3)) -> code``, ``decode((1, M, 3), code) -> (1, M)``)
    turns : (K, 3, 3) rotations of the model frame (``ensemble_turns``)
    The code of an ensemble is the list of the K codes, one per turn.
    """

    def __init__(self, model: torch.nn.Module, turns: np.ndarray):
        self.model = model
        self.turns = [torch.as_tensor(t, dtype=torch.float32) for t in np.asarray(turns)]

    def encode(self, inputs: torch.Tensor, cancelled=lambda: False) -> list:
        """(1, N, 3) points -> K codes, the k-th of the input turned by ``turns[k]``; once
        ``cancelled()`` is true, no more turns are encoded and the ensemble keeps those it has."""
        codes = []
        for turn in self.turns:
            if codes and cancelled():
                self.turns = self.turns[:len(codes)]
                break
            codes.append(self.model.encode(turned(inputs, turn)))
        return codes

    def decode(self, points: torch.Tensor, codes: list) -> torch.Tensor:
        """(1, M, 3) points, K codes -> (1, M) mean logits over the turns."""
        return turned_mean(points, codes, self.turns, self.model.decode)


def turned(points: torch.Tensor, turn: torch.Tensor) -> torch.Tensor:
    """(..., 3) points turned by the (3, 3) rotation ``turn`` (``points @ turn.T``), in the points'
    precision even under bfloat16 autocast (a matmul would round the coordinates to 8 bits)."""
    return (points[..., None, :] * turn.to(points.device, points.dtype)).sum(-1)


def turned_mean(points: torch.Tensor, codes: list, turns: list, decode) -> torch.Tensor:
    """The mean over k of ``decode(turned(points, turns[k]), codes[k])``: (..., M, 3) points -> (..., M)."""
    total = None
    for code, turn in zip(codes, turns):
        logits = decode(turned(points, turn), code)
        total = logits if total is None else total + logits
    return total / len(codes)
