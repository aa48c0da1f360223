"""What the views show on top of the meshes: error colours and the slice plane, the same in every view.

``ViewOverlays`` connects the view grid, the Slice tab and the shared colour bar: distances
are computed in a ``DistanceThread`` (snapshot in, result out: a result is applied only if
its view still shows the mesh it was computed for); slices come from the Slice tab's worker.
The UI thread only hands arrays to the viewports.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject

from ..evaluate.distances import available_references
from .error_colours import ErrorBar, auto_clamp, format_summary
from .slice_view import SliceView, slice_rgba
from .workers import DistanceRequest, DistanceThread

log = logging.getLogger(__name__)


class ViewOverlays(QObject):
    """Error colours (with ``error_bar``), the slice plane and its cut-away over ``grid``'s views."""

    def __init__(self, grid, slice_view: SliceView, error_bar: ErrorBar, parent=None):
        super().__init__(parent)
        self.grid = grid
        self.slice_view = slice_view
        self.error_bar = error_bar
        self.errors_on = False
        self.planes_on = False
        self.cut_on = False
        self.data = None
        self.summaries: dict[int, dict] = {}      # view -> distance summary of its mesh shown
        self.distances = DistanceThread(self)
        self.distances.ready.connect(self._on_distances)
        self.distances.failed.connect(lambda msg, _user: log.warning("error colours: %s", msg))
        error_bar.reference_changed.connect(lambda _kind: self._measure_all())
        error_bar.clamp_changed.connect(lambda _value: self._apply_clamp())
        error_bar.hide()
        slice_view.plane_moved.connect(self._on_plane_moved)
        slice_view.plane_ready.connect(self._on_plane_ready)

    # --- input and runs -------------------------------------------------------------------
    def set_input(self, data) -> None:
        """A new input: the references it offers go into the colour bar."""
        self.data = data
        self.error_bar.set_references(available_references(data))
        self.summaries = {}
        self._show_bar()

    def start_views(self) -> None:
        """New runs: every view starts plain, with a grey plane until its field can be sliced."""
        self.summaries = {}
        axis, position = self.slice_view.axis.currentIndex(), self.slice_view.position
        for view in self.grid.active():
            view.set_errors(None)
            view.set_plane_grey(self.slice_view.resolution)
            view.set_plane(axis, position)
            view.show_plane(self.planes_on)
            view.set_cut_away(self.cut_on)

    def mesh_shown(self, index: int) -> None:
        """View ``index`` shows a new mesh: measure it (error colours), slice its field again."""
        if self.errors_on:
            self._measure(index)

    # --- error colours --------------------------------------------------------------------
    def set_errors(self, on: bool) -> str | None:
        """Colour every view by its distances (from now on, also for later inputs); returns why the
        current input cannot be coloured, if so."""
        self.errors_on = on
        self._show_bar()
        if on:
            self._measure_all()
        else:
            for view in self.grid.views:
                view.set_errors(None)
        if on and self.data is not None and not self.error_bar.kind:
            return "error colours need a point cloud or a mesh as input, not an image"
        return None

    def _show_bar(self) -> None:
        self.error_bar.setVisible(self.errors_on and bool(self.error_bar.kind))

    def _measure_all(self) -> None:
        self.summaries = {}
        if self.errors_on:
            for index in range(len(self.grid.active())):
                self._measure(index)

    def _measure(self, index: int) -> None:
        view = self.grid.active()[index]
        if view.n_faces == 0 or self.data is None or not self.error_bar.kind:
            self.summaries.pop(index, None)
            view.set_errors(None)
            return
        self.distances.request(DistanceRequest(view.mesh_vertices, self.data, self.error_bar.kind), key=index)

    def _on_distances(self, result) -> None:
        views = self.grid.active()
        if not self.errors_on or result.key >= len(views):
            return
        view, req = views[result.key], result.request
        if view.mesh_vertices is not req.vertices or req.kind != self.error_bar.kind or req.data is not self.data:
            return          # the view moved on (a newer level, another reference): its request follows
        self.summaries[result.key] = result.summary
        view.set_errors(result.distances, format_summary(result.summary, req.kind))
        self._apply_clamp()

    def _apply_clamp(self) -> None:
        clamp = self.error_bar.user_clamp or auto_clamp([s["p95"] for s in self.summaries.values()])
        self.error_bar.show_clamp(clamp)
        for view in self.grid.views:
            view.set_error_clamp(clamp)

    # --- the slice plane --------------------------------------------------------------------
    def set_planes(self, on: bool) -> None:
        """Show the Slice tab's plane in every view (each coloured by its own field)."""
        self.planes_on = on
        for view in self.grid.active():
            view.show_plane(on)
        self.slice_view.set_all_views(on)

    def set_cut(self, on: bool) -> None:
        """Cut every view's mesh away between the camera and the plane."""
        self.cut_on = on
        for view in self.grid.active():
            view.set_cut_away(on)

    def _on_plane_moved(self, axis: int, position: float) -> None:
        for view in self.grid.active():
            view.set_plane(axis, position)

    def _on_plane_ready(self, index: int, result) -> None:
        views = self.grid.active()
        source = self.slice_view.sources.get(index)
        if index < len(views) and source is not None:
            req = result.request
            views[index].set_plane(req.axis, req.position, slice_rgba(result.values, source.sdf))

    def shutdown(self) -> None:
        self.distances.stop()
        self.distances.wait()
