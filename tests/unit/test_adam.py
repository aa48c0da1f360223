import subprocess
import sys

import torch

from implicit_studio.engine.fitting.adam import LeanAdam


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def test_same_trajectory_as_torch_adam():
    ours, ref = _model(), _model()
    opt_ours, opt_ref = LeanAdam(ours.parameters(), lr=1e-2), torch.optim.Adam(ref.parameters(), lr=1e-2)
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(1))
    for _ in range(20):
        for model, opt in ((ours, opt_ours), (ref, opt_ref)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for a, b in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_parameters_without_gradient_are_left_alone():
    a, b = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    opt = LeanAdam([a, b], lr=0.1)
    (a * 3).sum().backward()
    opt.step()
    assert torch.all(a < 1) and torch.equal(b, torch.ones(2)) and opt.steps == 1
    opt.zero_grad()
    assert a.grad is None
    opt.step()                      # nothing has a gradient: no step is counted
    assert opt.steps == 1


def test_a_fit_step_does_not_import_torch_dynamo():
    code = ("import sys, numpy as np\n"
            "from implicit_studio.engine.registry import get_spec\n"
            "from implicit_studio.engine.fitting.siren_fit import SdfFitter\n"
            "pts = np.random.default_rng(0).normal(size=(200, 3)).astype('float32')\n"
            "f = SdfFitter(pts * 0.3, pts, get_spec('siren').config('cpu'))\n"
            "f.step(); f.step()\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
