import re
import threading
import time

import numpy as np
import pytest
import trimesh

from conftest import CONTROL_BOUND_S, random_checkpoint, sphere_field, wait_while_alive
from implicit_studio.errors import InputError, ModelUnavailable
from implicit_studio.engine.events import Encoded, Finished, FitProgress, LevelMesh, Started
from implicit_studio.engine.registry import get_spec
from implicit_studio.engine.session import ReconstructionSession, Settings
from implicit_studio.io.inputs import InputData
from implicit_studio.engine.checkpoints import encoder_points


def _cloud(points, normals=None):
    return InputData("test", "points", points=points, normals=normals)


def test_learned_model_without_checkpoint_says_so(monkeypatch, tmp_path, torus_cloud):
    monkeypatch.setenv("IMPLICIT_STUDIO_CHECKPOINTS", str(tmp_path))
    with pytest.raises(ModelUnavailable, match="no trained checkpoint"):
        ReconstructionSession(_cloud(torus_cloud[0]), Settings(model="onet-pointcloud"))


def test_wrong_input_kind(tmp_path, torus_cloud):
    ckpt = random_checkpoint(tmp_path / "onet-image.safetensors", "onet-image")
    with pytest.raises(InputError, match="needs an image"):
        ReconstructionSession(_cloud(torus_cloud[0]), Settings(model="onet-image", checkpoint=str(ckpt)))


@pytest.mark.parametrize("name", ["convonet-3plane", "onet-pointcloud"])
def test_learned_events_in_order(tmp_path, torus_cloud, name):
    ckpt = random_checkpoint(tmp_path / f"{name}.safetensors", name)
    # random weights: a threshold at the median logit guarantees some surface
    session = ReconstructionSession(_cloud(torus_cloud[0]), Settings(model=name, checkpoint=str(ckpt),
                                                                     resolution0=16, levels=1, refine=0))
    events = list(session.run())
    assert isinstance(events[0], Started) and isinstance(events[1], Encoded)
    meshes = [e for e in events if isinstance(e, LevelMesh)]
    assert [m.level for m in meshes] == [0, 1]
    assert meshes[-1].final and not meshes[0].final
    assert isinstance(events[-1], Finished) and not events[-1].cancelled
    stats = events[-1].stats
    assert stats["levels"][-1]["evaluations"] == meshes[-1].evaluations
    sl = session.slice(2, 0.0, 32)
    assert sl.shape == (32, 32) and np.all((sl >= 0) & (sl <= 1))


def test_iso_level_from_card_unless_settings_say_otherwise(tmp_path, torus_cloud):
    spec = get_spec("convonet-3plane")
    path = random_checkpoint(tmp_path / "tuned.safetensors", spec.name, threshold=0.4)
    tuned = ReconstructionSession(_cloud(torus_cloud[0]), Settings(model=spec.name, checkpoint=str(path)))
    tuned._prepare_learned()
    assert tuned.iso == pytest.approx(np.log(0.4 / 0.6)) and tuned.threshold == 0.4
    told = ReconstructionSession(_cloud(torus_cloud[0]), Settings(model=spec.name, checkpoint=str(path), threshold=0.7))
    told._prepare_learned()
    assert told.iso == pytest.approx(np.log(0.7 / 0.3)) and told.threshold == 0.7
    plain = ReconstructionSession(_cloud(torus_cloud[0]), Settings(model=spec.name,
                                                                   checkpoint=str(random_checkpoint(tmp_path / f"{spec.name}.safetensors", spec.name))))
    plain._prepare_learned()
    assert plain.iso == pytest.approx(np.log(spec.threshold / (1 - spec.threshold)))


def test_image_model_runs(tmp_path):
    ckpt = random_checkpoint(tmp_path / "onet-image.safetensors", "onet-image")
    img = (np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)
    data = InputData("img", "image", image=img)
    events = list(ReconstructionSession(data, Settings(model="onet-image", checkpoint=str(ckpt),
                                                       resolution0=8, levels=0)).run())
    assert isinstance(events[-1], Finished)


