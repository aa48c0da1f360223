"""Side panel section: what the current input is (file, point statistics, image thumbnail, notices)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from ..io.orientation import UP_AXES

UP_LABELS = {"+y": "+y (as trained)", "+z": "+z (z-up scan)"}


def image_pixmap(image: np.ndarray, size: int = 160) -> QPixmap:
    """(H, W, 3) uint8 -> a QPixmap scaled to fit ``size`` pixels."""
    rgb = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    h, w = rgb.shape[:2]
    qimage = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(qimage).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation)


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

    def __init__(self, parent=None):
        super().__init__("Input", parent)
        self.name = QLabel("Drop a point cloud, mesh or image here\n(or File > Open, Ctrl+O)")
        self.name.setWordWrap(True)
        self.name.setStyleSheet("font-weight: bold;")
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.thumbnail = QLabel()
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.hide()
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

    def set_up(self, up: str) -> None:
        """Select ``up`` (one of UP_AXES), emitting ``up_changed`` if it is new."""
        self.up.setCurrentIndex(self.up.findData(up))

    def show_loading(self, path: str) -> None:
        self.details.setText(f"loading {Path(path).name} ...")

    def show_input(self, path: str, data) -> None:
        self.name.setText(Path(path).name)
        self.name.setToolTip(str(path))
        self.details.setText(describe_input(data))
        self.up_row.setVisible(data.points is not None)
        if data.image is not None:
            self.thumbnail.setPixmap(image_pixmap(data.image))
            self.thumbnail.show()
        else:
            self.thumbnail.hide()

    def show_failed(self) -> None:
        """Loading failed: keep showing the previous input."""
        if self.details.text().startswith("loading"):
            self.details.setText("")
