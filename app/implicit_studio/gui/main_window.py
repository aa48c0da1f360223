"""The main window: a composition of the view grid, the side panels and the session model.

The window wires signals between ``StudioModel`` (state + workers) and the panels;
it holds no reconstruction state of its own and runs nothing slow on the UI thread.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QApplication, QFileDialog, QLabel, QMainWindow, QScrollArea, QSplitter,
                               QTabWidget, QVBoxLayout, QWidget)

from ..engine.events import Encoded, Finished, FitProgress, Isolated, Started, TileMesh
from ..engine.registry import MODELS
from ..io.orientation import current_up
from ..io.units import ROOM_EXTENT_M
from ..engine.session import Settings, refine_budget
from ..errors import InputError
from . import dialogs
from .compare import MetricsTable, ViewGrid
from .error_colours import ErrorBar
from .fit_panel import FitPanel
from .input_panel import InputPanel
from .model_panel import ModelPanel
from .heap import settle_heap
from .overlays import ViewOverlays
from .presets import Preset, load_presets
from .progress_panel import ProgressPanel
from .representations import REPRESENTATIONS
from .session_model import StudioModel
from .slice_view import SliceView
from .turntable import FRAMES as TURNTABLE_FRAMES, TurntableRecorder
from .view_names import REFINABLE, expand_views, parse_view, prior_refined, view_label, view_title
from .workers import MeshPayload

log = logging.getLogger(__name__)
MAX_RECENT = 8
MAX_SHOWN_POINTS = 40_000
COMPARE_SETS = {
    "ReLU MLP vs SIREN": ["relu-mlp", "siren"],
    "ONet vs ConvONet vs SIREN": ["onet-pointcloud", "convonet-3plane", "siren"],
    "ConvONet planes vs grid": ["convonet-3plane", "convonet-grid"],
}
GUI_SETTINGS = {"batch_points": 32768, "mesh_every": 1.5}


def app_settings() -> QSettings:
    """Where recent files are kept (an INI file in the user's config folder)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "ImplicitStudio", "implicit-studio")


def run_note(stats: dict) -> str:
    """A view caption's note on a finished run's pose (``PoseSearch.summary``: searched, or
    ``Straightening.summary``: said only when it turned the scan) and ensemble (``Settings.ensemble``);
    "" without either."""
    note, pose = "", stats.get("pose")
    if pose is not None and pose["method"] == "straighten":
        note = f", straightened (turned {pose['degrees']:.0f}\N{DEGREE SIGN})" if pose["degrees"] > 0.5 else ""
    elif pose is not None:
        note = f", pose turned {pose['degrees']:.0f}\N{DEGREE SIGN}" if pose["degrees"] > 0.5 else ", pose as is"
    if stats.get("ensemble"):
        note += f", {stats['ensemble']} turns averaged"
    return note


class MainWindow(QMainWindow):
    """Drop a file, pick a model, watch the mesh refine; ``idle`` fires when all work is done."""

    idle = Signal()
    error_shown = Signal(str)

    def __init__(self, parent=None, interactive: bool = True):
        super().__init__(parent)
        self.setWindowTitle("Implicit Studio")
        self.setAcceptDrops(True)
        self.interactive = interactive     # False: errors go to the log and status bar, no dialogs
        self.model = StudioModel(Settings(**GUI_SETTINGS), self)
        self.compare_models: list[str] | None = None
        self.compare_refine: float | None = None   # a preset's refinement budget for its views (None: each model's)
        self.errors: list[str] = []
        self.shown_points: np.ndarray | None = None
        self._slice_index: int | None = None
        self.turntable: TurntableRecorder | None = None
        self.pending_box: tuple | None = None   # --box: where the object of the first image opened is

        self.grid = ViewGrid()
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #f3efe2; padding: 6px; border-radius: 3px;")
        self.banner.hide()
        self.error_bar = ErrorBar()
        self.center = QWidget()           # what a turntable films: banner, views, colour bar
        center_layout = QVBoxLayout(self.center)
        center_layout.setContentsMargins(4, 4, 4, 4)
        center_layout.addWidget(self.banner)
        center_layout.addWidget(self.grid, 1)
        center_layout.addWidget(self.error_bar)

        self.input_panel = InputPanel()
        self.model_panel = ModelPanel()
        self.progress = ProgressPanel()
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self.input_panel)
        side_layout.addWidget(self.model_panel)
        side_layout.addWidget(self.progress)
        side_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(340)

        self.slice_view = SliceView()
        self.fit_panel = FitPanel()
        self.metrics = MetricsTable()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.slice_view, "Slice")
        self.tabs.addTab(self.fit_panel, "Fitting")
        self.tabs.addTab(self.metrics, "Compare")
        self.overlays = ViewOverlays(self.grid, self.slice_view, self.error_bar, self)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(scroll)
        right.addWidget(self.tabs)
        right.setSizes([520, 380])
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.center)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([980, 420])
        self.setCentralWidget(splitter)

        self.status_device = QLabel("device: -")
        self.status_time = QLabel("")
        self.status_evals = QLabel("")
        for label in (self.status_time, self.status_evals, self.status_device):
            self.statusBar().addPermanentWidget(label)
        self.statusBar().showMessage("Drop a point cloud, mesh or image on the window")

        self._build_menus()
        self._connect()
        self.resize(1400, 900)
        settle_heap()

    # --- set-up -------------------------------------------------------------------------
    def _action(self, menu, text: str, slot, shortcut=None, checkable=False, checked=False) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.setChecked(checked)
        (action.toggled if checkable else action.triggered).connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&Open...", self.open_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self._action(file_menu, "&Export Mesh...", self.export_dialog, "Ctrl+E")
        self._action(file_menu, "Save &Screenshot...", self.screenshot_dialog, "Ctrl+S")
        self._action(file_menu, "Save &Turntable...", self.turntable_dialog, "Ctrl+T")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        run_menu = bar.addMenu("&Reconstruct")
        self._action(run_menu, "&Reconstruct", self.reconstruct, "Ctrl+R")
        self._action(run_menu, "&Cancel", self.model.cancel, "Esc")
        self._action(run_menu, "&Pause / Resume Fit", self.fit_panel.pause_button.toggle, "Space")
        self._action(run_menu, "&Stop Fit and Mesh", self.model.stop_fit)

        view_menu = bar.addMenu("&View")
        self.wire_action = self._action(view_menu, "&Wireframe", self._on_wireframe, "W", True)
        self.bbox_action = self._action(view_menu, "&Bounding Box", self._on_bbox, "B", True)
        self.points_action = self._action(view_menu, "Input &Points Over Meshes", self._on_points, "P", True)
        self._action(view_menu, "Reset &View", self.reset_view, "R")
        view_menu.addSeparator()
        self.errors_action = self._action(view_menu, "&Error Colours", self.set_error_colours, "E", True)
        self.plane_action = self._action(view_menu, "&Slice Plane in 3D", self.set_slice_plane, "S", True)
        self.cut_action = self._action(view_menu, "Cut &Away the Near Side of the Plane", self.set_cut_away,
                                       "X", True)
        view_menu.addSeparator()
        self._action(view_menu, "&Copy Camera", self.copy_camera, "Ctrl+Shift+C")
        self._action(view_menu, "&Paste Camera", self.paste_camera, "Ctrl+Shift+V")

        compare_menu = bar.addMenu("&Compare")
        self._action(compare_menu, "Single Model", lambda: self.set_compare(None))
        for title, models in COMPARE_SETS.items():
            self._action(compare_menu, title, lambda _=False, m=models: self._compare_now(m))
        prior_menu = compare_menu.addMenu("&Prior vs Refined")
        for name in REFINABLE:
            action = self._action(prior_menu, MODELS[name].title,
                                  lambda _=False, m=name: self.compare_prior_refined(m))
            action.setToolTip("the learned prior's mesh beside the same model refined to the points (one run)")

        preset_menu = bar.addMenu("C&lassroom")
        for preset in load_presets().values():
            action = self._action(preset_menu, preset.title, lambda _=False, p=preset: self.apply_preset(p))
            action.setToolTip(preset.description)

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Keyboard Shortcuts", lambda: dialogs.show_shortcuts(self), "F1")
        self._action(help_menu, "&About", lambda: dialogs.show_about(self, self.status_device.text()))
        self._update_recent_menu()

    def _connect(self) -> None:
        m = self.model
        m.loading.connect(self.input_panel.show_loading)
        m.loading.connect(lambda p: self.statusBar().showMessage(f"loading {p} ..."))
        m.input_changed.connect(self._on_input)
        m.load_failed.connect(self._on_load_failed)
        m.runs_started.connect(self._on_runs_started)
        m.run_event.connect(self._on_run_event)
        m.run_failed.connect(self._on_run_failed)
        m.metrics_ready.connect(self.metrics.set_metrics)
        m.all_done.connect(self._on_all_done)
        self.input_panel.up_changed.connect(m.set_up)
        self.input_panel.box_drawn.connect(self.set_box)
        self.model_panel.reconstruct_requested.connect(self.reconstruct)
        self.model_panel.cancel_requested.connect(m.cancel)
        self.model_panel.threshold_edited.connect(self._on_threshold_edited)
        self.fit_panel.pause_requested.connect(m.pause)
        self.fit_panel.resume_requested.connect(m.resume)
        self.fit_panel.stop_requested.connect(m.stop_fit)

    # --- files ----------------------------------------------------------------------------
    def open_files(self, paths: list[str]) -> None:
        """Load the first of ``paths`` in the background, then reconstruct it (others are ignored)."""
        if not paths:
            return
        if len(paths) > 1:
            self.statusBar().showMessage(f"opening {Path(paths[0]).name}; {len(paths) - 1} more file(s) ignored")
        self.model.load(str(paths[0]))

    def open_dialog(self) -> None:
        from ..io.files import SUPPORTED_IMAGE_EXTS, SUPPORTED_MESH_EXTS, SUPPORTED_POINT_EXTS

        exts = sorted(set(SUPPORTED_POINT_EXTS + SUPPORTED_MESH_EXTS + SUPPORTED_IMAGE_EXTS))
        path, _ = QFileDialog.getOpenFileName(self, "Open a point cloud, mesh or image", "",
                                              f"Inputs ({' '.join('*' + e for e in exts)});;All files (*)")
        if path:
            self.open_files([path])

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_files(paths)

    def _remember(self, path: str) -> None:
        store = app_settings()
        recent = [p for p in (store.value("recent", []) or []) if p != path]
        store.setValue("recent", [path, *recent][:MAX_RECENT])
        self._update_recent_menu()

    def recent_files(self) -> list[str]:
        value = app_settings().value("recent", []) or []
        return [value] if isinstance(value, str) else list(value)

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            self._action(self.recent_menu, path, lambda _=False, p=path: self.open_files([p]))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # --- runs -----------------------------------------------------------------------------
    def current_models(self) -> list[str]:
        return list(self.compare_models) if self.compare_models else [self.model_panel.model]

    def set_compare(self, models: list[str] | None) -> None:
        """Compare 2-4 views side by side from the next reconstruction on (None: one model).

        models : view names (``view_names``): models, a refinable model's prior ("convonet-grid:prior"),
            representations, or "prior-refined" for the current model's prior and refined result
        """
        if models:
            models = expand_views(list(models), self.model_panel.model)[: ViewGrid.MAX_VIEWS]
        self.compare_models = models or None
        self.compare_refine = None
        if not models:
            self.banner.hide()
        self.grid.set_count(len(self.current_models()))

    def _compare_now(self, models: list[str]) -> None:
        self.set_compare(models)
        self.reconstruct()

    def compare_prior_refined(self, model: str) -> None:
        """Compare > Prior vs Refined: ``model`` (picked in the side panel too) before and after refinement."""
        self.model_panel.set_model(model)
        self._compare_now(prior_refined(model))

    def apply_preset(self, preset: Preset) -> None:
        """Set the views and settings of a classroom preset and run it on its input."""
        self.model_panel.apply(preset.settings)
        self.set_compare(preset.views if len(preset.views) > 1 else None)
        self.compare_refine = preset.settings.get("refine")
        if len(preset.views) == 1:
            self.model_panel.set_model(preset.views[0])
        self.banner.setText(f"<b>{preset.title}</b> &mdash; {preset.description}")
        self.banner.show()
        self.model.load(str(preset.input_path))

    def reconstruct(self) -> None:
        """Run the chosen model(s) on the current input; a running reconstruction is cancelled."""
        if self.model.data is None:
            self.statusBar().showMessage("Open or drop an input first")
            return
        values = self.model_panel.values()
        values.pop("model")
        if self.compare_models:
            values["threshold"] = None     # each model its own default iso-level and refinement
            values["refine"] = self.compare_refine
        for key, value in values.items():
            setattr(self.model.settings, key, value)
        self.model.reconstruct(self.current_models())

    def set_box(self, box) -> None:
        """Look for the image's object in ``box`` (x0, y0, x1, y1 pixels) and reconstruct again."""
        self.model.settings.box = tuple(box) if box is not None else None
        self.reconstruct()

    def _on_input(self, data) -> None:
        # a new image starts from the centred box (or the command line's --box, for the first file)
        self.model.settings.box = self.pending_box if data.kind == "image" else None
        self.pending_box = None
        self.input_panel.show_input(self.model.path, data)
        self.input_panel.show_up(current_up(data))
        self._remember(self.model.path)
        self.statusBar().showMessage(f"{Path(self.model.path).name}: {data.summary()}" + self._scene_hint(data))
        points = data.points
        if points is not None and len(points) > MAX_SHOWN_POINTS:
            points = points[np.random.default_rng(0).choice(len(points), MAX_SHOWN_POINTS, replace=False)]
        self.shown_points = points
        self.overlays.set_input(data)
        self.grid.set_count(len(self.current_models()))
        for view in self.grid.active():
            view.clear()
            view.set_points(points)
        self.slice_view.clear()
        self.reconstruct()

    def _scene_hint(self, data) -> str:
        """A suggestion to use the scene model when a cloud is room-sized (read as metres)."""
        models = self.current_models()
        if data.kind != "points" or any(m in MODELS and MODELS[m].metric for m in models):
            return ""
        extent = data.normalization.scale
        low, high = ROOM_EXTENT_M
        if not low <= extent <= high:
            return ""
        scene = next(s for s in MODELS.values() if s.metric)
        return (f"; {extent:.1f} units across: if this is a room scan in metres, choose "
                f"'{scene.title}' to reconstruct it at its real size")

    def _on_load_failed(self, path: str, message: str, user_error: bool) -> None:
        self.input_panel.show_failed()
        self._report(f"Cannot open {Path(path).name}", message)

    def _on_runs_started(self, runs: list) -> None:
        views = self.grid.set_count(len(runs))
        names = [r.model for r in runs]
        shown = [r.view for r in runs]
        titles = [view_title(name, shown) for name in shown]
        levels = self.model.settings.levels
        fitted = {i: self.model.settings.seconds for i, n in enumerate(names) if n in MODELS and not MODELS[n].learned}
        # refinement after the meshes, with its own progress bar (a scene refines inside each tile instead)
        refined = {r.index: refine_budget(MODELS[r.model], self.model.settings) for r in runs
                   if r.model in MODELS and not MODELS[r.model].metric and not parse_view(r.view).prior}
        refined = {i: s for i, s in refined.items() if s > 0}
        self.progress.start([view_label(name, shown) for name in shown], levels, fitted, frozenset(i for i, n in enumerate(names) if n in REPRESENTATIONS),
                            refined)
        self.fit_panel.start({i: names[i] for i in (*fitted, *refined)})
        self.metrics.start([view_label(name, shown) for name in shown], titles)
        self._slice_index = next((i for i, n in enumerate(names) if n in MODELS), None)
        self.slice_view.clear(shown=self._slice_index)
        self.overlays.start_views()
        for view, name, title in zip(views, names, titles):
            view.set_title(title if len(runs) > 1 else "")
            view.set_mesh(None)
            view.set_points(self.shown_points)
            rep = REPRESENTATIONS.get(name)
            view.set_points_visible(rep is None or rep.show_points)   # until a mesh arrives
            view.set_caption("running ...")
        self.model_panel.set_busy(True)
        if fitted:
            self.tabs.setCurrentWidget(self.fit_panel)
        elif len(runs) > 1:
            self.tabs.setCurrentWidget(self.metrics)
        else:
            self.tabs.setCurrentWidget(self.slice_view)

    def _on_run_event(self, index: int, event) -> None:
        run = self.model.runs[index]
        view = self.grid.active()[index]
        if isinstance(event, MeshPayload):
            self._show_mesh(index, run, view, event)
            return
        self.progress.on_event(index, event)
        if isinstance(event, Started):
            self.status_device.setText(f"device: {event.device}")
            self.statusBar().showMessage(f"{event.model} on {event.device}: {event.input_summary}")
        elif isinstance(event, Isolated):
            self.input_panel.show_isolation(event)
        elif isinstance(event, Encoded) and run.model in MODELS and not MODELS[run.model].metric:
            # a threshold changed while the run was still running applies when it ends: its iso-line too
            level = run.session.threshold if run.pending_threshold is None else run.pending_threshold
            self.slice_view.set_source(index, run.session, self.shown_points, level,
                                       sdf=not MODELS[run.model].learned)
        elif isinstance(event, FitProgress):
            self.fit_panel.add(index, event)
        elif isinstance(event, Finished):
            if run.model in MODELS and MODELS[run.model].metric and not event.cancelled and "scene" in event.stats:
                # a scene's slices encode tiles on demand: only once every tile is meshed
                self.slice_view.set_source(index, run.session, self.shown_points, run.session.threshold, sdf=False,
                                           scale=run.session.frame_scale)
            status = ("cancelled " if event.cancelled else "finished ") + run.model
            if event.cancelled:
                view.set_caption("cancelled" + (f" ({view.caption.text()})" if run.mesh is not None else ""))
            elif run.model in REPRESENTATIONS and run.mesh is None:
                view.set_caption(f"{view.n_points:,} points shown")
            elif "empty" in event.stats:
                view.set_caption(event.stats["empty"])
                self.metrics.set_note(index, event.stats["empty"])
                status = event.stats["empty"]
            elif "cannot" in event.stats:     # a box-filling solid: say why instead of showing it
                view.set_mesh(None)
                view.set_caption(event.stats["cannot"])
                self.metrics.set_note(index, event.stats["cannot"])
                self.input_panel.show_problem(event.stats["cannot"])
                status = event.stats["cannot"]
            elif run.model in MODELS:
                total = event.stats.get("total_s", 0.0)
                view.set_caption(view.caption.text().split(":")[0] + f" done in {total:.2f} s, "
                                 f"{view.n_faces:,} faces" + run_note(event.stats))
                if self.model.data.gt_mesh is None:
                    self.metrics.set_note(index, "no ground truth (open a mesh to get metrics)")
            self.statusBar().showMessage(status)

    def _show_mesh(self, index: int, run, view, payload: MeshPayload) -> None:
        """A level, preview or re-meshed mesh of view ``index`` arrived: show it where the camera is."""
        mesh = payload.event
        view.set_mesh(mesh.vertices, mesh.faces, payload.normals)
        view.set_points_visible(self.points_action.isChecked())
        self.progress.on_event(index, mesh)
        if isinstance(mesh, TileMesh):        # the scene so far: the tiles meshed until now
            view.set_caption(f"tiles {mesh.done} of up to {mesh.total}: {len(mesh.faces):,} faces, {mesh.seconds:.2f} s")
            if mesh.done == 1:
                self.metrics.set_timing(index, mesh.seconds, None, None)
            return
        stage = "fit" if run.model in MODELS and not MODELS[run.model].learned else "refine"
        what = f"{stage} step {mesh.fit_step} preview" if mesh.preview else f"level {mesh.level}/{mesh.levels}"
        if mesh.note:
            what = mesh.note
        if run.model in MODELS and MODELS[run.model].metric:
            what = "scene"
        if payload.threshold is not None:
            what = f"threshold {payload.threshold:g}, {what}"
        if payload.empty:
            view.set_caption(payload.empty)
            self.metrics.set_note(index, payload.empty)
        elif run.model in MODELS:
            view.set_caption(f"{what}: {mesh.resolution}^3, {len(mesh.faces):,} faces, "
                             f"{mesh.evaluations:,} evaluations, {mesh.seconds:.2f} s")
            self.status_evals.setText(f"{mesh.evaluations:,} evaluations")
            self.status_time.setText(f"{mesh.seconds:.2f} s")
        else:
            view.set_caption(f"{len(mesh.faces):,} faces")
        if payload.threshold is not None:
            self.metrics.set_timing(index, None, None, len(mesh.faces))
        elif not mesh.preview:
            self.metrics.set_timing(index, mesh.seconds if mesh.level == 0 else None, mesh.seconds,
                                    len(mesh.faces))
        self.overlays.mesh_shown(index)
        if payload.threshold is None:
            self.slice_view.request(index)      # a fit's field may have changed

    def _on_threshold_edited(self, threshold: float) -> None:
        """Re-mesh at once, from the fields already there, every view that reads the threshold this way."""
        views = self.model.remesh(threshold, self.model_panel.learned)
        for index in views:
            self.slice_view.set_level(index, threshold)
        kind = "occupancy" if self.model_panel.learned else "signed-distance"
        self.statusBar().showMessage(f"re-meshing {len(views)} view(s) at threshold {threshold:g}" if views
                                     else f"no view meshes an {kind} threshold: reconstruct first")

    def _on_run_failed(self, index: int, message: str, user_error: bool) -> None:
        self.progress.on_failed(index)
        self.grid.active()[index].set_caption(message)
        self.metrics.set_note(index, message)
        if len(self.model.runs) == 1:
            self._report("Reconstruction failed", message)
        else:
            self.statusBar().showMessage(message)

    def _on_all_done(self) -> None:
        self.model_panel.set_busy(False)
        self.fit_panel.set_active(False)
        self.idle.emit()

    def _report(self, title: str, message: str) -> None:
        """Tell the user: a dialog in the window, the log when running unattended."""
        self.errors.append(message)
        self.statusBar().showMessage(message)
        self.error_shown.emit(message)
        if self.interactive:
            dialogs.show_error(self, title, message)
        else:
            log.error("%s: %s", title, message)

    # --- view toggles and camera -------------------------------------------------------------
    def _on_wireframe(self, on: bool) -> None:
        for view in self.grid.views:
            view.set_wireframe(on)

    def _on_bbox(self, on: bool) -> None:
        for view in self.grid.views:
            view.set_bbox(on)

    def _on_points(self, on: bool) -> None:
        for view in self.grid.views:
            view.set_points_visible(on or view.n_faces == 0)

    def reset_view(self) -> None:
        self.grid.views[0].reset_camera()

    def set_error_colours(self, on: bool) -> None:
        """Colour every view's mesh by its distance to the ground truth or the input points (View menu, E)."""
        problem = self.overlays.set_errors(on)
        if problem:
            self.statusBar().showMessage(problem)
        self.errors_action.setChecked(on)

    def set_slice_plane(self, on: bool) -> None:
        """Draw the Slice tab's plane in every view (View menu, S)."""
        self.overlays.set_planes(on)
        self.plane_action.setChecked(on)

    def set_cut_away(self, on: bool) -> None:
        """Cut the meshes away between the camera and the slice plane (View menu, X)."""
        self.overlays.set_cut(on)
        self.cut_action.setChecked(on)

    def copy_camera(self) -> None:
        QApplication.clipboard().setText(json.dumps({"camera": self.grid.views[0].camera_state()}))
        self.statusBar().showMessage("camera copied to the clipboard")

    def paste_camera(self) -> None:
        try:
            state = json.loads(QApplication.clipboard().text())["camera"]
            self.grid.views[0].set_camera_state(state)
        except (ValueError, KeyError, TypeError):
            self.statusBar().showMessage("the clipboard holds no camera (copy one with Ctrl+Shift+C)")

    # --- export and screenshots ---------------------------------------------------------------
    def export_dialog(self) -> None:
        index = next((r.index for r in self.model.runs if (r.final or r.mesh) is not None), None)
        if index is None:
            self.statusBar().showMessage("nothing to export yet: reconstruct first")
            return
        stem = Path(self.model.path).stem if self.model.path else "mesh"
        path, _ = QFileDialog.getSaveFileName(self, "Export mesh", f"{stem}_{self.model.runs[index].model}.ply",
                                              "Meshes (*.ply *.obj *.stl *.glb)")
        if path:
            task = self.model.export(index, path)
            task.done.connect(lambda _r: self.statusBar().showMessage(f"wrote {path}"))
            task.failed.connect(lambda msg, _u: self._report("Export failed", msg))

    def screenshot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "implicit-studio.png", "PNG (*.png)")
        if path:
            self.save_screenshot(path)

    def turntable_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save turntable", "turntable.gif", "Animations (*.gif *.mp4)")
        if path:
            try:
                self.save_turntable(path)
            except InputError as exc:
                self._report("Cannot save the turntable", str(exc))

    def save_turntable(self, path: str, frames: int = TURNTABLE_FRAMES) -> TurntableRecorder:
        """Film one orbit of the views (with their titles, captions and colour bar) in ``frames`` frames
        into ``path`` (.gif or .mp4); the recorder's ``done(path)`` or ``failed(message)`` tells when it
        is written."""
        recorder = TurntableRecorder(self.center, self.grid.active(), path, frames, parent=self)
        recorder.progress.connect(lambda k, n: self.statusBar().showMessage(f"turntable: frame {k} of {n}"))
        recorder.done.connect(lambda p: self.statusBar().showMessage(f"wrote {p}"))
        recorder.failed.connect(lambda msg: self._report("Turntable failed", msg))
        self.turntable = recorder
        recorder.start()
        return recorder

    def save_screenshot(self, path: str) -> bool:
        """Grab the whole window (viewports included) into a PNG."""
        ok = self.grab().save(path, "PNG")
        self.statusBar().showMessage(f"saved {path}" if ok else f"could not write {path}")
        return ok

    # --- shutdown --------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Cancel every worker and wait for it, so no thread outlives the window."""
        self.model.shutdown()
        self.overlays.shutdown()
        self.slice_view.shutdown()
        if self.turntable is not None:
            self.turntable.wait()
        self.grid.close()
        super().closeEvent(event)
