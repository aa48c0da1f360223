"""Image inputs in the session: the object is isolated and framed before encoding (an ``Isolated``
event), and a result that fills the box is refused with one line saying why and what to do."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from implicit_studio.engine.checkpoints import save_checkpoint
from implicit_studio.engine.events import Encoded, Finished, Isolated, LevelMesh, Started
from implicit_studio.engine.registry import get_spec
from implicit_studio.engine.session import FILL_LIMIT, ReconstructionSession, Settings
from implicit_studio.io.inputs import InputData


def _checkpoint(tmp_path, bias: float | None = None):
    """An onet-image checkpoint; with ``bias`` its occupancy logit is that constant everywhere, else a
    seeded random one whose logits lie near 0: at threshold 0.5 its mesh fills a few % of the box
    (``SMALL``), at 0.45 all of it (``FULL``)."""
    cfg = get_spec("onet-image").config("cpu")
    torch.manual_seed(0)
    model = cfg.build()
    if bias is not None:
        with torch.no_grad():
            model.decoder.fc_out.weight.zero_()
            model.decoder.fc_out.bias.fill_(bias)
    path = tmp_path / f"onet-image-{bias}.safetensors"
    save_checkpoint(path, "onet-image", model, cfg)
    return path


SMALL, FULL = 0.5, 0.45


def _photo(size=(120, 160), seed=0):
    """A red disc on a noisy green-grey background: (H, W, 3) uint8."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal(110, 25, size + (3,)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:size[0], :size[1]]
    image[(xx - 80) ** 2 + (yy - 60) ** 2 < 30 ** 2] = (220, 30, 30)
    return image


def _run(ckpt, image, box=None, threshold=None):
    settings = Settings(model="onet-image", checkpoint=str(ckpt), resolution0=8, levels=1, box=box,
                        threshold=threshold)
    return list(ReconstructionSession(InputData("photo.png", "image", image=image), settings).run())


def test_the_object_is_isolated_and_framed_before_encoding(tmp_path):
    events = _run(_checkpoint(tmp_path), _photo())
    assert [type(e) for e in events[:3]] == [Started, Isolated, Encoded]
    iso = events[1]
    assert iso.mask.shape == (120, 160) and iso.framed.shape == (128, 128, 3) and iso.method == "grabcut"
    assert iso.problem is None
    assert events[-1].stats["isolation"]["method"] == "grabcut"
    box = _run(_checkpoint(tmp_path), _photo(), box=(40, 20, 125, 100))[1]
    assert box.box == (40, 20, 125, 100)


def test_a_box_filling_result_is_refused_with_one_line(tmp_path):
    events = _run(_checkpoint(tmp_path, bias=8.0), _photo())       # occupied everywhere
    stats = events[-1].stats
    assert stats["filled_fraction"] > FILL_LIMIT
    message = stats["cannot"]
    assert "\n" not in message
    assert message.startswith("onet-image filled 100% of the box instead of finding one object")
    assert "crop the photo to one object" in message and "--box" in message


def test_the_mask_problem_is_the_reason_given(tmp_path):
    blank = np.full((100, 100, 3), 90, np.uint8)
    events = _run(_checkpoint(tmp_path, bias=8.0), blank)
    assert events[1].method == "box" and "no object was found" in events[1].problem
    assert "no object was found" in events[-1].stats["cannot"]
    # no object isolated: refused whatever the model makes of the bare box, even a small shape
    stats = _run(_checkpoint(tmp_path), blank, threshold=SMALL)[-1].stats
    assert "empty" not in stats and stats["filled_fraction"] < FILL_LIMIT
    assert stats["cannot"].startswith("onet-image was given no object to reconstruct, so no mesh is shown: "
                                      "no object was found in the photo")


def test_an_ordinary_result_is_not_refused(tmp_path):
    events = _run(_checkpoint(tmp_path, bias=-8.0), _photo())       # empty everywhere
    assert "cannot" not in events[-1].stats and "empty" in events[-1].stats
    stats = _run(_checkpoint(tmp_path), _photo(), threshold=SMALL)[-1].stats
    assert stats["isolation"]["method"] == "grabcut" and "empty" not in stats
    assert 0 < stats["filled_fraction"] < FILL_LIMIT and "cannot" not in stats


def test_remesh_measures_the_fill_again(tmp_path):
    ckpt = _checkpoint(tmp_path, bias=8.0)
    session = ReconstructionSession(InputData("p", "image", image=_photo()),
                                    Settings(model="onet-image", checkpoint=str(ckpt), resolution0=8, levels=0))
    list(session.run())
    stats: dict = {}
    list(session.remesh(0.5, stats=stats))
    assert "cannot" in stats
    # a random model on a photo: full at one threshold, a small shape at another, in one stats dict
    session = ReconstructionSession(InputData("p", "image", image=_photo()),
                                    Settings(model="onet-image", checkpoint=str(_checkpoint(tmp_path)),
                                             resolution0=8, levels=1))
    list(session.run())
    stats = {}
    list(session.remesh(FULL, stats=stats))
    assert stats["filled_fraction"] > FILL_LIMIT and "cannot" in stats
    list(session.remesh(SMALL, stats=stats))
    assert 0 < stats["filled_fraction"] < FILL_LIMIT and "cannot" not in stats