def test_siren_fit_improves_and_meshes(torus_cloud):
    """Counted in steps, not seconds: a loaded machine makes fewer steps per second, never fewer steps."""
    pts, nrm = torus_cloud
    session = ReconstructionSession(_cloud(pts, nrm), Settings(model="siren", seconds=600, mesh_every=0.5,
                                                               resolution0=16, levels=1))
    events = []
    for event in session.run():
        events.append(event)
        previewed = any(isinstance(e, LevelMesh) and e.preview for e in events)
        if isinstance(event, FitProgress) and event.step >= 60 and previewed:
            session.stop_fit()
    fits = [e for e in events if isinstance(e, FitProgress)]
    assert len(fits) >= 3
    assert fits[-1].total < fits[0].total
    assert set(fits[0].terms) == {"sdf", "inter", "normal", "eikonal"}
    previews = [e for e in events if isinstance(e, LevelMesh) and e.preview]
    assert previews
    final = [e for e in events if isinstance(e, LevelMesh) and e.final]
    assert len(final) == 1 and len(final[0].faces) > 0
    mesh = trimesh.Trimesh(final[0].vertices, final[0].faces, process=False)
    assert mesh.is_watertight


def test_siren_estimates_normals_when_missing(torus_cloud):
    session = ReconstructionSession(_cloud(torus_cloud[0]), Settings(model="relu-mlp", seconds=1,
                                                                     resolution0=8, levels=0))
    stats = list(session.run())[-1].stats
    assert stats["fit"]["normals"] == "estimated"


def test_cancel_from_another_thread(tmp_path, torus_cloud):
    pts, nrm = torus_cloud
    session = ReconstructionSession(_cloud(pts, nrm), Settings(model="siren", seconds=60))
    timer = threading.Timer(0.5, session.cancel)
    timer.start()
    events = list(session.run())
    assert isinstance(events[-1], Finished) and events[-1].cancelled
    assert not any(isinstance(e, LevelMesh) and e.final for e in events)


def test_fit_step_abandoned_after_forward_pass_when_stopped(torus_cloud):
    """A stop flag set during a fit step ends it before the backward pass, weights unchanged."""
    import torch

    from implicit_studio.engine.fitting.siren_fit import SdfFitter

    fitter = SdfFitter(*torus_cloud, get_spec("siren").config("cpu"))
    before = {k: v.clone() for k, v in fitter.model.state_dict().items()}
    stop = threading.Event()
    stop.set()
    assert fitter.step(stop) is None
    assert fitter.steps == 0
    assert all(torch.equal(before[k], v) for k, v in fitter.model.state_dict().items())
    assert fitter.step(threading.Event())["total"] > 0 and fitter.steps == 1


def _run_in_thread(session) -> tuple[threading.Thread, list, threading.Event]:
    """Iterate ``session.run()`` on a worker thread (as the window does): the thread, the list its events land
    in, and an event set once ``Encoded`` has arrived (a fitted model's fit is then set up)."""
    events: list = []
    encoded = threading.Event()

    def consume():
        for event in session.run():
            events.append(event)
            if isinstance(event, Encoded):
                encoded.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    return thread, events, encoded


def _end_within_bound(session, thread: threading.Thread, what: str) -> None:
    """Join the run's thread within CONTROL_BOUND_S; a stuck one is let go (cancel also lifts a pause) before
    the test fails."""
    thread.join(CONTROL_BOUND_S)
    alive = thread.is_alive()
    if alive:
        session.cancel()
    assert not alive, f"{what} did not end the run within {CONTROL_BOUND_S:.0f} s"


PAUSE_WATCH_S = 0.5
"""How long a paused run is watched for a fit step it must not make. A correct run never steps while paused,
so a slow machine cannot fail the test; a run that ignores the pause starts its first step at once."""


def _counting_fit_steps(monkeypatch) -> threading.Event:
    """An event set when any ``SdfFitter.step`` begins (the fit itself is unchanged)."""
    from implicit_studio.engine.fitting.siren_fit import SdfFitter

    stepped = threading.Event()
    real = SdfFitter.step

    def step(self, *args, **kwargs):
        stepped.set()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SdfFitter, "step", step)
    return stepped


