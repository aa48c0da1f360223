"""The window end to end: drop, levels, cancel, bad files, slices, fitting, compare, export."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import pytest

from implicit_studio.engine.session import AS_LOADED_NOTE

from .conftest import drop

pytestmark = pytest.mark.gui
RUN_TIMEOUT_MS = 60_000
FIT_STEPS = 30   # SIREN steps after which the 2,000-point sphere meshes as a closed surface (it does from about 5)


def test_drop_file_shows_mesh_levels(window, qtbot, sphere_file):
    from implicit_studio.gui.workers import MeshPayload

    levels = []
    window.model.run_event.connect(
        lambda i, e: levels.append(e.event.level) if isinstance(e, MeshPayload) and not e.event.preview else None)
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, sphere_file)
    view = window.grid.views[0]
    assert view.n_points == 2000
    assert view.n_vertices > 100 and view.n_faces > 100
    assert levels == [0, 1]                       # each MISE level arrived as it was made
    assert window.recent_files()[0] == str(sphere_file)
    assert "sphere.ply" in window.input_panel.name.text()


def test_cancel_mid_run_stops_fast(window, qtbot, sphere_file):
    from implicit_studio.engine.events import Finished, FitProgress

    window.model_panel.apply({"seconds": 60})
    seen = []
    window.model.run_event.connect(lambda i, e: seen.append(e))
    drop(window, sphere_file)
    qtbot.waitUntil(lambda: any(isinstance(e, FitProgress) for e in seen), timeout=RUN_TIMEOUT_MS)
    thread = window.model.runs[0].thread
    start = time.perf_counter()
    window.model.cancel()
    assert thread.wait(5000)
    elapsed = time.perf_counter() - start
    qtbot.waitUntil(lambda: any(isinstance(e, Finished) for e in seen), timeout=5000)
    finished = next(e for e in seen if isinstance(e, Finished))
    assert finished.cancelled
    # the engine checks the flag between fit steps; the machine is shared, so allow slack over 200 ms
    assert elapsed < 1.0, f"cancel took {elapsed * 1000:.0f} ms"


def test_new_request_cancels_running_one(window, qtbot, sphere_file):
    """The second request cancels the first; it is then stopped after a number of fit steps, never after a
    number of seconds (a loaded machine may give a short fit a single step, and an empty mesh)."""
    window.model_panel.apply({"seconds": 600})
    with qtbot.waitSignal(window.model.runs_started, timeout=RUN_TIMEOUT_MS):
        drop(window, sphere_file)
    first = window.model.runs[0]
    with qtbot.waitSignal(window.model.runs_started, timeout=RUN_TIMEOUT_MS):
        window.reconstruct()
    second = window.model.runs[0]
    assert second is not first
    assert first.thread.wait(RUN_TIMEOUT_MS)
    assert first.session is None or first.session.cancelled
    assert not first.done or not first.final          # the cancelled run never delivered a final mesh
    qtbot.waitUntil(lambda: bool(second.curve) and second.curve[-1][0] >= FIT_STEPS, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        window.fit_panel.stop_button.click()          # stop the fit, mesh the weights after >= FIT_STEPS steps
    assert second.done and not second.stats.get("empty")
    assert second.final is not None and second.final.fit_step >= FIT_STEPS
    assert window.grid.views[0].n_faces > 0


def test_bad_file_keeps_scene(window, qtbot, sphere_file, tmp_path):
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, sphere_file)
    faces = window.grid.views[0].n_faces
    bad = tmp_path / "broken.ply"
    bad.write_bytes(b"ply\nformat ascii 1.0\nelement vertex 99999\nproperty float x\nend_header\n1 2\n")
    with qtbot.waitSignal(window.error_shown, timeout=10_000) as blocker:
        drop(window, bad)
    assert "broken.ply" in blocker.args[0]
    assert window.grid.views[0].n_faces == faces
    assert window.model.path == str(sphere_file)
    assert "sphere.ply" in window.input_panel.name.text()


def test_slice_updates_with_slider(window, qtbot, sphere_file):
    window.tabs.setCurrentWidget(window.slice_view)
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, sphere_file)
    sv = window.slice_view
    qtbot.waitUntil(lambda: sv.latest is not None, timeout=10_000)
    centre = sv.latest.values
    with qtbot.waitSignal(sv.updated, timeout=10_000):
        sv.slider.setValue(sv.slider.maximum() - 5)
    assert abs(sv.latest.request.position - sv.position) < 1e-6
    assert sv.latest.values.shape == centre.shape
    assert (sv.latest.values != centre).any()
    assert np.isfinite(sv.latest.values).all()
    assert len(sv.latest.near) < len(sv.points)


def test_siren_loss_decreases_and_pause_resume(window, qtbot, sphere_file):
    from implicit_studio.engine.events import FitProgress

    window.model_panel.apply({"seconds": 60})
    fits = []
    window.model.run_event.connect(lambda i, e: fits.append(e) if isinstance(e, FitProgress) else None)
    drop(window, sphere_file)
    qtbot.waitUntil(lambda: len(fits) >= 6, timeout=RUN_TIMEOUT_MS)
    window.fit_panel.pause_button.click()
    session = window.model.runs[0].session
    assert session.paused
    qtbot.wait(300)
    count = len(fits)
    qtbot.wait(800)
    assert len(fits) <= count + 1                 # at most the step that was running
    window.fit_panel.pause_button.click()
    assert not session.paused
    qtbot.waitUntil(lambda: len(fits) > count + 2, timeout=RUN_TIMEOUT_MS)
    totals = window.fit_panel.totals(0)
    assert min(totals[-3:]) < totals[0]
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        window.fit_panel.stop_button.click()      # stop the fit, mesh the current weights
    assert window.grid.views[0].n_faces > 0


def test_compare_mode_links_cameras_and_measures(window, qtbot, box_mesh_file):
    window.model_panel.apply({"seconds": 5})
    window.set_compare(["relu-mlp", "siren"])
    with qtbot.waitSignal(window.idle, timeout=2 * RUN_TIMEOUT_MS):
        drop(window, box_mesh_file)
    a, b = window.grid.active()
    assert a.n_faces > 0 and b.n_faces > 0
    a.view.camera.azimuth = 77.0
    a.view.camera.elevation = 12.0
    assert b.view.camera.azimuth == pytest.approx(77.0)
    assert b.view.camera.elevation == pytest.approx(12.0)
    runs = window.model.runs
    assert all(r.metrics and "iou" in r.metrics for r in runs)
    assert window.metrics.item(0, 4).text() not in ("", "missing")


def test_camera_copy_paste_and_export(window, qtbot, sphere_file, tmp_path):
    from PySide6.QtWidgets import QApplication

    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, sphere_file)
    view = window.grid.views[0]
    view.view.camera.azimuth = 33.0
    window.copy_camera()
    assert json.loads(QApplication.clipboard().text())["camera"]["azimuth"] == pytest.approx(33.0)
    window.reset_view()
    window.paste_camera()
    assert view.view.camera.azimuth == pytest.approx(33.0)
    out = tmp_path / "out.stl"
    task = window.model.export(0, str(out))
    qtbot.waitUntil(task.isFinished, timeout=10_000)    # it may end before a waitSignal could connect
    assert out.stat().st_size > 0
    shot = tmp_path / "shot.png"
    assert window.save_screenshot(str(shot)) and shot.stat().st_size > 1000


def cpu_slowdown() -> float:
    """How many times longer than its CPU time a fixed piece of Python work takes on this thread now:
    1 on an idle core, about 5 when five runnable threads share it. Median of 5 tries of ~10 ms of CPU."""
    ratios = []
    for _ in range(5):
        wall, cpu = time.perf_counter(), time.thread_time()
        sum(i * i for i in range(200_000))
        ratios.append((time.perf_counter() - wall) / max(time.thread_time() - cpu, 1e-6))
    return max(1.0, float(np.median(ratios)))


def engine_stall_ms(qtbot, data, settings) -> float:
    """The longest UI-thread stall while the engine alone runs ``settings`` on ``data`` in a plain thread and
    the window idles: what sharing the interpreter with a busy worker costs the UI thread on this machine now
    (on loaded cores the worker can be descheduled while it holds the GIL)."""
    import threading

    from implicit_studio.engine.session import ReconstructionSession
    from implicit_studio.gui.responsiveness import StallMeter

    meter = StallMeter()
    meter.start()
    worker = threading.Thread(target=lambda: list(ReconstructionSession(data, settings).run()))
    worker.start()
    qtbot.waitUntil(lambda: not worker.is_alive(), timeout=RUN_TIMEOUT_MS)
    meter.stop()
    assert meter.ticks > 5
    return meter.max_stall_ms


def test_ui_stays_responsive_during_reconstruction(window, qtbot, sphere_file):
    """The window's longest UI-thread stall during a reconstruction, measured on any machine and held to a
    generous bound calibrated on it at the time: 250 ms of the window's own work, times how much slower the
    UI thread runs now than on an idle core, plus twice the stall the same reconstruction causes when the
    engine runs it in a plain thread beside the idle window (the GIL's and the scheduler's share). Idle
    machine: about 20-130 ms measured (130 ms once beside a training job, over a 100 ms base); a fit, a
    marching-cubes call or a file read on the UI thread takes seconds and still breaks it. The 50 ms target
    is measured by `benchmark speed`, not here."""
    from implicit_studio.gui.responsiveness import StallMeter

    window.model_panel.apply({"resolution0": 32, "levels": 1, "seconds": 2})
    meter = StallMeter()
    assert meter.separates_rendering, "the tests must run on the studio's QApplication (conftest qapp_cls)"
    slowdown = cpu_slowdown()
    meter.start()
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, sphere_file)
    meter.stop()
    assert meter.ticks > 5
    slowdown = max(slowdown, cpu_slowdown())
    baseline_ms = engine_stall_ms(qtbot, window.model.data, replace(window.model.settings, model="siren"))
    # rendering is timed apart: llvmpipe under Xvfb on a shared CPU is slow to draw and composite
    bound_ms = 250.0 * slowdown + 2.0 * baseline_ms
    measured = (f"UI thread blocked for {meter.max_stall_ms:.0f} ms, bound {bound_ms:.0f} ms (CPU slowdown "
                f"{slowdown:.1f}x, engine alone {baseline_ms:.0f} ms; longest gap {meter.max_raw_ms:.0f} ms, "
                f"rendering {meter.max_render_ms:.0f} ms)")
    print(measured)
    assert meter.max_stall_ms < bound_ms, measured


def test_up_axis_turns_the_scan_and_exports_in_the_file_axes(window, qtbot, box_mesh_file, tmp_path):
    import trimesh

    from implicit_studio.io.orientation import UP_ROTATIONS

    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, box_mesh_file)
    as_is = np.ptp(window.model.data.points, axis=0)
    assert window.input_panel.up_row.isVisible()
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        window.input_panel.set_up("+z")              # the box's z side (0.5) now stands along y
    data = window.model.data
    assert np.allclose(np.ptp(data.points, axis=0), as_is[[0, 2, 1]], atol=1e-6)
    assert np.allclose(np.ptp(data.gt_mesh.vertices, axis=0), as_is[[0, 2, 1]], atol=0.02)
    assert window.grid.views[0].n_faces > 0 and window.model.path == str(box_mesh_file)
    out = tmp_path / "turned.ply"
    task = window.model.export(0, str(out))
    qtbot.waitUntil(task.isFinished, timeout=10_000)    # it may end before a waitSignal could connect
    # exported in the file's own axes: the shown mesh turned back by hand, then into user units
    unit = window.model.runs[0].final.vertices @ UP_ROTATIONS["+z"]
    expected = window.model.loaded.normalization.to_user(unit)
    assert np.allclose(trimesh.load(out, process=False).vertices, expected, atol=1e-5)


def test_a_las_scan_stands_up_on_its_own_and_later_files_keep_the_users_axis(window, qtbot, sphere_file, tmp_path):
    from scan_writers import las_bytes

    from implicit_studio.io.orientation import current_up

    ints = np.stack(np.meshgrid(np.arange(6), np.arange(8), np.arange(12)), -1).reshape(-1, 3) * 100
    scan = tmp_path / "tall.las"
    scan.write_bytes(las_bytes(ints, 1, offset=(500000.0, 4000000.0, 100.0)))
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, scan)
    assert current_up(window.model.data) == "+z" and window.input_panel.up.currentData() == "+z"
    assert np.argmax(np.ptp(window.model.data.points, axis=0)) == 1        # the file's z stands along y
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        window.input_panel.set_up("+y")                                    # the user knows better
    assert current_up(window.model.data) == "+y" and np.argmax(np.ptp(window.model.data.points, axis=0)) == 2
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, scan)                                                 # a LAS file says its own up again
    assert window.input_panel.up.currentData() == "+z"
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, sphere_file)                                          # a PLY takes the user's choice
    assert current_up(window.model.data) == "+y" and window.input_panel.up.currentData() == "+y"


def test_ensemble_reaches_the_run(window, qtbot, box_mesh_file):
    """(Which models offer it: the Find pose test below.)"""
    panel = window.model_panel
    panel.set_model("convonet-3plane")
    assert panel.values()["ensemble"] == 1 and panel.ensemble.text() == "off"
    panel.apply({"ensemble": 3, "refine": 0.0})
    assert panel.values()["ensemble"] == 3
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, box_mesh_file)
    assert window.model.settings.ensemble == 3 and window.grid.views[0].n_faces > 0
    assert ", 3 turns averaged" in window.grid.views[0].caption.text()


def test_find_pose_and_ensemble_are_offered_to_learned_point_models_and_pose_reaches_the_run(window, qtbot, box_mesh_file):
    panel = window.model_panel
    for name, offered in (("convonet-3plane", True), ("onet-pointcloud", True), ("convonet-grid", True),
                          ("siren", False), ("onet-image", False), ("convonet-scene", False)):
        panel.set_model(name)
        assert panel.pose.isEnabled() == offered and panel.ensemble.isEnabled() == offered, name
    panel.set_model("convonet-3plane")
    assert panel.values()["pose"] == "as-is"
    panel.apply({"pose": "auto", "refine": 0.0})
    assert panel.pose.currentData() == "auto" and panel.values()["pose"] == "auto"
    captions = []       # the view's caption after each event: the input as loaded is shown before the search
    window.model.run_event.connect(lambda _index, _event: captions.append(window.grid.views[0].caption.text()))
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, box_mesh_file)
    assert window.model.settings.pose == "auto" and window.grid.views[0].n_faces > 0
    assert any(c.startswith(AS_LOADED_NOTE + ": ") for c in captions), captions
    assert ", pose " in window.grid.views[0].caption.text()
    # the mesh is shown where the input is (the model's own frame never leaks out)
    final = window.model.runs[0].final
    assert np.allclose(final.vertices.min(axis=0), window.model.data.points.min(axis=0), atol=0.05)
    assert np.allclose(final.vertices.max(axis=0), window.model.data.points.max(axis=0), atol=0.05)


def test_a_request_thread_is_idle_only_with_nothing_waiting_or_running(qtbot):
    """``idle`` (what an unattended screenshot waits for) stays False while a request computes."""
    import threading

    from implicit_studio.gui.workers import LatestRequestThread

    release = threading.Event()
    started = threading.Event()

    class Slow(LatestRequestThread):
        def compute(self, req, key):
            started.set()
            release.wait(30)
            yield req

    thread = Slow("slow")
    assert thread.idle
    with qtbot.waitSignal(thread.ready, timeout=30_000):
        thread.request("a")
        assert started.wait(30) and not thread.idle
        release.set()
    qtbot.waitUntil(lambda: thread.idle, timeout=30_000)
    thread.stop()
    thread.wait()
