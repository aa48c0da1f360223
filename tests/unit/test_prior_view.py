"""``ReconstructionSession.prior_view``: the learned prior's field, kept apart from its refinement."""

from dataclasses import replace

import numpy as np
import pytest

from conftest import random_checkpoint
from implicit_studio.engine.events import Encoded
from implicit_studio.engine.fitting import refine
from implicit_studio.engine.session import ReconstructionSession, Settings
from implicit_studio.io.inputs import InputData

MODEL = "convonet-3plane"


def test_prior_view_slices_and_remeshes_the_unrefined_prior(tmp_path, torus_cloud, monkeypatch):
    ckpt = random_checkpoint(tmp_path / f"{MODEL}.safetensors", MODEL)
    monkeypatch.setitem(refine.DEFAULTS, MODEL, replace(refine.DEFAULTS[MODEL], steps=3))
    data = InputData("test", "points", points=torus_cloud[0], normals=torus_cloud[1])
    settings = Settings(model=MODEL, checkpoint=str(ckpt), resolution0=16, levels=1, refine=60.0)

    session = ReconstructionSession(data, settings)
    with pytest.raises(RuntimeError):
        session.prior_view()                     # nothing encoded yet
    events = session.run()
    next(e for e in events if isinstance(e, Encoded))
    prior = session.prior_view()
    list(events)                                 # refine 3 steps, mesh the refined field

    alone = ReconstructionSession(data, replace(settings, refine=0))
    list(alone.run())
    np.testing.assert_array_equal(prior.slice(2, 0.0, 24), alone.slice(2, 0.0, 24))
    assert not np.array_equal(session.slice(2, 0.0, 24), alone.slice(2, 0.0, 24))   # the refined field moved
    assert session.prior_view().field is prior.field is not session.field

    threshold = session.threshold
    meshes = list(prior.remesh(0.5))
    assert meshes[-1].final and prior.threshold == 0.5 and session.threshold == threshold
