"""The session's refinement stage: the prior's levels stream first, then refinement progress and
previews, then the refined levels; the cached model is never changed; cancel, stop and pause work."""

import threading
import time

import pytest
import torch

from conftest import random_checkpoint, wait_while_alive
from implicit_studio.engine.fitting import refine
from implicit_studio.engine.events import Finished, FitProgress, LevelMesh
from implicit_studio.engine.registry import get_spec
from implicit_studio.engine.session import ModelStore, ReconstructionSession, Settings, refine_budget
from implicit_studio.io.inputs import InputData


@pytest.fixture
def grid_checkpoint(tmp_path):
    torch.manual_seed(0)
    return random_checkpoint(tmp_path / "grid.safetensors", "convonet-grid", threshold=0.5)


def _session(points, checkpoint, store=None, **settings):
    data = InputData("torus", "points", points=points)
    defaults = dict(model="convonet-grid", checkpoint=str(checkpoint), resolution0=16, levels=1, mesh_every=0.2)
    return ReconstructionSession(data, Settings(**{**defaults, **settings}), store)


def test_prior_levels_then_refinement_then_refined_levels(torus_cloud, grid_checkpoint, monkeypatch):
    monkeypatch.setitem(refine.DEFAULTS, "convonet-grid", refine.RefineConfig(batch=256, far_batch=256, steps=8))
    events = list(_session(torus_cloud[0], grid_checkpoint, refine=600).run())
    kinds = [type(e).__name__ for e in events]
    first_progress = kinds.index("FitProgress")
    prior = [e for e in events[:first_progress] if isinstance(e, LevelMesh)]
    assert [m.level for m in prior] == [0, 1] and not any(m.final or m.preview for m in prior)
    progress = [e for e in events if isinstance(e, FitProgress)]
    assert progress and all(p.stage == "refine" for p in progress)
    assert set(progress[-1].terms) == {"surface", "offset", "prior"}
    refined = [e for e in events[first_progress:] if isinstance(e, LevelMesh) and not e.preview]
    assert [m.level for m in refined] == [0, 1] and refined[-1].final
    stats = events[-1].stats
    assert isinstance(events[-1], Finished) and not events[-1].cancelled
    assert stats["refine"]["steps"] == 8            # the model's step count ends it, not the 600 s
    assert stats["levels"][0]["t_s"] < stats["levels"][-1]["t_s"]


def test_refinement_leaves_the_cached_model_unchanged(torus_cloud, grid_checkpoint):
    store = ModelStore()
    first = _session(torus_cloud[0], grid_checkpoint, store, refine=1)
    list(first.run())
    model, _ = store.get(grid_checkpoint, "convonet-grid", first.device)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    second = _session(torus_cloud[0], grid_checkpoint, store, refine=1)
    list(second.run())
    model_after, _ = store.get(grid_checkpoint, "convonet-grid", second.device)
    assert model_after is model
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    # and the prior's field of a third session is the first one's prior field
    third = _session(torus_cloud[0], grid_checkpoint, store, refine=0)
    prior_third = [e for e in third.run() if isinstance(e, LevelMesh)][-1]
    prior_first = [e for e in _session(torus_cloud[0], grid_checkpoint, ModelStore(), refine=0).run()
                   if isinstance(e, LevelMesh)][-1]
    assert prior_third.faces.shape == prior_first.faces.shape


def test_refine_zero_turns_it_off_and_images_are_never_refined(torus_cloud, grid_checkpoint):
    events = list(_session(torus_cloud[0], grid_checkpoint, refine=0).run())
    assert not any(isinstance(e, FitProgress) for e in events)
    assert "refine" not in events[-1].stats
    assert refine_budget(get_spec("onet-image"), Settings(model="onet-image", refine=5)) == 0.0
    assert refine_budget(get_spec("siren"), Settings(model="siren", refine=5)) == 0.0
    assert refine_budget(get_spec("convonet-grid"), Settings()) == get_spec("convonet-grid").refine_seconds > 0


def _run_until_refining(session):
    """Iterate ``session.run()`` on a thread; returns (thread, events, first-progress event)."""
    events, refining = [], threading.Event()

    def consume():
        for event in session.run():
            events.append(event)
            if isinstance(event, FitProgress):
                refining.set()

    thread = threading.Thread(target=consume)
    thread.start()
    assert wait_while_alive(refining, thread, 120), "refinement never started"
    return thread, events


def test_cancel_during_refinement(torus_cloud, grid_checkpoint):
    session = _session(torus_cloud[0], grid_checkpoint, refine=600)
    thread, events = _run_until_refining(session)
    session.cancel()
    thread.join(30)
    assert not thread.is_alive()
    assert isinstance(events[-1], Finished) and events[-1].cancelled
    assert events[-1].stats["refine"]["steps"] < 50
    assert not any(isinstance(e, LevelMesh) and e.final for e in events)


def test_pause_then_cancel_during_refinement(torus_cloud, grid_checkpoint):
    session = _session(torus_cloud[0], grid_checkpoint, refine=600)
    thread, events = _run_until_refining(session)
    session.pause()
    time.sleep(0.5)
    steps_paused = [e.step for e in events if isinstance(e, FitProgress)][-1]
    session.cancel()
    thread.join(30)
    assert not thread.is_alive() and events[-1].cancelled
    assert events[-1].stats["refine"]["steps"] <= steps_paused + 1   # at most the step running at pause


def test_stop_meshes_the_refined_field_now(torus_cloud, grid_checkpoint):
    session = _session(torus_cloud[0], grid_checkpoint, refine=600)
    thread, events = _run_until_refining(session)
    session.stop_fit()
    thread.join(60)
    assert not thread.is_alive() and not events[-1].cancelled
    final = [e for e in events if isinstance(e, LevelMesh) and e.final]
    assert len(final) == 1 and events[-1].stats["refine"]["steps"] < 50
