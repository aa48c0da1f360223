"""The window's state: the current input and the runs on it, observed by the panels through signals.

``StudioModel`` owns the worker threads (load, one session per view, re-meshing at a new
threshold, metrics) and never touches a widget. A learned prior shown beside its own refined
view (``"convonet-grid:prior"``, see ``view_names``) has no session of its own: it keeps the
prior's levels that the refined view's session yields before refining. A new request cancels the running one;
``shutdown`` cancels and joins every thread (the window calls it on close).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ..engine.registry import MODELS
from ..io.orientation import current_up, reorient
from .representations import REPRESENTATIONS
from .view_names import parse_view, refined_partner
from .workers import MeshPayload, RemeshRequest, RemeshThread, SessionThread, TaskThread

log = logging.getLogger(__name__)


@dataclass
class Run:
    """One view's reconstruction: a model (or a representation) on the current input.

    view : the view's name (``view_names``); model : the model or representation it runs
    source : for a prior shown beside its refined view, that view's run, whose events feed this one
    """

    index: int
    model: str
    run_id: int
    view: str = ""
    source: "Run | None" = None
    thread: object = None
    mesh: object = None            # the latest LevelMesh shown
    final: object = None           # the last non-preview LevelMesh
    stats: dict = field(default_factory=dict)
    done: bool = False
    error: str | None = None
    curve: list = field(default_factory=list)   # (step, total, terms) while fitting
    metrics: dict | None = None
    measuring: object = None       # the LevelMesh whose metrics are being computed
    remesher: object = None        # the RemeshThread, once the threshold was changed
    threshold: float | None = None  # the iso-level of the latest re-mesh asked for
    remeshing: bool = False        # a re-mesh is under way
    pending_threshold: float | None = None   # asked for while the run was still running
    prior_session: object = None   # the source session's ``prior_view``, once it has a prior

    @property
    def session(self):
        """The session whose field this view shows (slices, re-meshing): its own, or the source's prior."""
        if self.source is None:
            return getattr(self.thread, "session", None)
        if self.prior_session is None and self.source.session is not None:
            try:
                self.prior_session = self.source.session.prior_view()
            except RuntimeError:
                return None     # not encoded yet
        return self.prior_session


