import math

import pytest
import torch

from implicit_studio.core.registry import MODELS, get_spec
from implicit_studio.core.errors import InputError
from implicit_studio.models.siren import ImplicitMLP, SirenConfig, sdf_loss_terms


def _inputs(spec, cfg, batch=2):
    if spec.input_kind == "image":
        return torch.rand(batch, 3, cfg.image_size, cfg.image_size)
    return torch.rand(batch, 500, 3) - 0.5


@pytest.mark.parametrize("name", [n for n, s in MODELS.items() if s.learned])
def test_learned_models_shapes_and_gradients(name):
    spec = get_spec(name)
    cfg = spec.config("cpu")
    model = cfg.build()
    points = torch.rand(2, 256, 3) - 0.5
    logits = model(points, _inputs(spec, cfg))
    assert logits.shape == (2, 256)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


@pytest.mark.parametrize("name", ["convonet-3plane", "convonet-grid"])
def test_convonet_is_local(name):
    """Moving input points on one side must not change occupancy far away on the other."""
    spec = get_spec(name)
    model = spec.config("cpu").build().eval()
    torch.manual_seed(0)
    pts = torch.rand(1, 400, 3) * 0.2 + torch.tensor([0.25, 0.25, 0.25])
    query = torch.tensor([[[-0.4, -0.4, -0.4]]])
    with torch.no_grad():
        a = model(query, pts)
        b = model(query, pts + 0.02)
    assert torch.allclose(a, b, atol=1e-5)


def test_paper_configs_build():
    for spec in MODELS.values():
        assert spec.config("paper").build() is not None
    assert get_spec("convonet-3plane").config("paper").unet_filters == 32
    with pytest.raises(InputError):
        get_spec("nope")


def test_siren_init_statistics():
    torch.manual_seed(0)
    cfg = SirenConfig(width=256)
    model = ImplicitMLP(cfg)
    first = model.hidden[0].weight
    assert first.abs().max() <= 1 / 3 + 1e-6
    bound = math.sqrt(6 / 256) / 30
    for layer in model.hidden[1:]:
        w = layer.weight
        assert w.abs().max() <= bound + 1e-7
        # uniform(-b, b) has std b / sqrt(3)
        assert abs(float(w.detach().std()) - bound / math.sqrt(3)) < 0.05 * bound
    # activations keep a stable arcsine distribution through the layers (the paper's point)
    x = (torch.rand(20000, 3) - 0.5)
    h = x * cfg.coord_scale
    stds = []
    for layer in model.hidden:
        h = torch.sin(cfg.omega0 * layer(h))
        stds.append(float(h.std()))
    assert all(0.6 < s < 0.8 for s in stds[1:])  # arcsine std = 1/sqrt(2)


def test_sdf_loss_terms_and_gradients():
    model = ImplicitMLP(SirenConfig(width=32))
    surf = torch.rand(64, 3) - 0.5
    normals = torch.nn.functional.normalize(torch.randn(64, 3), dim=1)
    terms = sdf_loss_terms(model, surf, normals, torch.rand(64, 3) - 0.5)
    assert set(terms) == {"sdf", "inter", "normal", "eikonal"}
    total = sum(terms.values())
    total.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_relu_baseline_same_size():
    a = get_spec("siren").config("cpu").build()
    b = get_spec("relu-mlp").config("cpu").build()
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