def test_pause_holds_the_fit_until_resumed(monkeypatch, torus_cloud):
    """A run paused before it starts sets its fit up (``Encoded``) but makes no fit step while paused; resumed,
    it fits and ends normally with a final mesh."""
    stepped = _counting_fit_steps(monkeypatch)
    pts, nrm = torus_cloud
    session = ReconstructionSession(_cloud(pts, nrm), Settings(model="siren", seconds=1.0, resolution0=8, levels=0))
    assert not session.paused
    session.pause()
    assert session.paused
    thread, events, encoded = _run_in_thread(session)
    assert wait_while_alive(encoded, thread), "the fit was never set up"
    assert not stepped.wait(PAUSE_WATCH_S), "a paused run made a fit step"
    assert session.paused and thread.is_alive()
    session.resume()
    assert not session.paused
    _end_within_bound(session, thread, "resume")
    assert stepped.is_set() and events[-1].stats["fit"]["steps"] >= 1
    assert isinstance(events[-1], Finished) and not events[-1].cancelled and not session.cancelled
    assert [e.level for e in events if isinstance(e, LevelMesh) and e.final] == [0]


def test_stop_fit_while_paused_ends_the_fit(torus_cloud):
    """Stop ends a paused fit too (it lifts the pause) and meshes the weights there are; the run is finished,
    not cancelled. The loop, woken while waiting to make a step, still makes that one step (``_optimise``
    checks the stop flag before it waits, not after), so at most one step is made."""
    pts, nrm = torus_cloud
    session = ReconstructionSession(_cloud(pts, nrm), Settings(model="siren", seconds=600, resolution0=8, levels=0))
    session.pause()
    thread, events, encoded = _run_in_thread(session)
    assert wait_while_alive(encoded, thread), "the fit was never set up"
    session.stop_fit()
    _end_within_bound(session, thread, "stop_fit on a paused run")
    steps = events[-1].stats["fit"]["steps"]
    assert steps <= 1
    assert isinstance(events[-1], Finished) and not events[-1].cancelled
    assert [(e.level, e.fit_step, e.final) for e in events if isinstance(e, LevelMesh)] == [(0, steps, True)]


def test_cancel_while_paused_ends_the_run(torus_cloud):
    """A paused fit waits on the pause; cancel must wake it and end the run without a final mesh."""
    pts, nrm = torus_cloud
    session = ReconstructionSession(_cloud(pts, nrm), Settings(model="siren", seconds=600, resolution0=8, levels=0))
    session.pause()
    thread, events, encoded = _run_in_thread(session)
    assert wait_while_alive(encoded, thread), "the fit was never set up"
    assert session.paused
    session.cancel()
    _end_within_bound(session, thread, "cancel of a paused run")
    assert session.cancelled
    assert isinstance(events[-1], Finished) and events[-1].cancelled
    assert not any(isinstance(e, (FitProgress, LevelMesh)) for e in events)   # paused before the first step
    assert (events[-1].stats["fit"]["steps"], events[-1].stats["fit"]["steps_per_s"]) == (0, 0.0)


def test_cancel_during_learned_meshing(torus_cloud):
    """Cancel from another thread while the model's field is being evaluated for level 1: the run ends
    after the batch in flight, without level 1 or a final mesh."""
    # the shipped weights see a surface in the torus, so level 1 has corners to evaluate
    session = ReconstructionSession(_cloud(torus_cloud[0]), Settings(model="convonet-grid", resolution0=16, levels=2,
                                                                     batch_points=2048))
    evaluate = session._locked_field
    in_level_one, calls_after_cancel = threading.Event(), []

    def field(points):
        if session.cancelled:
            calls_after_cancel.append(len(points))
        values = evaluate(points)
        if any(isinstance(e, LevelMesh) for e in events):    # level 0 is out: this batch belongs to level 1
            in_level_one.set()
            session._cancel.wait(CONTROL_BOUND_S)   # hold the batch until the other thread cancels
        return values

    session._locked_field = field
    thread, events, _ = _run_in_thread(session)
    assert wait_while_alive(in_level_one, thread), "meshing never reached level 1"
    session.cancel()
    _end_within_bound(session, thread, "cancel during meshing")
    meshes = [e for e in events if isinstance(e, LevelMesh)]
    assert [m.level for m in meshes] == [0]
    assert not any(m.final for m in meshes)
    assert calls_after_cancel == []      # no batch was started after the cancel
    assert isinstance(events[-1], Finished) and events[-1].cancelled


def test_stop_fit_meshes_the_current_weights(torus_cloud):
    """Stop during a long fit: fitting ends at once and the final mesh comes from the weights so far."""
    pts, nrm = torus_cloud
    session = ReconstructionSession(_cloud(pts, nrm), Settings(model="siren", seconds=600, resolution0=16, levels=1))
    events: list = []
    for event in session.run():
        events.append(event)
        if isinstance(event, FitProgress) and event.step >= 5:
            session.stop_fit()
    finished = events[-1]
    assert isinstance(finished, Finished) and not finished.cancelled
    final = [e for e in events if isinstance(e, LevelMesh) and e.final]
    assert len(final) == 1 and final[0].level == 1
    assert finished.stats["fit"]["steps"] == final[0].fit_step
    assert finished.stats["fit"]["seconds"] < CONTROL_BOUND_S