class StudioModel(QObject):
    """Input + runs. Signals carry plain data; widgets subscribe, the model never calls them."""

    loading = Signal(str)                 # path
    input_changed = Signal(object)        # InputData
    load_failed = Signal(str, str, bool)  # path, message, user error
    runs_started = Signal(list)           # [Run]
    run_event = Signal(int, object)       # view index, event (MeshPayload for meshes)
    run_failed = Signal(int, str, bool)   # view index, message, user error
    metrics_ready = Signal(int, dict)     # view index, metrics
    all_done = Signal()

    def __init__(self, settings, parent=None):
        from ..engine.session import ModelStore

        super().__init__(parent)
        self.settings = settings          # the Settings template; ``model`` is replaced per run
        self.store = ModelStore()
        self.data = None                  # the input as the models see it: ``loaded`` turned to its up axis
        self.loaded = None                # the input as load_input gives it (a LAS cloud already z-up)
        self.up = "+y"                    # the user's choice, for files that do not say their own
        self.path: str | None = None
        self.runs: list[Run] = []
        self._threads: set = set()
        self._next_id = 0
        self.closed = False               # set by shutdown: nothing new starts afterwards

    # --- input ------------------------------------------------------------------------
    def load(self, path: str) -> None:
        """Parse ``path`` in a worker; on success the input is replaced (``input_changed``)."""
        from ..io.files import load_input

        self.loading.emit(path)
        task = TaskThread(lambda: load_input(path), "load")
        task.done.connect(lambda data: self._on_loaded(path, data))
        task.failed.connect(lambda msg, user: self.load_failed.emit(path, msg, user))
        self._start(task)

    def _on_loaded(self, path: str, data) -> None:
        if self.closed:
            return          # the file finished parsing while the window was closing
        self.loaded, self.path = data, path
        own = current_up(data)
        self._show_input(self.up if own == "+y" else own)

    def set_up(self, up: str) -> None:
        """Turn the input so that its axis ``up`` points up (this file, and later files that do
        not say their own up axis as LAS does)."""
        self.up = up
        if self.loaded is not None and not self.closed and up != current_up(self.data):
            self._show_input(up)

    def _show_input(self, up: str) -> None:
        self.cancel()
        self.data = reorient(self.loaded, up)
        self.runs = []
        self.input_changed.emit(self.data)

    # --- runs ---------------------------------------------------------------------------
    def reconstruct(self, views: list[str]) -> None:
        """Start one run per entry of ``views`` (view names: ``view_names``) on the current input,
        cancelling any running. A prior beside its refined view runs no session of its own."""
        from ..engine.session import refine_budget

        if self.data is None or self.closed:
            return
        self.cancel()
        self.runs = []
        parsed = [parse_view(name) for name in views]
        for index, view in enumerate(parsed):
            name = view.model
            self._next_id += 1
            run = Run(index, name, self._next_id, view=view.name)
            self.runs.append(run)
            partner = refined_partner(views, index)
            if view.prior and partner is not None and refine_budget(MODELS[name], self.settings) > 0:
                continue        # fed by the partner's run once every run exists (below)
            if name in REPRESENTATIONS:
                build = REPRESENTATIONS[name].build
                data = self.data
                run.thread = TaskThread(lambda b=build, d=data: b(d), f"view-{name}")
                # the slots capture the run's id, not the run: run -> thread -> slot -> run would be a
                # cycle through Qt that Python's collector cannot see, keeping every thread alive
                run.thread.done.connect(lambda mesh, rid=run.run_id: self._on_representation(rid, mesh))
                run.thread.failed.connect(lambda msg, user, rid=run.run_id: self._on_failed(rid, msg, user))
            else:
                settings = replace(self.settings, model=name, **({"refine": 0} if view.prior else {}))
                run.thread = SessionThread(run.run_id, self.data, settings, self.store)
                run.thread.event.connect(self._on_event)
                run.thread.failed.connect(self._on_failed)
        for run in self.runs:
            if run.thread is None:
                run.source = self.runs[refined_partner(views, run.index)]
        self.runs_started.emit(list(self.runs))
        for run in self.runs:
            if run.thread is not None:
                self._start(run.thread)

    def _run_for(self, run_id: int) -> Run | None:
        return next((r for r in self.runs if r.run_id == run_id), None)

    def _on_representation(self, run_id: int, mesh) -> None:
        from ..engine.events import Finished, LevelMesh

        run = self._run_for(run_id)
        if run is None:
            return
        if mesh is not None:
            from .workers import vertex_normals

            event = LevelMesh(0, 0, 0, mesh[0], mesh[1], 0, 0.0, final=True)
            self._on_event(run.run_id, MeshPayload(event, vertex_normals(*mesh)))
        self._on_event(run.run_id, Finished({"model": run.model}))

    def _on_event(self, run_id: int, event) -> None:
        from ..engine.events import Finished, FitProgress, LevelMesh

        run = self._run_for(run_id)
        if run is None:
            return          # a cancelled run's last words
        if isinstance(event, MeshPayload):
            run.mesh = event.event
            if isinstance(event.event, LevelMesh) and not event.event.preview:      # not a scene's tiles so far
                run.final = event.event
        elif isinstance(event, FitProgress):
            run.curve.append((event.step, event.total, dict(event.terms)))
        elif isinstance(event, Finished):
            run.stats = event.stats
            run.done = True
        self.run_event.emit(run.index, event)
        if isinstance(event, Finished):
            if not event.cancelled:
                self._maybe_measure(run)
                if run.pending_threshold is not None:
                    self._remesh(run, run.pending_threshold)
            self._check_all_done()
        for prior in self._priors_of(run):
            self._feed_prior(prior, event)

    def _priors_of(self, run: Run) -> list[Run]:
        return [r for r in self.runs if r.source is run and not r.done]

    def _feed_prior(self, prior: Run, event) -> None:
        """Pass the prior's part of its refined view's events to the prior view: the start, the
        encoding and the prior's levels, the top one made final (then the prior view is finished);
        refinement progress, previews, refined levels and re-meshes are the refined view's own."""
        from dataclasses import replace as copy_with

        from ..engine.events import Encoded, Finished, Started

        if isinstance(event, (Started, Encoded)):
            self._on_event(prior.run_id, event)
        elif isinstance(event, MeshPayload):
            mesh = event.event
            if event.threshold is not None or mesh.preview or mesh.fit_step is not None:
                return
            top = mesh.level == mesh.levels
            if top:
                mesh = copy_with(mesh, final=True)
            self._on_event(prior.run_id, MeshPayload(mesh, event.normals))
            if top:
                stats = {"model": prior.model, "prior_of": prior.source.index, "total_s": mesh.seconds}
                if len(mesh.faces) == 0:
                    stats["empty"] = f"{prior.model}'s prior found no surface at this threshold"
                self._on_event(prior.run_id, Finished(stats))
        elif isinstance(event, Finished):     # the run ended before the prior's last level
            self._on_event(prior.run_id, Finished(dict(event.stats), cancelled=True))

    def _on_failed(self, run_id: int, message: str, user_error: bool) -> None:
        run = self._run_for(run_id)
        if run is None:
            return
        run.error, run.done = message, True
        self.run_failed.emit(run.index, message, user_error)
        for prior in self._priors_of(run):
            self._on_failed(prior.run_id, message, user_error)
        self._check_all_done()

    def _check_all_done(self) -> None:
        if self.runs and not self.busy and not self.metrics_pending():
            self.all_done.emit()

    # --- a new iso-level ---------------------------------------------------------------------
    def remesh(self, threshold: float, learned: bool) -> list[int]:
        """Mesh again at ``threshold``, from the fields already there, every view whose model reads
        the threshold this way (an occupancy probability when ``learned``, else a signed distance).
        A view still running takes it when its run ends. Returns the indices of the views concerned."""
        views = []
        for run in self.runs:
            spec = MODELS.get(run.model)
            if spec is None or spec.metric or spec.learned != learned or run.error is not None:
                continue
            views.append(run.index)
            if run.done:
                self._remesh(run, threshold)
            else:
                run.pending_threshold = threshold
        return views

    def _remesh(self, run: Run, threshold: float) -> None:
        run.pending_threshold = None
        session = run.session
        if session is None or session.field is None or session.cancelled:
            return
        if run.remesher is None:
            run.remesher = RemeshThread(run.run_id)
            run.remesher.ready.connect(lambda payload, rid=run.run_id: self._on_remeshed(rid, payload))
            run.remesher.failed.connect(lambda msg, user, rid=run.run_id: self._on_remesh_failed(rid, msg))
            run.remesher.finished.connect(lambda rid=run.run_id: self._on_remesher_ended(rid))
            self._start(run.remesher)
        run.threshold, run.remeshing = threshold, True
        run.remesher.request(RemeshRequest(session, threshold))

    def _on_remeshed(self, run_id: int, payload: MeshPayload) -> None:
        run = self._run_for(run_id)
        if run is None or payload.threshold != run.threshold:
            return          # a superseded threshold's last level
        self._on_event(run_id, payload)
        if payload.event.final:
            run.remeshing = False
            self._maybe_measure(run)
            self._check_all_done()

    def _on_remesh_failed(self, run_id: int, message: str) -> None:
        run = self._run_for(run_id)
        if run is not None:
            run.remeshing = False
            self.run_failed.emit(run.index, message, False)
            self._check_all_done()

    def _on_remesher_ended(self, run_id: int) -> None:
        """A re-mesher stopped by ``cancel`` (Esc) ended: its view no longer waits for a mesh."""
        run = self._run_for(run_id)
        if run is not None and run.remesher is None and run.remeshing:
            run.remeshing = False
            self._check_all_done()

    # --- metrics --------------------------------------------------------------------------
    def _maybe_measure(self, run: Run) -> None:
        if (self.data is None or self.data.gt_mesh is None or run.final is None
                or run.model in REPRESENTATIONS):
            return
        import trimesh

        gt, mesh = self.data.gt_mesh, run.final
        run.measuring = mesh

        def measure() -> dict:
            from ..evaluate.metrics import evaluate_meshes

            pred = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False) if len(mesh.faces) else None
            return evaluate_meshes(pred, gt, n_points=20_000)

        task = TaskThread(measure, "metrics")
        task.done.connect(lambda result, r=run: self._on_metrics(r, mesh, result))
        task.failed.connect(lambda msg, user, r=run: self._on_metrics(r, mesh, {"error": msg}))
        self._start(task)

    def _on_metrics(self, run: Run, mesh, result: dict) -> None:
        if run not in self.runs or run.measuring is not mesh:
            return          # gone, or a newer mesh is being measured
        run.metrics, run.measuring = result, None
        self.metrics_ready.emit(run.index, result)
        self._check_all_done()

    def metrics_pending(self) -> bool:
        return any(r.measuring is not None for r in self.runs)

    # --- control ------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return any(not r.done or r.remeshing for r in self.runs)

    def cancel(self) -> None:
        """Stop every running session and re-mesh; returns at once (threads end within one batch)."""
        for run in self.runs:
            if isinstance(run.thread, SessionThread):
                run.thread.cancel()
            run.pending_threshold = None
            if run.remesher is not None:
                run.remesher.stop()
                run.remesher = None

    def sessions(self) -> list:
        """The running sessions (a prior view shares its refined view's)."""
        return [r.session for r in self.runs if r.source is None and r.session is not None]

    def pause(self) -> None:
        for s in self.sessions():
            s.pause()

    def resume(self) -> None:
        for s in self.sessions():
            s.resume()

    def stop_fit(self) -> None:
        for s in self.sessions():
            s.stop_fit()

    def _start(self, thread) -> None:
        if self.closed:
            return          # a queued result (a Finished run wanting metrics) arrived after shutdown
        self._threads.add(thread)
        thread.finished.connect(self._on_thread_finished)
        thread.start()

    def _on_thread_finished(self) -> None:
        """Drop a finished worker. A slot that captured the thread itself would keep it alive for
        ever (the connection lives in the thread); ``finished`` is emitted just before the thread
        ends, so it is joined before its last reference goes."""
        thread = self.sender()
        if thread is None:
            return          # delivered after shutdown let the thread go: it was joined there
        thread.wait()
        self._threads.discard(thread)

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Cancel everything and wait for every worker thread to end; start nothing afterwards."""
        self.closed = True
        self.cancel()
        for thread in list(self._threads):
            if not thread.wait(timeout_ms):
                log.warning("worker %s did not stop in time", thread.objectName())
        self._threads.clear()

    def export(self, index: int, path: str) -> TaskThread:
        """Write view ``index``'s final mesh to ``path`` in user coordinates, in a worker."""
        from ..io.files import write_mesh

        run = self.runs[index]
        mesh = run.final or run.mesh
        norm = self.data.normalization
        task = TaskThread(lambda: write_mesh(Path(path), norm.to_user(mesh.vertices), mesh.faces), "export")
        self._start(task)
        return task
