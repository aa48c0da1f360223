"""Occupancy slice view: the field on an axis-aligned plane, its iso-line, and the input points near it.

Snapshot in, result out: a slider move sends (session, axis, position, points) to the
``SliceThread``; only the newest request per view is computed. The tab draws the slice of one
view's field; with the 3D planes on, every view's field is sliced on the same plane and each
result goes out as ``plane_ready`` for the viewports, coloured as the tab colours it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from ..io.normalize import BOX_HALF as HALF
from .workers import SliceRequest, SliceThread

log = logging.getLogger(__name__)
STEPS = 110
AXES = ("x", "y", "z")


PLANE_ALPHA = (45, 220)    # opacity (of 255) of the 3D slice plane outside and inside the surface
SDF_RAMP = 0.02            # signed distance over which the plane turns from transparent to opaque


def colour_map(sdf: bool) -> pg.ColorMap:
    """The slice's colour map: diverging for signed distances, viridis for occupancy."""
    return pg.colormap.get("CET-D1" if sdf else "viridis")


def colour_levels(values: np.ndarray, sdf: bool) -> tuple[float, float]:
    """The values mapped to the ends of the colour map: (0, 1) for occupancy, symmetric for distances."""
    if not sdf:
        return 0.0, 1.0
    span = max(float(np.abs(values).max()), 1e-6)
    return -span, span


def slice_rgba(values: np.ndarray, sdf: bool) -> np.ndarray:
    """(R, R) slice values -> (R, R, 4) uint8 colours as the tab shows them, for the 3D plane: faint
    outside the surface and nearly opaque inside, so the cross-section stands out and the mesh
    behind the plane still shows."""
    low, high = colour_levels(values, sdf)
    rgba = colour_map(sdf).map(np.clip((values - low) / (high - low), 0.0, 1.0).ravel(), mode="byte")
    rgba = rgba.reshape(*values.shape, 4)
    inside = np.clip(0.5 - values / (2 * SDF_RAMP), 0.0, 1.0) if sdf else values
    rgba[..., 3] = np.round(PLANE_ALPHA[0] + (PLANE_ALPHA[1] - PLANE_ALPHA[0]) * inside)
    return rgba


@dataclass
class Source:
    """A view's field to slice: its session, the iso-line's level, and whether it is a signed distance."""

    session: object
    level: float
    sdf: bool
    scale: float = 1.0      # metres per unit of the window's frame (scenes), 1.0: the unit frame itself