@pytest.mark.parametrize("bad, message", [
    (dict(resolution0=1), "--resolution0 must be in [4, 256], not 1"),
    (dict(levels=9), "--levels must be in [0, 4], not 9"),
    (dict(threshold=1.5, model="convonet-grid"), "--threshold must be in (0, 1), not 1.5"),
    (dict(seconds=-1), "--seconds must be in [0.1, 600], not -1"),
    (dict(ensemble=0), "--ensemble must be in [1, 24], not 0"),
    (dict(model="nope"), "unknown model 'nope': choose one of onet-pointcloud"),
    (dict(device="tpu"), "unknown device 'tpu': choose one of auto, cpu, cuda"),
])
def test_bad_settings(bad, message, torus_cloud, tmp_path):
    settings = Settings(**{"model": "siren", **bad})
    with pytest.raises(InputError, match=re.escape(message)):
        ReconstructionSession(_cloud(torus_cloud[0]), settings)


def test_empty_mesh_says_why_and_which_threshold_gives_a_surface(tmp_path, torus_cloud):
    ckpt = random_checkpoint(tmp_path / "onet-pointcloud.safetensors", "onet-pointcloud")

    def final_run(threshold):
        settings = Settings(model="onet-pointcloud", checkpoint=str(ckpt), resolution0=16, levels=1,
                            threshold=threshold, refine=0)
        events = list(ReconstructionSession(_cloud(torus_cloud[0]), settings).run())
        return [e for e in events if isinstance(e, LevelMesh)][-1], events[-1].stats

    mesh, stats = final_run(0.9999)
    assert len(mesh.faces) == 0
    message = stats["empty"]
    assert message.startswith("onet-pointcloud found no surface at threshold 0.9999: its highest occupancy is ") and "\n" not in message
    hint = float(message.rsplit("to ", 1)[1].rstrip(")"))
    mesh, stats = final_run(hint)
    assert len(mesh.faces) > 0 and "empty" not in stats


def test_empty_mesh_message_for_fields_without_any_inside(tmp_path, torus_cloud):
    ckpt = random_checkpoint(tmp_path / "onet-pointcloud.safetensors", "onet-pointcloud")
    learned = ReconstructionSession(_cloud(torus_cloud[0]), Settings(model="onet-pointcloud", checkpoint=str(ckpt)))
    learned.threshold, learned.iso = 0.5, 0.0
    assert "highest occupancy anywhere is 0.000" in learned.empty_surface_message(-60.0)
    assert "no threshold gives a shape" in learned.empty_surface_message(-6.0)
    assert "gave no finite values" in learned.empty_surface_message(float("nan"))
    fitted = ReconstructionSession(_cloud(torus_cloud[0]), Settings(model="siren"))
    fitted.threshold, fitted.iso = 0.0, 0.0
    assert fitted.empty_surface_message(-0.05).endswith("the smallest distance it reached is 0.050")
    assert "removed as floaters" in fitted.empty_surface_message(0.1)


# --- what a run reports (the CLI's --stats-json, the window's panels) ----------------------------------


def check_level_rows(stats: dict, meshes: list) -> None:
    """Each non-preview LevelMesh has its row in stats["levels"], with the same numbers."""
    made = [m for m in meshes if not m.preview]
    assert [row["level"] for row in stats["levels"]] == [m.level for m in made]
    previous = 0
    for row, mesh in zip(stats["levels"], made):
        assert set(row) == {"level", "resolution", "t_s", "evaluations", "new_evaluations", "field_s", "marching_s",
                            "vertices", "faces", "floaters_removed"}
        assert (row["resolution"], row["t_s"], row["evaluations"]) == (mesh.resolution, mesh.seconds, mesh.evaluations)
        assert (row["vertices"], row["faces"]) == (len(mesh.vertices), len(mesh.faces))
        assert row["new_evaluations"] == mesh.evaluations - previous
        assert 0.0 <= row["field_s"] <= stats["total_s"] and 0.0 <= row["marching_s"] <= stats["total_s"]
        assert 0.0 <= row["t_s"] <= stats["total_s"] and row["floaters_removed"] >= 0
        previous = mesh.evaluations


