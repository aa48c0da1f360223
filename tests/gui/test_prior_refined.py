"""A learned prior beside its refinement: the "prior vs refined" compare views and the classroom preset
"learned prior vs per-shape fit vs both" (issue 19).

One session yields the prior's levels and then the refined ones; the prior view keeps the former,
so nothing is encoded twice. Refinement is stopped by its step count (``DEFAULTS[...].steps``, the
time budget made large) and SIREN by "stop" after a number of fit steps: the tests wait on events
and step counts, never on wall-clock budgets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from .conftest import drop

pytestmark = pytest.mark.gui
RUN_TIMEOUT_MS = 180_000
MODEL = "convonet-3plane"       # the fastest learned model to encode and mesh
REFINE_STEPS = 5
FIT_STEPS = 30                  # SIREN steps after which the fit meshes as a closed surface


def refine_by_steps(monkeypatch, *models: str) -> None:
    """Refinement of ``models`` ends after REFINE_STEPS steps: their time budget is made too long to matter."""
    from implicit_studio.engine import registry
    from implicit_studio.engine.fitting import refine

    for name in models:
        monkeypatch.setitem(refine.DEFAULTS, name, replace(refine.DEFAULTS[name], steps=REFINE_STEPS))
        monkeypatch.setitem(registry.MODELS, name, replace(registry.MODELS[name], refine_seconds=600.0))


def count_encodes(window, monkeypatch, name: str) -> list:
    """The cached model's ``encode`` calls (one entry per call), through the window's model store."""
    from implicit_studio.engine.device import select_device
    from implicit_studio.engine.registry import default_checkpoint

    model, _card = window.model.store.get(default_checkpoint(name), name, select_device("auto"))
    calls = []
    encode = model.encode

    def counted(*args):
        calls.append(1)
        return encode(*args)

    monkeypatch.setattr(model, "encode", counted)
    return calls


@pytest.fixture
def prior_window(window, monkeypatch):
    from implicit_studio.engine.registry import default_checkpoint

    if default_checkpoint(MODEL) is None:
        pytest.skip(f"no shipped {MODEL} checkpoint")
    refine_by_steps(monkeypatch, MODEL)
    window.model_panel.set_model(MODEL)
    window.model_panel.apply({"resolution0": 16, "levels": 1})
    return window


def test_prior_vs_refined_shows_both_meshes_of_one_run(prior_window, qtbot, sphere_file, monkeypatch):
    from implicit_studio.gui.workers import MeshPayload

    window = prior_window
    encodes = count_encodes(window, monkeypatch, MODEL)
    window.set_compare(["prior-refined"])        # Compare > Prior vs Refined, --compare prior-refined
    assert window.compare_models == [f"{MODEL}:prior", MODEL]
    meshes: dict[int, list] = {0: [], 1: []}
    window.model.run_event.connect(lambda i, e: meshes[i].append(e) if isinstance(e, MeshPayload) else None)
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, sphere_file)

    prior, refined = window.model.runs
    assert len(encodes) == 1                     # one session: the prior was not run twice
    assert prior.thread is None and prior.source is refined
    levels = window.model.settings.levels
    # the prior view holds the prior's top level as it came out of the refined view's run, made final
    assert prior.final.final and prior.final.level == levels and prior.final.fit_step is None
    yielded = [p.event for p in meshes[1] if p.event.fit_step is None and p.event.level == levels]
    assert len(yielded) == 1 and not yielded[0].final
    assert prior.final.vertices is yielded[0].vertices and prior.final.faces is yielded[0].faces
    assert [p.event.level for p in meshes[0]] == list(range(levels + 1))   # its levels only, no previews
    # the refined view ends on the refined field's levels, after REFINE_STEPS steps
    assert refined.final.final and refined.final.fit_step == REFINE_STEPS
    assert refined.curve and refined.curve[-1][0] == REFINE_STEPS
    assert not np.array_equal(prior.final.vertices, refined.final.vertices)

    views = window.grid.active()
    assert views[0].n_faces == len(prior.final.faces) and views[1].n_faces == len(refined.final.faces)
    assert "learned prior" in views[0].title.text() and "refined" in views[1].title.text()
    assert "done" in views[0].caption.text() and "done" in views[1].caption.text()
    assert [window.metrics.item(r, 0).text() for r in (0, 1)] == [f"{MODEL} prior", f"{MODEL} refined"]
    # the first mesh of both is the prior's level 0 (the refined levels do not replace it)
    assert window.metrics.item(0, 1).text() == window.metrics.item(1, 1).text()
    # the prior view slices the prior's field, not the refined one
    assert prior.session.field is not refined.session.field
    assert window.slice_view.sources[0].session is prior.session

    window.set_error_colours(True)               # one colour bar, one clamp for both
    qtbot.waitUntil(lambda: all(v.coloured for v in views), timeout=30_000)
    assert tuple(views[0].mesh.clim) == tuple(views[1].mesh.clim) == (0.0, window.error_bar.bar.clamp)
    assert set(window.overlays.summaries) == {0, 1}

    # a new threshold re-meshes both from their own fields, still without encoding again
    before = prior.final
    new = round(prior.session.threshold + 0.15, 3)
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        window.model_panel.threshold.setValue(new)
    assert len(encodes) == 1
    assert prior.session.threshold == refined.session.threshold == new
    assert prior.final is not before and len(prior.final.faces) != len(before.faces)
    assert views[0].n_faces == len(prior.final.faces)


def test_a_prior_alone_runs_without_refinement(prior_window, qtbot, sphere_file):
    """Without its refined view beside it, a prior view runs its own session with refinement off."""
    window = prior_window
    window.set_compare([f"{MODEL}:prior", "points"])
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, sphere_file)
    prior = window.model.runs[0]
    assert prior.source is None and prior.session.settings.refine == 0
    assert prior.final.final and prior.final.fit_step is None and not prior.curve
    assert window.grid.active()[0].n_faces == len(prior.final.faces) > 0


def test_classroom_preset_prior_vs_fit_vs_both(window, qtbot, monkeypatch):
    from implicit_studio.engine.registry import default_checkpoint
    from implicit_studio.gui.presets import get_preset, load_presets

    preset = get_preset("5-prior-vs-fit-vs-both")
    learned = preset.views[0].split(":")[0]
    if default_checkpoint(learned) is None:
        pytest.skip(f"no shipped {learned} checkpoint")
    assert preset.name in load_presets() and preset.input_path.exists()
    assert preset.views == [f"{learned}:prior", "siren", learned]
    refine_by_steps(monkeypatch, learned)
    encodes = count_encodes(window, monkeypatch, learned)
    # test-sized: a coarse grid, SIREN stopped by steps (its time budget too long to matter); the preset's
    # refinement budget is its own (refinement still ends by its step count)
    window.apply_preset(replace(preset, settings={**preset.settings, "resolution0": 16, "levels": 1, "seconds": 600}))
    assert window.banner.isVisible() and preset.title in window.banner.text()
    qtbot.waitUntil(lambda: len(window.model.runs) == 3 and bool(window.model.runs[1].curve)
                    and window.model.runs[1].curve[-1][0] >= FIT_STEPS, timeout=RUN_TIMEOUT_MS)
    prior, fit, both = window.model.runs
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        fit.session.stop_fit()                   # the per-shape fit: mesh SIREN's weights now

    assert len(encodes) == 1 and prior.source is both and fit.source is None
    assert prior.final.fit_step is None                       # the learned prior: no refinement
    assert fit.model == "siren" and fit.final.fit_step >= FIT_STEPS   # the per-shape fit: no prior
    assert both.final.fit_step == REFINE_STEPS                # both: the prior refined to the points
    assert both.session.settings.refine == preset.settings["refine"]
    titles = [v.title.text() for v in window.grid.active()]
    assert "learned prior" in titles[0] and "SIREN" in titles[1] and "refined" in titles[2]
    assert all(v.n_faces > 0 for v in window.grid.active())
    # the chair is a mesh: each pane is measured against it
    assert all(r.metrics and "iou" in r.metrics for r in window.model.runs)


def test_compare_menu_offers_prior_vs_refined_for_each_refinable_model(window):
    from implicit_studio.engine.registry import MODELS
    from implicit_studio.gui.view_names import REFINABLE

    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Compare")
    sub = next(a.menu() for a in menu.actions() if a.menu() and "Prior vs Refined" in a.text())
    actions = {a.text(): a for a in sub.actions()}
    assert sorted(actions) == sorted(MODELS[m].title for m in REFINABLE)
    actions[MODELS["convonet-grid"].title].trigger()     # no input yet: sets the views, runs nothing
    assert window.compare_models == ["convonet-grid:prior", "convonet-grid"]
    assert window.model_panel.model == "convonet-grid" and not window.model.runs
    assert len(window.grid.active()) == 2


def test_prior_views_refuse_bad_names():
    from implicit_studio.errors import InputError
    from implicit_studio.gui.view_names import expand_views, view_title

    assert expand_views(["prior-refined", "siren"], "convonet-grid") == [
        "convonet-grid:prior", "convonet-grid", "siren"]
    for names, model in ([["prior-refined"], "siren"], [["siren:prior"], "siren"], [["onet-image:prior"], "siren"],
                         [["nope"], "siren"]):
        with pytest.raises(InputError):
            expand_views(names, model)
    assert view_title("convonet-grid") == view_title("convonet-grid", ["convonet-grid", "siren"])


def test_prior_refined_from_the_command_line_refuses_a_fitted_model(sphere_file):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-m", "implicit_studio.cli", "gui", str(sphere_file), "--model", "siren",
                           "--compare", "prior-refined", "--exit-when-done"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "prior-refined" in proc.stderr