class SliceView(QWidget):
    """Axis selector + position slider + image of one view's field.

    ``updated`` fires after each drawn slice; ``plane_moved(axis, position)`` at once when the
    slider or the axis changes; ``plane_ready(view, result)`` for every view's slice computed.
    """

    updated = Signal()
    plane_moved = Signal(int, float)
    plane_ready = Signal(int, object)

    def __init__(self, resolution: int = 96, parent=None):
        super().__init__(parent)
        self.resolution = resolution
        self.sources: dict[int, Source] = {}
        self.shown: int | None = None      # the view whose slice the tab draws
        self.all_views = False             # slice every view's field, not only the shown one (3D planes)
        self.points: np.ndarray | None = None
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
        self._range_scale = None         # the scale the plot's range was last fitted to
        self._fit_range(1.0)

        controls = QHBoxLayout()
        controls.addWidget(self.axis)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.position_label)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.info)
        self.axis.currentIndexChanged.connect(self._on_plane_moved)
        self.slider.valueChanged.connect(self._on_plane_moved)

    @property
    def position(self) -> float:
        return self.slider.value() * (2 * HALF / STEPS)

    def set_plane(self, axis: int, position: float) -> None:
        """Move the plane to ``axis`` (0, 1, 2) at ``position`` (unit frame, rounded to the slider's steps)."""
        self.axis.setCurrentIndex(axis)
        self.slider.setValue(round(position / (2 * HALF / STEPS)))

    def set_source(self, view: int, session, points: np.ndarray | None, level: float, sdf: bool,
                   scale: float = 1.0) -> None:
        """Slice ``session``'s field for ``view`` from now on, its iso-line at ``level``; ``scale``:
        metres per unit of the window's frame, to draw a scene's slice in metres."""
        self.sources[view] = Source(session, level, sdf, scale)
        self.points = points
        if self.shown is None:
            self.shown = view
        if view == self.shown:
            self.image.setColorMap(colour_map(sdf))
            self._show_position()
        self.request(view)

    def set_level(self, view: int, level: float) -> None:
        """Draw ``view``'s iso-line at ``level`` (a re-meshed threshold) from its next slice on."""
        if view in self.sources:
            self.sources[view].level = level
            self.request(view)

    def set_all_views(self, on: bool) -> None:
        """Slice every view's field (for the 3D planes), or only the shown one's."""
        self.all_views = on
        if on:
            self.request_all()

    def clear(self, shown: int | None = None) -> None:
        """Forget every view's field; the tab will draw view ``shown``'s (default: the first given)."""
        self.sources, self.shown, self.latest = {}, shown, None
        self.image.clear()
        self.iso.setData([], [])
        self.scatter.setData([], [])
        self.info.setText("Reconstruct to see the occupancy field")
        self._show_position()

    def _show_position(self) -> None:
        """The plane's position beside the slider: in metres for a room, else in the unit frame."""
        source = self.sources.get(self.shown)
        k = source.scale if source is not None else 1.0
        self.position_label.setText(f"{k * self.position:+.2f}" + (" m" if k != 1.0 else ""))

    def _on_plane_moved(self) -> None:
        self._show_position()
        self.plane_moved.emit(self.axis.currentIndex(), self.position)
        self.request_all()

    def request_all(self) -> None:
        """Ask for the slices at the current plane: the shown view's, every view's with ``all_views``."""
        for view in list(self.sources):
            self.request(view)

    def request(self, view: int | None = None) -> None:
        """Ask the worker for ``view``'s slice (default: the shown one) at the current axis and
        position; drops older requests of that view. Other views than the shown one are sliced
        only with ``all_views``."""
        view = self.shown if view is None else view
        source = self.sources.get(view)
        if source is None or source.session.field is None or (view != self.shown and not self.all_views):
            return
        points = self.points if view == self.shown else None      # only the tab draws the points near the plane
        self.thread.request(SliceRequest(source.session, self.axis.currentIndex(), self.position,
                                         self.resolution, points, source.level, view), key=view)

    def _on_ready(self, result) -> None:
        req = result.request
        source = self.sources.get(req.key)
        if (source is None or req.session is not source.session or req.axis != self.axis.currentIndex()
                or abs(req.position - self.position) > 1e-9):
            return          # stale: a newer request is on its way
        self.plane_ready.emit(req.key, result)
        if req.key != self.shown:
            return
        values = result.values
        self.latest = result
        # pixel centres on the sample positions (linspace over the box, ends included)
        k = source.scale
        pixel = 2 * HALF / max(values.shape[0] - 1, 1)
        rect = QRectF(k * (-HALF - pixel / 2), k * (-HALF - pixel / 2), k * (2 * HALF + pixel), k * (2 * HALF + pixel))
        self.image.setImage(values, levels=colour_levels(values, source.sdf), rect=rect)
        if k != self._range_scale:        # a room's slice spans its metres, an object's the unit box
            self._fit_range(k)
        # the iso-line comes from the worker: tracing it here would block the UI thread
        self.iso.setData(k * result.iso[:, :, 0].ravel(), k * result.iso[:, :, 1].ravel())
        if req.axis != self._labelled_axis:   # relabelling re-lays out the plot: only on a change
            rest = [AXES[a] for a in range(3) if a != req.axis]
            self.plot.setLabel("bottom", rest[0])
            self.plot.setLabel("left", rest[1])
            self._labelled_axis = req.axis
        if len(result.near):
            self.scatter.setData(k * result.near[:, 0], k * result.near[:, 1])
        else:
            self.scatter.setData([], [])
        kind = "signed distance (blue inside)" if source.sdf else "occupancy probability"
        unit = " m" if k != 1.0 else ""
        self.info.setText(f"{kind} at {AXES[req.axis]} = {k * req.position:+.2f}{unit}; iso-line at {req.level:g}; "
                          f"{len(result.near)} input points within {0.012 * k:.3g}{unit}")
        self.updated.emit()

    def _fit_range(self, scale: float) -> None:
        """Show the whole box, ``scale`` units per unit of the window's frame, on both axes."""
        self.plot.setRange(xRange=(-scale * HALF, scale * HALF), yRange=(-scale * HALF, scale * HALF), padding=0.02)
        self._range_scale = scale

    def shutdown(self) -> None:
        self.thread.stop()
        self.thread.wait()