def test_learned_run_reports_what_it_did(torus_cloud):
    from dataclasses import asdict

    session = ReconstructionSession(_cloud(torus_cloud[0]), Settings(model="convonet-grid", resolution0=16, levels=1,
                                                                     refine=0))
    before = time.perf_counter()
    started, encoded, *meshes, finished = list(session.run())
    elapsed = time.perf_counter() - before
    assert started == Started("convonet-grid", str(session.device), str(session.checkpoint), session.data.summary())
    assert isinstance(encoded, Encoded) and encoded.seconds >= 0.0
    assert [(m.level, m.levels, m.resolution, m.final, m.preview, m.fit_step) for m in meshes] == [
        (0, 1, 16, False, False, None), (1, 1, 32, True, False, None)]
    assert all(len(m.faces) > 0 for m in meshes)
    assert isinstance(finished, Finished) and not finished.cancelled
    stats = finished.stats
    assert set(stats) == {"model", "device", "input", "checkpoint", "settings", "levels", "encode_s", "total_s",
                          "encoder_points"}
    model, card = session.store.get(session.checkpoint, "convonet-grid", session.device)
    assert stats["encoder_points"] == min(4000, encoder_points(card, model.cfg))     # a denser cloud is subsampled
    assert (stats["model"], stats["device"], stats["checkpoint"]) == ("convonet-grid", str(session.device),
                                                                        str(session.checkpoint))
    assert stats["input"] == "4,000 points" and stats["settings"] == asdict(session.settings)
    assert stats["encode_s"] == encoded.seconds <= stats["total_s"] <= elapsed     # the run's own time, no more
    assert all(row["floaters_removed"] == 0 for row in stats["levels"])     # the torus is one supported surface
    check_level_rows(stats, meshes)
    assert [m.seconds for m in meshes] == sorted(m.seconds for m in meshes)


def test_siren_run_reports_its_fit(torus_cloud):
    """Previews of the current weights while fitting (at most level 1), then the final mesh of every level."""
    pts, nrm = torus_cloud
    session = ReconstructionSession(_cloud(pts, nrm), Settings(model="siren", seconds=600, mesh_every=0.5,
                                                               resolution0=8, levels=2, threshold=0.01))
    events = []
    for event in session.run():
        events.append(event)
        previews = [e for e in events if isinstance(e, LevelMesh) and e.preview]
        if isinstance(event, FitProgress) and event.step >= 40 and len(previews) >= 4:
            session.stop_fit()
    assert session.threshold == 0.01 and session.iso == -0.01          # a distance: inside is -sdf > -0.01
    assert isinstance(events[0], Started) and events[0].checkpoint is None and isinstance(events[1], Encoded)
    fits = [e for e in events if isinstance(e, FitProgress)]
    meshes = [e for e in events if isinstance(e, LevelMesh)]
    previews, made = [m for m in meshes if m.preview], [m for m in meshes if not m.preview]
    assert 0.0 <= events[1].seconds <= events[-1].stats["total_s"]          # the fit's set-up time
    assert {f.stage for f in fits} == {"fit"}
    assert {(m.level, m.levels) for m in previews} == {(0, 1), (1, 1)} and not any(m.final for m in previews)
    assert all(m.fit_step is not None and m.fit_step <= fits[-1].step + 1 for m in previews)
    assert [(m.level, m.levels, m.final) for m in made] == [(0, 2, False), (1, 2, False), (2, 2, True)]
    stats = events[-1].stats
    fit = stats["fit"]
    assert set(fit) == {"steps", "seconds", "final_loss", "final_terms", "steps_per_s", "normals", "curve"}
    assert fit["steps"] == made[-1].fit_step >= fits[-1].step and fit["normals"] == "input"
    assert fit["steps_per_s"] == pytest.approx(fit["steps"] / fit["seconds"])
    assert fit["final_loss"] > 0 and fit["seconds"] >= fits[-1].seconds
    assert fit["curve"] == [(f.step, f.seconds, f.total) for f in fits]
    for before, after in zip(fits, fits[1:]):
        assert after.step > before.step and after.seconds - before.seconds >= 0.2 - 1e-9
    for f in fits:
        assert set(f.terms) == {"sdf", "inter", "normal", "eikonal"}
        assert f.total == pytest.approx(sum(f.terms.values()), rel=1e-5)
        assert f.steps_per_s == pytest.approx(f.step / f.seconds)
    check_level_rows(stats, meshes)


