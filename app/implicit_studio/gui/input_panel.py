"""Side panel section: what the current input is (file, point statistics, image thumbnail, notices).

For an image, once a run has isolated its object (``engine.events.Isolated``), the thumbnail shows
the photo dimmed outside the mask with the box the object was looked for in, beside it the framed
image the model received, and below one line when the mask was implausible. Dragging on the
thumbnail draws a new box (``box_drawn``), as ``--box`` does on the command line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSignalBlocker, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QRubberBand, QVBoxLayout,
                               QWidget)

from ..io.orientation import UP_AXES

UP_LABELS = {"+y": "+y (as trained)", "+z": "+z (z-up scan)"}


def image_pixmap(image: np.ndarray, size: int = 160) -> QPixmap:
    """(H, W, 3) uint8 -> a QPixmap scaled to fit ``size`` pixels."""
    rgb = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    h, w = rgb.shape[:2]
    qimage = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(qimage).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation)


THUMBNAIL = 160
BOX_COLOUR = np.array([255, 210, 0], np.uint8)


def isolation_overlay(image: np.ndarray, mask: np.ndarray, box, side: int = 2 * THUMBNAIL) -> np.ndarray:
    """The photo shrunk to about ``side`` pixels, dimmed outside ``mask``, with ``box`` outlined.

    image : (H, W, 3) uint8; mask : (H, W) bool; box : (x0, y0, x1, y1) pixels
    Returns (h, w, 3) uint8 (plain numpy: cheap enough for the UI thread).
    """
    step = max(1, int(np.ceil(max(image.shape[:2]) / side)))
    small, inside = image[::step, ::step, :3].astype(np.float32), mask[::step, ::step]
    out = np.where(inside[..., None], small, small * 0.3 + 40.0).astype(np.uint8)
    x0, y0, x1, y1 = (int(v) // step for v in box)
    h, w = out.shape[:2]
    x1, y1 = min(max(x1 - 1, 0), w - 1), min(max(y1 - 1, 0), h - 1)
    for t in range(2):
        out[min(y0 + t, h - 1), x0:x1 + 1] = out[max(y1 - t, 0), x0:x1 + 1] = BOX_COLOUR
        out[y0:y1 + 1, min(x0 + t, w - 1)] = out[y0:y1 + 1, max(x1 - t, 0)] = BOX_COLOUR
    return out


class BoxLabel(QLabel):
    """An image thumbnail on which a box can be dragged; ``box_drawn`` carries it in image pixels."""

    box_drawn = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image_size: tuple[int, int] | None = None   # (width, height) of the image shown
        self._band = QRubberBand(QRubberBand.Shape.Rectangle, self)
        self._origin: QPoint | None = None

    def _pixmap_rect(self) -> QRect:
        pixmap = self.pixmap()
        size = pixmap.size() if pixmap is not None and not pixmap.isNull() else QSize(0, 0)
        return QRect(QPoint((self.width() - size.width()) // 2, (self.height() - size.height()) // 2), size)

    def mousePressEvent(self, event) -> None:
        if self.image_size is None or event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        self._origin = event.position().toPoint()
        self._band.setGeometry(QRect(self._origin, QSize()))
        self._band.show()

    def mouseMoveEvent(self, event) -> None:
        if self._origin is not None:
            self._band.setGeometry(QRect(self._origin, event.position().toPoint()).normalized())

    def mouseReleaseEvent(self, event) -> None:
        if self._origin is None:
            return super().mouseReleaseEvent(event)
        self._band.hide()
        rect = QRect(self._origin, event.position().toPoint()).normalized()
        self._origin = None
        shown = self._pixmap_rect()
        if rect.width() < 4 or rect.height() < 4 or shown.width() == 0:
            return
        sx, sy = self.image_size[0] / shown.width(), self.image_size[1] / shown.height()
        box = (round((rect.left() - shown.left()) * sx), round((rect.top() - shown.top()) * sy),
               round((rect.right() + 1 - shown.left()) * sx), round((rect.bottom() + 1 - shown.top()) * sy))
        self.box_drawn.emit(box)


def describe_input(data) -> str:
    """A few lines about ``data`` for the panel."""
    lines = [data.summary()]
    if data.points is not None:
        lo, hi = data.points.min(axis=0), data.points.max(axis=0)
        lines.append("extent (unit frame): " + " x ".join(f"{v:.2f}" for v in hi - lo))
        scale = data.normalization.scale
        lines.append(f"scale: 1 unit = {scale:.4g} of your units")
    lines.extend(data.notices)
    return "\n".join(lines)


class InputPanel(QGroupBox):
    """Shows the loaded input; ``show_loading`` while a file is parsed in the background.

    The Up axis box says which of the file's axes points up; ``up_changed`` carries the
    choice ("+y", "+z", ...) so the scan can be turned upright for the models.
    """

    up_changed = Signal(str)
    box_drawn = Signal(object)

    def __init__(self, parent=None):
        super().__init__("Input", parent)
        self.name = QLabel("Drop a point cloud, mesh or image here\n(or File > Open, Ctrl+O)")
        self.name.setWordWrap(True)
        self.name.setStyleSheet("font-weight: bold;")
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.thumbnail = BoxLabel()
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setToolTip("Drag a box around the object to isolate it there and reconstruct again")
        self.thumbnail.box_drawn.connect(self.box_drawn)
        self.thumbnail.hide()
        self.framed = QLabel()             # the image the model received
        self.framed.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.framed.setToolTip("What the model received: the object cut out and framed like its training renders")
        self.isolation = QLabel("")
        self.isolation.setWordWrap(True)
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b00020;")
        self.isolation_row = QWidget()
        row = QHBoxLayout(self.isolation_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.framed)
        row.addWidget(self.isolation, 1)
        self.isolation_row.hide()
        self.problem.hide()
        self.up = QComboBox()
        for up in UP_AXES:
            self.up.addItem(UP_LABELS.get(up, up), up)
        self.up.setToolTip("Which axis of the file points up. The models were trained on upright shapes "
                           "(y up);\nchoose +z for z-up scans (LiDAR, Blender, photogrammetry). "
                           "Exports keep the file's axes.")
        self.up.currentIndexChanged.connect(lambda _: self.up_changed.emit(self.up.currentData()))
        self.up_row = QWidget()            # hidden for images: they have no axes to turn
        form = QFormLayout(self.up_row)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Up axis", self.up)
        layout = QVBoxLayout(self)
        layout.addWidget(self.name)
        layout.addWidget(self.details)
        layout.addWidget(self.up_row)
        layout.addWidget(self.thumbnail)
        layout.addWidget(self.isolation_row)
        layout.addWidget(self.problem)

    def set_up(self, up: str) -> None:
        """Select ``up`` (one of UP_AXES), emitting ``up_changed`` if it is new."""
        self.up.setCurrentIndex(self.up.findData(up))

    def show_up(self, up: str) -> None:
        """Show the up axis the current input was turned with, without emitting ``up_changed``."""
        with QSignalBlocker(self.up):
            self.up.setCurrentIndex(self.up.findData(up))

    def show_loading(self, path: str) -> None:
        self.details.setText(f"loading {Path(path).name} ...")

    def show_input(self, path: str, data) -> None:
        self.name.setText(Path(path).name)
        self.name.setToolTip(str(path))
        self.details.setText(describe_input(data))
        self.up_row.setVisible(data.points is not None)
        self._image = data.image
        self.isolation_row.hide()
        self.show_problem(None)
        if data.image is not None:
            self.thumbnail.setPixmap(image_pixmap(data.image, THUMBNAIL))
            self.thumbnail.image_size = (data.image.shape[1], data.image.shape[0])
            self.thumbnail.show()
        else:
            self.thumbnail.image_size = None
            self.thumbnail.hide()

    def show_isolation(self, event) -> None:
        """Show what an ``Isolated`` event found: the mask and box on the thumbnail, the framed input."""
        if getattr(self, "_image", None) is None or event.mask.shape != self._image.shape[:2]:
            return
        self.thumbnail.setPixmap(image_pixmap(isolation_overlay(self._image, event.mask, event.box), THUMBNAIL))
        self.framed.setPixmap(image_pixmap(event.framed, 96))
        x0, y0, x1, y1 = event.box
        self.isolation.setText(f"left: the model's input, framed and grey like the renders it learned from\nmask: {event.method}, "
                               f"{100 * event.mask.mean():.0f}% of the photo\nbox {x0},{y0},{x1},{y1} px "
                               "(drag on the photo to change it)")
        self.isolation_row.show()
        self.show_problem(event.problem)

    def show_problem(self, text: str | None) -> None:
        """One line in red under the input (a mask or reconstruction that went wrong), or none."""
        self.problem.setText(text or "")
        self.problem.setVisible(bool(text))

    def show_failed(self) -> None:
        """Loading failed: keep showing the previous input."""
        if self.details.text().startswith("loading"):
            self.details.setText("")
