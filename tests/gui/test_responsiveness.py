"""The stall meter itself: work on the UI thread counts as a stall, time spent painting does not."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.gui


class SlowPaint:
    """A widget whose paint event sleeps ``seconds`` (stands in for a slow software-rendered frame)."""

    def __new__(cls, seconds: float):
        from PySide6.QtWidgets import QWidget

        class Widget(QWidget):
            def paintEvent(self, _event):
                time.sleep(seconds)

        return Widget()


def test_blocking_slot_is_a_stall_and_painting_is_timed_apart(qtbot):
    from PySide6.QtCore import QTimer

    from implicit_studio.gui.responsiveness import StallMeter

    meter = StallMeter()
    assert meter.separates_rendering
    widget = SlowPaint(0.15)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    meter.start()
    qtbot.wait(50)
    widget.repaint()                      # 150 ms of painting: rendering, not a stall
    qtbot.wait(50)
    painted = meter.max_stall_ms
    QTimer.singleShot(0, lambda: time.sleep(0.15))   # 150 ms of work in a slot: a stall
    qtbot.wait(100)
    meter.stop()
    assert meter.max_render_ms >= 140
    assert painted < 140                  # counted, the 150 ms paint would read >= 150; the slack absorbs a busy machine
    assert meter.max_stall_ms >= 140
    assert meter.max_raw_ms >= meter.max_stall_ms
