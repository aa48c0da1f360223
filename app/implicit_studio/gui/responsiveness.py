"""How long the UI thread is blocked during a reconstruction in the real window (for benchmarks and tests)."""

from __future__ import annotations

import logging
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


def measure_ui_stall(files: list[str], model: str = "siren", seconds: float = 5.0, resolution0: int = 32,
                     levels: int = 2, timeout_s: float = 300.0) -> float:
    """Open the window, reconstruct ``files[0]`` with ``model`` and return the longest UI stall in ms.

    Rendering time is not counted (see :class:`StallMeter`).

    Needs a display (use xvfb-run). ``seconds`` is the fitting time for SIREN / ReLU.
    """
    from PySide6.QtCore import QEventLoop, QTimer

    from .app import qt_application
    from .main_window import MainWindow

    app = qt_application()
    window = MainWindow(interactive=False)
    window.model_panel.set_model(model)
    window.model_panel.apply({"resolution0": resolution0, "levels": levels, "seconds": seconds})
    window.show()
    meter = StallMeter()
    loop = QEventLoop()
    window.idle.connect(loop.quit)
    window.model.load_failed.connect(lambda *_: loop.quit())
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    meter.start()
    window.open_files([str(f) for f in files])
    loop.exec()
    meter.stop()
    window.close()
    app.processEvents()
    log.info("longest UI stall %.1f ms over %d heartbeats (rendering apart: %s; longest gap with "
             "rendering %.1f ms, of it rendering %.1f ms)", meter.max_stall_ms, meter.ticks,
             meter.separates_rendering, meter.max_raw_ms, meter.max_render_ms)
    return meter.max_stall_ms
