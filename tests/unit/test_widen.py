"""Widening a ConvONet's U-Net keeps what it computes and lets the new channels learn; a new
feature side keeps every weight."""

import pytest
import torch

from implicit_studio.errors import InputError
from implicit_studio.engine.registry import get_spec
from implicit_studio.engine.models.convonet import ConvONetConfig
from implicit_studio.engine.models.encoders import UNet
from implicit_studio.train.widen import widen_unet, widened
from implicit_studio.train.trainer import reso_for_init, widen_for_init


@pytest.mark.parametrize("dims,size", [(2, 16), (3, 8)])
def test_widened_unet_computes_the_same_function(dims, size):
    torch.manual_seed(0)
    old = UNet(5, 7, depth=3, filters=4, dims=dims)
    new = widen_unet(old, 12)
    assert [b[0].out_channels for b in new.down] == [12, 24, 48]
    assert new.out.out_channels == 7
    x = torch.randn(2, 5, *(size,) * dims)
    with torch.no_grad():
        torch.testing.assert_close(new(x), old(x), rtol=0, atol=1e-5)


def test_new_channels_get_gradients_and_start_contributing():
    torch.manual_seed(1)
    old = UNet(3, 3, depth=2, filters=4, dims=2)
    new = widen_unet(old, 8)
    x = torch.randn(2, 3, 8, 8)
    new(x).square().sum().backward()
    # the new channels' outgoing weights into the output layer start at zero but are not stuck there
    assert torch.count_nonzero(new.out.weight[:, 4:]) == 0
    assert new.out.weight.grad[:, 4:].abs().sum() > 0
    opt = torch.optim.SGD(new.parameters(), lr=0.1)
    opt.step()
    with torch.no_grad():
        assert not torch.allclose(new(x), old(x), atol=1e-5)


def test_widened_convonet_keeps_its_outputs_and_config():
    torch.manual_seed(2)
    model = ConvONetConfig(kind="3plane", reso=16, unet_depth=3, unet_filters=4).build().eval()
    wide = widened(model, 8).eval()
    assert wide.cfg.unet_filters == 8 and model.cfg.unet_filters == 4
    points, queries = torch.rand(2, 200, 3) - 0.5, torch.rand(2, 300, 3) - 0.5
    with torch.no_grad():
        torch.testing.assert_close(wide(queries, points), model(queries, points), rtol=0, atol=1e-5)
    # the copy does not share storage with the original
    wide.decoder.fc_out.bias.data += 1.0
    assert not torch.equal(wide.decoder.fc_out.bias, model.decoder.fc_out.bias)


def test_narrowing_is_refused():
    with pytest.raises(ValueError, match="cannot narrow"):
        widen_unet(UNet(3, 3, depth=2, filters=8, dims=2), 4)


def test_only_convonets_can_be_widened_from_the_command_line_within_bounds():
    with pytest.raises(InputError, match="ConvONet models only"):
        widen_for_init(get_spec("onet-pointcloud").config("cpu").build(), 64)
    with pytest.raises(InputError, match="at most 256 filters"):
        widen_for_init(ConvONetConfig(kind="3plane", reso=16, unet_depth=2, unet_filters=4).build(), 100000)


def test_a_new_feature_side_keeps_every_weight_and_changes_the_cells():
    torch.manual_seed(3)
    model = ConvONetConfig(kind="grid", reso=8, unet_depth=2, unet_filters=4).build().eval()
    finer = reso_for_init(model, 12).eval()
    assert finer.cfg.reso == 12 and model.cfg.reso == 8
    for (name, a), b in zip(model.state_dict().items(), finer.state_dict().values()):
        assert torch.equal(a, b), name
    points = torch.rand(1, 300, 3) - 0.5
    with torch.no_grad():
        assert finer.encode(points)["grid"].shape[-3:] == (12, 12, 12)


def test_only_convonets_get_a_new_side_and_only_one_their_unet_can_halve():
    with pytest.raises(InputError, match="ConvONet models only"):
        reso_for_init(get_spec("onet-pointcloud").config("cpu").build(), 40)
    grid = ConvONetConfig(kind="grid", reso=8, unet_depth=3, unet_filters=4).build()
    with pytest.raises(InputError, match="multiple of 4"):
        reso_for_init(grid, 10)
    with pytest.raises(InputError, match="from 8 to 128"):
        reso_for_init(grid, 132)
