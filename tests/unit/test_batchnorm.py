"""Precise BN: statistics recomputed on fixed batches, on a copy, leaving the live model alone."""

import torch
from torch import nn

from implicit_studio.train.batchnorm import recalibrated


def _forward(model, batch):
    return model(batch)


def test_recalibrated_statistics_are_the_mean_over_batches():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU())
    model.train()
    for _ in range(5):                           # stale statistics from other data
        model(torch.randn(32, 3) * 5 + 7)
    stale_mean = model[1].running_mean.clone()
    batches = [torch.randn(64, 3) + k for k in range(4)]
    twin = recalibrated(model, batches, _forward)
    with torch.no_grad():
        features = [model[0](b) for b in batches]
    expected_mean = torch.stack([f.mean(0) for f in features]).mean(0)
    expected_var = torch.stack([f.var(0, unbiased=True) for f in features]).mean(0)
    assert torch.allclose(twin[1].running_mean, expected_mean, atol=1e-5)
    assert torch.allclose(twin[1].running_var, expected_var, atol=1e-4)
    assert not twin.training and twin[1].momentum == model[1].momentum
    assert torch.equal(model[1].running_mean, stale_mean) and model.training     # the live model is untouched
    assert torch.equal(twin[0].weight, model[0].weight)


def test_model_without_batchnorm_is_returned_as_is():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    calls = []
    assert recalibrated(model, [torch.zeros(2, 3)], lambda m, b: calls.append(b)) is model
    assert calls == []


def test_recalibration_recovers_eval_outputs_of_a_model_with_lagging_statistics():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8))
    data = [torch.randn(128, 3) for _ in range(8)]
    model.train()
    for b in data:
        model(b)
    with torch.no_grad():                        # the weights move after the statistics were taken
        model[0].bias += 3.0
        model[0].weight *= 2.0
    model.eval()
    with torch.no_grad():
        lagging = model(data[0]).mean(0).abs().max()
        fixed = recalibrated(model, data, _forward)(data[0]).mean(0).abs().max()
    assert lagging > 1.0 and fixed < 0.3         # normalised features are centred again
