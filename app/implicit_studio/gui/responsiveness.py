"""How long the UI thread is blocked during a reconstruction in the real window (for benchmarks and tests)."""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


class StallMeter:
    """A QTimer heartbeat every ``interval_ms``; ``max_stall_ms`` is the longest gap beyond the interval.

    OpenGL frames of watched viewports are timed apart (``max_frame_ms``) and left out of
    the stalls: under a software renderer (Xvfb's llvmpipe) one frame alone can take
    hundreds of milliseconds, which says nothing about work wrongly done on the UI thread.
    """

    def __init__(self, interval_ms: int = 10):
        from PySide6.QtCore import QTimer

        self.interval_ms = interval_ms
        self.max_stall_ms = 0.0
        self.ticks = 0
        self._last: float | None = None
        self._frame_start = 0.0
        self._frames_s = 0.0
        self.max_frame_ms = 0.0
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def watch(self, viewports) -> None:
        """Time the frames of these viewports apart from the stalls."""
        for view in viewports:
            view.canvas.events.draw.connect(self._frame_begins, position="first")
            view.canvas.events.draw.connect(self._frame_ends, position="last")

    def _frame_begins(self, _event) -> None:
        self._frame_start = time.perf_counter()

    def _frame_ends(self, _event) -> None:
        spent = time.perf_counter() - self._frame_start
        self._frames_s += spent
        self.max_frame_ms = max(self.max_frame_ms, spent * 1000.0)

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            gap_ms = (now - self._last - self._frames_s) * 1000.0 - self.interval_ms
            self.max_stall_ms = max(self.max_stall_ms, gap_ms)
        self._last = now
        self._frames_s = 0.0
        self.ticks += 1


def measure_ui_stall(files: list[str], model: str = "siren", seconds: float = 5.0, resolution0: int = 32,
                     levels: int = 2, timeout_s: float = 300.0) -> float:
    """Open the window, reconstruct ``files[0]`` with ``model`` and return the longest UI stall in ms.

    OpenGL frame time is not counted (see :class:`StallMeter`).

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
    meter.watch(window.grid.views)
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
    log.info("longest UI stall %.1f ms over %d heartbeats (longest OpenGL frame %.1f ms, not counted)",
             meter.max_stall_ms, meter.ticks, meter.max_frame_ms)
    return meter.max_stall_ms
