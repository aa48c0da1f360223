"""Turntable export: one full orbit of the views, saved as an animated GIF or an MP4.

Frames are drawn on the UI thread (the OpenGL views live there), one per turn of the event
loop, so the window keeps answering between frames; the cameras are linked, so turning the
first view turns them all. Writing the file (scaling, palette, encoding) runs in a worker.
The camera is put back where it was when the orbit ends.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from ..io.animation import check_animation_output, write_animation
from .workers import TaskThread

log = logging.getLogger(__name__)
FRAMES = 60          # 6 degrees a frame
FRAME_MS = 60        # 3.6 s an orbit
MAX_WIDTH = 720      # pixels; wider frames are scaled down when written


def widget_rgb(widget: QWidget) -> np.ndarray:
    """(H, W, 3) uint8 RGB picture of ``widget`` as drawn now (OpenGL views included)."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    height, width, stride = image.height(), image.width(), image.bytesPerLine()
    rows = np.frombuffer(image.constBits(), np.uint8, count=height * stride).reshape(height, stride)
    return rows[:, : width * 3].reshape(height, width, 3).copy()


class TurntableRecorder(QObject):
    """Turn ``views[0]``'s camera once around while grabbing ``widget``; then write ``path`` in a worker.

    ``progress(frame, frames)`` after each frame; ``done(path)`` or ``failed(message)`` at the end.
    """

    progress = Signal(int, int)
    done = Signal(str)
    failed = Signal(str)

    def __init__(self, widget: QWidget, views: list, path: str, frames: int = FRAMES, frame_ms: int = FRAME_MS,
                 parent=None):
        super().__init__(parent)
        check_animation_output(path)
        self.widget, self.views, self.path = widget, views, path
        self.n_frames, self.frame_ms = frames, frame_ms
        self.frames: list[np.ndarray] = []
        self.task: TaskThread | None = None
        self._camera = None

    def start(self) -> None:
        self._camera = self.views[0].camera_state()
        QTimer.singleShot(0, self._next_frame)

    def _next_frame(self) -> None:
        k = len(self.frames)
        camera = self.views[0].view.camera
        camera.azimuth = self._camera["azimuth"] + 360.0 * k / self.n_frames
        for view in self.views:
            view.canvas.update()
        self.frames.append(widget_rgb(self.widget))
        self.progress.emit(k + 1, self.n_frames)
        if len(self.frames) < self.n_frames:
            QTimer.singleShot(0, self._next_frame)
            return
        self.views[0].set_camera_state(self._camera)
        frames, self.frames = self.frames, []

        def write():
            try:
                return write_animation(self.path, frames, self.frame_ms, MAX_WIDTH)
            finally:
                frames.clear()          # tens of megabytes of pictures: not kept once written

        self.task = TaskThread(write, "turntable")
        self.task.done.connect(lambda _path: self.done.emit(self.path))
        self.task.failed.connect(lambda message, _user: self.failed.emit(message))
        self.task.start()

    def wait(self) -> None:
        """Join the writing worker, if any (the window calls it on close)."""
        if self.task is not None:
            self.task.wait()
