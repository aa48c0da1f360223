"""How long the UI thread is blocked in the real window, during a reconstruction and while the user changes the views (benchmarks, tests)."""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)


class StallMeter:
    """A QTimer heartbeat every ``interval_ms``; ``max_stall_ms`` is the longest gap beyond the interval.

    Time the UI thread spends rendering (painting widgets, drawing and compositing the
    OpenGL views) is measured apart, as ``max_render_ms`` per gap, and left out of the
    stalls when the application is the studio's own (see ``app.studio_application_class``):
    under a software renderer (Xvfb's llvmpipe) one frame alone can take hundreds of
    milliseconds, which says nothing about work wrongly done on the UI thread.
    ``max_raw_ms`` is the longest gap with rendering included.
    """

    def __init__(self, interval_ms: int = 10):
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        from .app import studio_application_class

        self.interval_ms = interval_ms
        self.max_stall_ms = 0.0
        self.max_raw_ms = 0.0
        self.max_render_ms = 0.0
        self.ticks = 0
        self._last: float | None = None
        self._render_at_last = 0.0
        app = QApplication.instance()
        self.app = app if isinstance(app, studio_application_class()) else None
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    @property
    def separates_rendering(self) -> bool:
        """Whether rendering time is measured apart (the studio's own QApplication)."""
        return self.app is not None

    def _render_clock(self) -> float:
        return self.app.render_clock if self.app is not None else 0.0

    def start(self) -> None:
        if self.app is not None:
            self.app.time_rendering = True
        self._last = time.perf_counter()
        self._render_at_last = self._render_clock()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        if self.app is not None:
            self.app.time_rendering = False

    def _tick(self) -> None:
        now, render = time.perf_counter(), self._render_clock()
        if self._last is not None:
            gap_ms = (now - self._last) * 1000.0 - self.interval_ms
            render_ms = (render - self._render_at_last) * 1000.0
            self.max_raw_ms = max(self.max_raw_ms, gap_ms)
            self.max_render_ms = max(self.max_render_ms, render_ms)
            self.max_stall_ms = max(self.max_stall_ms, gap_ms - render_ms)
        self._last, self._render_at_last = now, render
        self.ticks += 1


def _wait(timeout_s: float, *signals) -> None:
    """Run the event loop until one of ``signals`` fires (or ``timeout_s`` passes)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    for signal in signals:
        signal.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    for signal in signals:
        signal.disconnect(loop.quit)


def _pump(ms: int) -> None:
    """Let the event loop run for ``ms`` milliseconds."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _window(model: str, settings: dict):
    """A shown, non-interactive main window set to ``model`` and the panel ``settings``."""
    from .app import qt_application
    from .main_window import MainWindow

    app = qt_application()
    window = MainWindow(interactive=False)
    window.model_panel.set_model(model)
    window.model_panel.apply(settings)
    window.show()
    return app, window


def measure_ui_stall(files: list[str], model: str = "siren", seconds: float = 5.0, resolution0: int = 32,
                     levels: int = 2, timeout_s: float = 300.0) -> float:
    """Open the window, reconstruct ``files[0]`` with ``model`` and return the longest UI stall in ms.

    Rendering time is not counted (see :class:`StallMeter`).

    Needs a display (use xvfb-run). ``seconds`` is the fitting time for SIREN / ReLU.
    """
    app, window = _window(model, {"resolution0": resolution0, "levels": levels, "seconds": seconds})
    meter = StallMeter()
    meter.start()
    window.open_files([str(f) for f in files])
    _wait(timeout_s, window.idle, window.model.load_failed)
    meter.stop()
    window.close()
    app.processEvents()
    log.info("longest UI stall %.1f ms over %d heartbeats (rendering apart: %s; longest gap with "
             "rendering %.1f ms, of it rendering %.1f ms)", meter.max_stall_ms, meter.ticks,
             meter.separates_rendering, meter.max_raw_ms, meter.max_render_ms)
    return meter.max_stall_ms


def measure_view_changes(file: str, model: str = "convonet-3plane", changes: int = 6,
                         timeout_s: float = 300.0) -> dict:
    """Reconstruct ``file`` with ``model`` in the window, then time what the user does to the views.

    - ``threshold_to_first_mesh_s``: per threshold change (alternately 0.1 above the model's own and
      back), seconds from the edit to the first re-meshed mesh reaching the window, and
      ``..._without_rendering_s`` the same less the time the UI thread spent rendering meanwhile;
    - ``error_colours_stall_ms`` / ``slice_plane_stall_ms``: the longest UI stall (rendering apart)
      while error colours are toggled ``changes`` times, and while the slice plane (cut-away on)
      sweeps the box.

    Needs a display (use xvfb-run) and a model whose threshold is an occupancy (a learned one).
    """
    from .workers import MeshPayload

    app, window = _window(model, {})
    window.open_files([file])
    _wait(timeout_s, window.idle, window.model.load_failed)
    if not window.model.runs or window.model.runs[0].session is None:
        window.close()
        raise RuntimeError(f"{model} did not reconstruct {file}: {'; '.join(window.errors)}")
    clock = {}
    app.time_rendering = True          # the studio's application times its rendering (app.py)

    def arrived(_index, event) -> None:
        if isinstance(event, MeshPayload) and event.threshold is not None and "mesh" not in clock:
            clock["mesh"], clock["render"] = time.perf_counter(), app.render_clock

    window.model.run_event.connect(arrived)
    base = window.model.runs[0].session.threshold
    latency, without_rendering = [], []
    for k in range(changes):
        clock.clear()
        start, render = time.perf_counter(), app.render_clock
        window.model_panel.threshold.setValue(round(base + (0.1 if k % 2 == 0 else 0.0), 3))
        _wait(timeout_s, window.idle)
        latency.append(clock["mesh"] - start)
        without_rendering.append(latency[-1] - (clock["render"] - render))
    app.time_rendering = False

    view = window.grid.views[0]
    meter = StallMeter()
    meter.start()
    for _ in range(changes):
        window.set_error_colours(True)
        while not view.coloured:
            _pump(10)
        _pump(100)
        window.set_error_colours(False)
        _pump(100)
    meter.stop()
    errors_ms = meter.max_stall_ms
    window.set_slice_plane(True)
    window.set_cut_away(True)
    _pump(500)
    meter = StallMeter()
    meter.start()
    for value in [*range(-50, 51, 5), *range(50, -51, -10)]:
        window.slice_view.slider.setValue(value)
        _pump(40)
    _pump(300)
    meter.stop()
    window.close()
    app.processEvents()
    return {"model": model, "file": str(file), "threshold_to_first_mesh_s": latency,
            "threshold_to_first_mesh_without_rendering_s": without_rendering,
            "error_colours_stall_ms": errors_ms, "slice_plane_stall_ms": meter.max_stall_ms,
            "load_average": list(os.getloadavg())}
