"""Function-preserving widening of a trained ConvONet's U-Net (in the spirit of Net2Net).

A U-Net of ``filters`` F has stage widths F, 2F, 4F, ...; the widened one has the same
stages with more channels. Every trained weight is copied to the same place; the new
channels get fresh random incoming weights and zero outgoing weights, so the widened
network computes exactly the same function at first and training can grow the new
channels from there (their outgoing weights get gradients at once).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ..engine.models.convonet import ConvONet
from ..engine.models.encoders import UNet

UNET_PREFIX = "encoder.unet."


def _embed(new: nn.Module, old: nn.Module, in_map: torch.Tensor, transposed: bool = False) -> None:
    """Copy ``old``'s weights into the first output channels of ``new`` at input channels ``in_map``.

    Conv weights are (out, in, *k), transposed-conv weights (in, out, *k). The other
    input channels of those outputs are zeroed, so new inputs do not reach old outputs.
    """
    w_new, w_old = new.weight.data, old.weight.data
    if transposed:
        w_new, w_old = w_new.transpose(0, 1), w_old.transpose(0, 1)
    n_out = w_old.shape[0]
    w_new[:n_out] = 0.0
    w_new[:n_out, in_map] = w_old
    new.bias.data[:n_out] = old.bias.data


def widen_unet(old: UNet, filters: int) -> UNet:
    """A U-Net with ``filters`` first-stage channels that computes the same function as ``old``."""
    c_in, c_out = old.down[0][0].in_channels, old.out.out_channels
    dims = 3 if isinstance(old.out, nn.Conv3d) else 2
    depth = len(old.down)
    old_filters = old.down[0][0].out_channels
    if filters < old_filters:
        raise ValueError(f"cannot narrow a U-Net from {old_filters} to {filters} filters")
    new = UNet(c_in, c_out, depth=depth, filters=filters, dims=dims)
    w_old = [old_filters * 2 ** i for i in range(depth)]
    w_new = [filters * 2 ** i for i in range(depth)]
    with torch.no_grad():
        cin = torch.arange(c_in)
        for i, (b_new, b_old) in enumerate(zip(new.down, old.down)):
            _embed(b_new[0], b_old[0], cin)
            _embed(b_new[2], b_old[2], torch.arange(w_old[i]))
            cin = torch.arange(w_old[i])
        for j, (up_new, up_old, m_new, m_old) in enumerate(zip(new.up, old.up, new.merge, old.merge)):
            hi, lo = depth - 1 - j, depth - 2 - j
            _embed(up_new, up_old, torch.arange(w_old[hi]), transposed=True)
            # the merge block reads [upsampled, skip], each now w_new[lo] wide
            both = torch.cat([torch.arange(w_old[lo]), w_new[lo] + torch.arange(w_old[lo])])
            _embed(m_new[0], m_old[0], both)
            _embed(m_new[2], m_old[2], torch.arange(w_old[lo]))
        _embed(new.out, old.out, torch.arange(w_old[0]))
    return new


def widened(model: ConvONet, unet_filters: int) -> ConvONet:
    """A copy of ``model`` with its U-Net widened to ``unet_filters``; same outputs for the same inputs."""
    wide = replace(model.cfg, unet_filters=unet_filters).build()
    rest = {k: v for k, v in model.state_dict().items() if not k.startswith(UNET_PREFIX)}
    missing, unexpected = wide.load_state_dict(rest, strict=False)
    assert not unexpected and all(k.startswith(UNET_PREFIX) for k in missing)
    wide.encoder.unet = widen_unet(model.encoder.unet, unet_filters)
    return wide.to(next(model.parameters()).device)