# --- the optimisation loop on a clock the test drives ----------------------------------------------------------


STEP_S = 0.125
"""Seconds each scripted fit step takes on the test's clock (exact in binary, so sums of steps are exact)."""


class ScriptedFit:
    """A stand-in for ``SdfFitter`` / ``Refiner`` with their contract (``step(stop) -> terms | None``, ``steps``):
    each step takes exactly STEP_S on the test's clock, and, like the real ones, a step whose ``stop`` flag is set
    by the time its forward pass is done is abandoned (None, not counted). ``during_step(n)`` runs inside step n,
    as another thread acting while that step computes would. The tests need a few dozen steps: the thousandth
    fails the test (a loop that never ends would otherwise spin until mutmut's time limit)."""

    def __init__(self, clock: list, during_step=None):
        self.clock, self.during_step, self.steps = clock, during_step, 0

    def step(self, stop=None):
        assert self.steps < 1000, "the fit loop did not end"     # a runaway loop fails instead of spinning
        self.clock[0] += STEP_S
        if self.during_step:
            self.during_step(self.steps + 1)
        if stop is not None and stop.is_set():
            return None
        self.steps += 1
        return {"total": 3.0 / self.steps, "sdf": 1.0 / self.steps, "eikonal": 2.0 / self.steps}


