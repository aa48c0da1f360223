"""Occupancy slice view: the field on an axis-aligned plane, its iso-line, and the input points near it.

Snapshot in, result out: a slider move sends (session, axis, position, points) to the
``SliceThread``; only the newest request is computed and its result is drawn here.
"""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from ..io.normalize import BOX_HALF as HALF
from .workers import SliceRequest, SliceThread

log = logging.getLogger(__name__)
STEPS = 110
AXES = ("x", "y", "z")


class SliceView(QWidget):
    """Axis selector + position slider + image; ``updated`` fires after each drawn slice."""

    updated = Signal()

    def __init__(self, resolution: int = 96, parent=None):
        super().__init__(parent)
        self.resolution = resolution
        self.session = None
        self.points: np.ndarray | None = None
        self.level = 0.5
        self.sdf = False
        self.latest = None
        self.thread = SliceThread(self)
        self.thread.ready.connect(self._on_ready)
        self.thread.failed.connect(lambda msg, _user: self.info.setText(msg))

        self.axis = QComboBox()
        self.axis.addItems([f"{a} axis" for a in AXES])
        self.axis.setCurrentIndex(2)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(-STEPS // 2, STEPS // 2)
        self.slider.setValue(0)
        self.position_label = QLabel("0.00")
        self.info = QLabel("Reconstruct to see the occupancy field")
        self.info.setStyleSheet("color: #666;")

        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)   # plain unit-frame coordinates
        self.plot.setBackground("w")
        self.image = pg.ImageItem()
        self.iso = pg.PlotCurveItem(pen=pg.mkPen("k", width=2), connect="pairs")
        self.scatter = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(20, 120, 255, 200))
        self.plot.addItem(self.image)
        self.plot.addItem(self.iso)
        self.plot.addItem(self.scatter)
        self._labelled_axis = None
        self.plot.setRange(xRange=(-HALF, HALF), yRange=(-HALF, HALF), padding=0.02)

        controls = QHBoxLayout()
        controls.addWidget(self.axis)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.position_label)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.info)
        self.axis.currentIndexChanged.connect(self.request)
        self.slider.valueChanged.connect(self.request)

    @property
    def position(self) -> float:
        return self.slider.value() * (2 * HALF / STEPS)

    def set_source(self, session, points: np.ndarray | None, level: float, sdf: bool) -> None:
        """Slice ``session``'s field from now on; the iso-line is drawn at ``level``."""
        self.session, self.points, self.level, self.sdf = session, points, level, sdf
        self.image.setColorMap(pg.colormap.get("CET-D1" if sdf else "viridis"))
        self.request()

    def clear(self) -> None:
        self.session = None
        self.image.clear()
        self.iso.setData([], [])
        self.scatter.setData([], [])
        self.info.setText("Reconstruct to see the occupancy field")

    def request(self) -> None:
        """Ask the worker for the slice at the current axis and position (drops older requests)."""
        self.position_label.setText(f"{self.position:+.2f}")
        if self.session is None or self.session.field is None:
            return
        self.thread.request(SliceRequest(self.session, self.axis.currentIndex(), self.position,
                                         self.resolution, self.points, self.level))

    def _on_ready(self, result) -> None:
        req = result.request
        if (req.session is not self.session or req.axis != self.axis.currentIndex()
                or abs(req.position - self.position) > 1e-9):
            return          # stale: a newer request is on its way
        values = result.values
        self.latest = result
        # pixel centres on the sample positions (linspace over the box, ends included)
        pixel = 2 * HALF / max(values.shape[0] - 1, 1)
        rect = QRectF(-HALF - pixel / 2, -HALF - pixel / 2, 2 * HALF + pixel, 2 * HALF + pixel)
        if self.sdf:
            span = max(float(np.abs(values).max()), 1e-6)
            self.image.setImage(values, levels=(-span, span), rect=rect)
        else:
            self.image.setImage(values, levels=(0.0, 1.0), rect=rect)
        # the iso-line comes from the worker: tracing it here would block the UI thread
        self.iso.setData(result.iso[:, :, 0].ravel(), result.iso[:, :, 1].ravel())
        if req.axis != self._labelled_axis:   # relabelling re-lays out the plot: only on a change
            rest = [AXES[a] for a in range(3) if a != req.axis]
            self.plot.setLabel("bottom", rest[0])
            self.plot.setLabel("left", rest[1])
            self._labelled_axis = req.axis
        if len(result.near):
            self.scatter.setData(result.near[:, 0], result.near[:, 1])
        else:
            self.scatter.setData([], [])
        kind = "signed distance (blue inside)" if self.sdf else "occupancy probability"
        self.info.setText(f"{kind} at {AXES[req.axis]} = {req.position:+.2f}; iso-line at {self.level:g}; "
                          f"{len(result.near)} input points within 0.012")
        self.updated.emit()

    def shutdown(self) -> None:
        self.thread.stop()
        self.thread.wait()
