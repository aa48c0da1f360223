import math

import numpy as np
import pytest
import torch

from implicit_studio.engine.registry import MODELS, get_spec
from implicit_studio.errors import InputError
from implicit_studio.engine.models.siren import ImplicitMLP, SirenConfig, sdf_loss_terms


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
    with pytest.raises(InputError, match="unknown model 'nope': choose one of onet-pointcloud"):
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
    with torch.no_grad():
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


@pytest.mark.parametrize("name", ["siren", "relu-mlp"])
def test_fits_started_together_on_threads_are_deterministic(name):
    """Each fitter draws its weights from its own generator, never the shared global RNG."""
    import threading

    from implicit_studio.engine.fitting.siren_fit import SdfFitter

    rng = np.random.default_rng(0)
    points = rng.uniform(-0.4, 0.4, (500, 3)).astype(np.float32)
    normals = rng.normal(size=(500, 3)).astype(np.float32)
    cfg = get_spec(name).config("cpu")
    alone = SdfFitter(points, normals, cfg, "cpu", seed=3).model.state_dict()
    built = [None] * 8

    def build(i):
        torch.manual_seed(100 + i)          # another thread using the global RNG meanwhile
        built[i] = SdfFitter(points, normals, cfg, "cpu", seed=3).model.state_dict()

    threads = [threading.Thread(target=build, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for state in built:
        assert all(torch.equal(state[k], alone[k]) for k in alone)
    other = SdfFitter(points, normals, cfg, "cpu", seed=4).model.state_dict()
    assert not torch.equal(other["hidden.1.weight"], alone["hidden.1.weight"])


def test_relu_field_starts_as_a_sphere_distance():
    """Geometric initialisation: the ReLU baseline starts inside at the centre, outside at the
    box corners, with slopes near 1 (torch's default starts almost flat and can collapse)."""
    import itertools

    cfg = get_spec("relu-mlp").config("cpu")
    corners = torch.tensor(list(itertools.product((-0.5, 0.5), repeat=3)))
    for seed in range(10):
        model = cfg.build(torch.Generator().manual_seed(seed))
        points = (torch.rand(4000, 3, generator=torch.Generator().manual_seed(99)) - 0.5).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(points).sum(), points)
        with torch.no_grad():
            assert float(model(torch.zeros(1, 3))) < 0 < float(model(corners).min())
        assert 0.5 < float((grad.norm(dim=1) / cfg.coord_scale).median()) < 2.0
