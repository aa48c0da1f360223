import math

import torch

from implicit_studio.train.trainer import OCCUPANCY_THRESHOLDS, validation_iou


class CalibratedAt:
    """A stand-in model whose occupied points score probability ``inside`` and empty ones ``outside``."""

    def __init__(self, inside: float, outside: float):
        self.logits = (math.log(inside / (1 - inside)), math.log(outside / (1 - outside)))

    def __call__(self, points, inputs):
        occupied = points[..., 0] > 0
        return torch.where(occupied, self.logits[0], self.logits[1])

    def eval(self):
        return self

    def train(self):
        return self


def _loader():
    points = torch.rand(2, 100, 3) - 0.5
    return [{"points": points, "occ": (points[..., 0] > 0).float(), "inputs": torch.zeros(2, 1, 3)}]


def test_validation_scores_at_the_best_threshold():
    # a model that separates perfectly, but only between probabilities 0.35 and 0.45: the usual
    # threshold 0.2 calls everything occupied, 0.4 gets it exactly right
    iou, threshold = validation_iou(CalibratedAt(0.45, 0.35), _loader(), "points", torch.device("cpu"))
    assert threshold == 0.4 and iou == 1.0
    iou, threshold = validation_iou(CalibratedAt(0.9, 0.1), _loader(), "points", torch.device("cpu"))
    assert threshold == OCCUPANCY_THRESHOLDS[0] and iou == 1.0      # ties go to the first (lowest) threshold


def test_validation_of_nothing():
    assert validation_iou(CalibratedAt(0.9, 0.1), [], "points", torch.device("cpu")) == (0.0, OCCUPANCY_THRESHOLDS[0])