def _optimise_on_test_clock(monkeypatch, session, seconds, max_steps=None, during_step=None, stage="fit"):
    """Run ``session._optimise`` (as ``stage``) with a ScriptedFit on a clock that only the fit steps advance:
    (events, the returned summary, the fit)."""
    import types

    from implicit_studio.engine import session as session_module

    clock = [100.0]
    monkeypatch.setattr(session_module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    fit = ScriptedFit(clock, during_step)
    run = session._optimise(fit, seconds, stage, clock[0], {"levels": []}, max_steps)
    events = []
    while True:
        try:
            events.append(next(run))
        except StopIteration as done:
            return events, done.value, fit


def _siren_session(torus_cloud, **settings):
    """A SIREN session whose field is a sphere of radius 0.3, as if its fit had been set up."""
    session = ReconstructionSession(_cloud(*torus_cloud), Settings(model="siren", resolution0=8, **settings))
    session.field = sphere_field(0.3)
    return session


def test_fit_reports_every_fifth_of_a_second_and_previews_every_mesh_every(monkeypatch, torus_cloud):
    """On a clock where each step takes 1/8 s: progress once at least 0.2 s of fitting have passed since the last
    report (steps 2, 4, ..., 16), the first preview once 0.3 s have passed and then each time mesh_every (0.5 s)
    more have (steps 3, 7, 11, 15), at most level 1 of the current field; the fit ends when its 2 s are spent
    (16 steps) and its summary holds the loss curve of the reports."""
    session = _siren_session(torus_cloud, seconds=2.0, mesh_every=0.5, levels=2)
    events, summary, fit = _optimise_on_test_clock(monkeypatch, session, 2.0)
    progress = [e for e in events if isinstance(e, FitProgress)]
    assert [(p.step, p.seconds) for p in progress] == [(k, k * STEP_S) for k in range(2, 17, 2)]
    for p in progress:
        assert (p.total, p.terms, p.stage) == (3.0 / p.step, {"sdf": 1.0 / p.step, "eikonal": 2.0 / p.step}, "fit")
        assert p.steps_per_s == 8.0
    previews = [e for e in events if isinstance(e, LevelMesh)]
    assert [(m.fit_step, m.level, m.levels, m.preview, m.final) for m in previews] == [
        (k, level, 1, True, False) for k in (3, 7, 11, 15) for level in (0, 1)]
    assert all(len(m.faces) > 0 for m in previews)
    assert fit.steps == 16
    assert summary == {"steps": 16, "seconds": 2.0, "final_loss": 3.0 / 16,
                       "final_terms": {"sdf": 1 / 16, "eikonal": 2 / 16}, "steps_per_s": 8.0, "normals": "input",
                       "curve": [(p.step, p.seconds, p.total) for p in progress]}


def test_fit_ends_at_its_step_budget_and_reports_its_last_step(monkeypatch, torus_cloud):
    """With a step budget (refinement's), the loop makes exactly that many steps; the last one is reported even
    when it falls between two reports. Every report names the stage."""
    session = _siren_session(torus_cloud, seconds=600, mesh_every=600, levels=0)
    events, summary, fit = _optimise_on_test_clock(monkeypatch, session, 600, max_steps=5, stage="refine")
    assert fit.steps == 5 and summary["steps"] == 5
    progress = [e for e in events if isinstance(e, FitProgress)]
    assert [(e.step, e.seconds, e.stage) for e in progress] == [(2, 0.25, "refine"), (4, 0.5, "refine"),
                                                                (5, 0.625, "refine")]
    last = progress[-1]                  # reported after the loop: the same fields as every report
    assert (last.total, last.terms, last.steps_per_s) == (0.6, {"sdf": 0.2, "eikonal": 0.4}, 8.0)
    assert summary["curve"] == [(2, 0.25, 1.5), (4, 0.5, 0.75), (5, 0.625, 0.6)]
    assert [(m.fit_step, m.level) for m in events if isinstance(m, LevelMesh)] == [(3, 0)]


def test_cancel_during_a_step_abandons_it_and_ends_the_fit(monkeypatch, torus_cloud):
    """Cancel arriving while step 3 computes: the fit hands the session's flag to the step, which abandons it;
    the loop ends with the two steps made, the second of them reported."""
    session = _siren_session(torus_cloud, seconds=600, mesh_every=600, levels=0)
    events, summary, fit = _optimise_on_test_clock(monkeypatch, session, 600,
                                                   during_step=lambda n: n == 3 and session.cancel())
    assert fit.steps == 2 and summary["steps"] == 2 and summary["seconds"] == 3 * STEP_S
    assert [(e.step, e.seconds) for e in events if isinstance(e, FitProgress)] == [(2, 0.25)]
    assert summary["steps_per_s"] == 2 / (3 * STEP_S)


def test_stop_during_a_step_ends_the_fit_after_it(monkeypatch, torus_cloud):
    """stop_fit while step 3 computes: that step completes (stop is not cancel) and the loop makes no other."""
    session = _siren_session(torus_cloud, seconds=600, mesh_every=600, levels=0)
    events, summary, fit = _optimise_on_test_clock(monkeypatch, session, 600,
                                                   during_step=lambda n: n == 3 and session.stop_fit())
    assert fit.steps == 3 and summary["steps"] == 3 and not session.cancelled
    assert [e.step for e in events if isinstance(e, FitProgress)] == [2, 3]


def _initial_fitted_field(torus_cloud, seed: int) -> np.ndarray:
    """The field of a SIREN fit as set up with ``seed`` (before any step), on a fixed set of points."""
    session = ReconstructionSession(_cloud(*torus_cloud), Settings(model="siren", seconds=600, seed=seed))
    run = session.run()
    for event in run:
        if isinstance(event, Encoded):
            break
    probe = np.random.default_rng(7).uniform(-0.5, 0.5, (64, 3)).astype(np.float32)
    values = session.field(probe)
    session.cancel()
    run.close()
    return values


def test_the_seed_setting_decides_the_fit(torus_cloud):
    """The same seed sets the same fit up (reproducible runs); another seed, another one."""
    first = _initial_fitted_field(torus_cloud, 1)
    np.testing.assert_array_equal(_initial_fitted_field(torus_cloud, 1), first)
    assert not np.allclose(_initial_fitted_field(torus_cloud, 0), first)


@pytest.mark.parametrize("card_points, setting, expected", [(None, None, 1500), (500, None, 500), (500, 200, 200),
                                                              (None, 3000, 1500)])
def test_the_encoder_takes_as_many_points_as_the_card_or_the_setting_says(tmp_path, card_points, setting, expected):
    """Settings.n_input_points first, then the card's tuned ``encoder_points``, then the training count
    (3,000 for convonet-3plane); never more than the input has."""
    path = random_checkpoint(tmp_path / "c3.safetensors", **({} if card_points is None else {"encoder_points": card_points}))
    points = np.random.default_rng(0).uniform(-0.5, 0.5, size=(1500, 3)).astype(np.float32)
    settings = Settings(model="convonet-3plane", checkpoint=str(path), resolution0=8, levels=0, refine=0, n_input_points=setting)
    *_, finished = ReconstructionSession(InputData("cube", "points", points=points), settings).run()
    assert finished.stats["encoder_points"] == expected
