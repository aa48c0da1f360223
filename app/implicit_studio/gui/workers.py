"""Background threads: everything slow (file parsing, torch, marching cubes, metrics) runs here.

Each worker is a ``QThread`` whose ``run`` never touches a widget; results travel to
the UI thread as queued signals carrying plain Python objects. Every worker can be
cancelled without blocking and joined with ``QThread.wait`` (the window does so on close).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import traceback
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

import numpy as np
from PySide6.QtCore import QThread, Signal

from ..engine.session import slice_ticks
from ..engine.meshing.contour import iso_segments

log = logging.getLogger(__name__)


def describe_error(exc: BaseException) -> tuple[str, bool]:
    """(message, is_user_error): user errors get their own text, bugs a type name too."""
    from ..errors import InputError

    if isinstance(exc, InputError):
        return str(exc), True
    log.error("internal error in a worker:\n%s", "".join(traceback.format_exception(exc)))
    return f"Internal error: {type(exc).__name__}: {exc}", False


class TaskThread(QThread):
    """Run one function in the background; ``done(result)`` or ``failed(message, user_error)``.

    Used for loading files, metrics, voxel views and exports: the function gets no
    arguments and must not touch Qt widgets.
    """

    done = Signal(object)
    failed = Signal(str, bool)

    def __init__(self, func: Callable[[], Any], name: str = "task", parent=None):
        super().__init__(parent)
        self._func = func
        self.setObjectName(name)

    def run(self) -> None:
        try:
            result = self._func()
        except Exception as exc:  # noqa: BLE001 - reported to the UI, never lost
            self.failed.emit(*describe_error(exc))
            return
        self.done.emit(result)


@dataclass
class MeshPayload:
    """A level mesh plus the vertex normals computed off the UI thread.

    threshold : the iso-level of a re-mesh (``ReconstructionSession.remesh``), None for a run's own meshes
    empty : on a re-mesh's final mesh without faces, why it is empty
    """

    event: Any
    normals: np.ndarray
    threshold: float | None = None
    empty: str | None = None


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit vertex normals: area-weighted face normals summed per vertex."""
    normals = np.zeros_like(vertices, dtype=np.float32)
    if len(faces) == 0:
        return normals
    tri = vertices[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]).astype(np.float32)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_n)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return normals / np.maximum(length, 1e-12)


class SessionThread(QThread):
    """Runs one ``ReconstructionSession`` and emits each of its events as ``event(run_id, event)``.

    Level meshes are wrapped in a :class:`MeshPayload` with precomputed normals so the
    viewport only uploads arrays. ``cancel`` is safe before the session exists.
    """

    event = Signal(int, object)
    failed = Signal(int, str, bool)

    def __init__(self, run_id: int, data, settings, store, parent=None):
        super().__init__(parent)
        self.run_id = run_id
        self.setObjectName(f"session-{run_id}")
        self._data = data
        self._settings = settings
        self._store = store
        self._lock = threading.Lock()
        self._cancelled = False
        self.session = None

    def cancel(self) -> None:
        """Ask the run to stop at its next batch; returns at once."""
        with self._lock:
            self._cancelled = True
            if self.session is not None:
                self.session.cancel()

    def run(self) -> None:
        from ..engine.events import LevelMesh, TileMesh
        from ..engine.session import ReconstructionSession

        try:
            session = ReconstructionSession(self._data, self._settings, self._store)
            with self._lock:
                self.session = session
                if self._cancelled:
                    session.cancel()
            tiles = SceneSoFar(1.0 / session.frame_scale)
            for event in session.run():
                if isinstance(event, TileMesh):
                    event = tiles.add(event)
                    if event is None:
                        continue
                elif isinstance(event, LevelMesh):
                    vertices = event.vertices if session.frame_scale == 1.0 else \
                        (event.vertices / session.frame_scale).astype(np.float32)
                    event = MeshPayload(replace(event, vertices=vertices), vertex_normals(vertices, event.faces))
                self.event.emit(self.run_id, event)
        except Exception as exc:  # noqa: BLE001 - reported to the UI, never lost
            self.failed.emit(self.run_id, *describe_error(exc))


class SceneSoFar:
    """The tiles of a scene meshed so far, as one mesh in the window's frame (``scale``: window
    units per session unit), sent to the view at most every ``every`` seconds and with the last tile."""

    def __init__(self, scale: float, every: float = 0.25):
        self.scale, self.every = scale, every
        self.vertices, self.faces, self.normals, self.count = [], [], [], 0
        self.last = -math.inf

    def add(self, tile) -> "MeshPayload | None":
        vertices = (tile.vertices * self.scale).astype(np.float32)
        self.faces.append(tile.faces + self.count)
        self.vertices.append(vertices)
        self.normals.append(vertex_normals(vertices, tile.faces))
        self.count += len(vertices)
        now = time.perf_counter()
        if now - self.last < self.every and tile.done < tile.total:
            return None
        self.last = now
        merged = replace(tile, vertices=np.concatenate(self.vertices), faces=np.concatenate(self.faces))
        return MeshPayload(merged, np.concatenate(self.normals))


class LatestRequestThread(QThread):
    """Computes requests in the background, newest first: per ``key`` only the latest request that
    has not started is kept (older ones are dropped), and a running one can ask ``superseded`` to
    stop early. Subclasses implement ``compute(request)``, a generator of results, each sent
    as ``ready(result)``; errors arrive as ``failed(message, user_error)``.
    """

    ready = Signal(object)
    failed = Signal(str, bool)

    def __init__(self, name: str, parent=None):
        super().__init__(parent)
        self.setObjectName(name)
        self._cond = threading.Condition()
        self._pending: dict = {}
        self._computing = False
        self._quit = False

    @property
    def idle(self) -> bool:
        """Nothing waiting and nothing being computed (its last results may still be on their way
        to the UI thread's event queue)."""
        with self._cond:
            return not self._pending and not self._computing

    def request(self, req, key=None) -> None:
        """Queue ``req`` under ``key``, replacing a request of that key not started yet; starts the thread if needed."""
        with self._cond:
            self._pending.pop(key, None)      # re-inserted last: keys are served in request order
            self._pending[key] = req
            self._cond.notify()
        if not self.isRunning():
            self.start()

    def superseded(self, key=None) -> bool:
        """Whether a newer request of ``key`` waits, or the thread is stopping (checked by long computations)."""
        with self._cond:
            return self._quit or key in self._pending

    def stop(self) -> None:
        """Finish the current computation's step (if any) and end the thread; call ``wait`` to join."""
        with self._cond:
            self._quit = True
            self._pending.clear()
            self._cond.notify()

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._quit:
                    self._cond.wait()
                if self._quit:
                    return
                key = next(iter(self._pending))
                req = self._pending.pop(key)
                self._computing = True
            try:
                for result in self.compute(req, key):
                    self.ready.emit(result)
            except Exception as exc:  # noqa: BLE001 - reported to the UI, never lost
                self.failed.emit(*describe_error(exc))
            finally:
                with self._cond:
                    self._computing = False

    def compute(self, req, key) -> Iterator[Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class SliceRequest:
    """A snapshot of what to slice: the session (its field), the plane and the points to overlay.

    key : which view's field this is (results are told apart by it)
    """

    session: Any
    axis: int
    position: float
    resolution: int
    points: np.ndarray | None
    level: float = 0.5        # where the iso-line is drawn
    key: int = 0


@dataclass(frozen=True)
class SliceResult:
    request: SliceRequest
    values: np.ndarray        # (R, R) probability or signed distance
    near: np.ndarray          # (K, 2) in-plane coordinates of input points near the plane
    iso: np.ndarray           # (S, 2, 2) iso-line segments in in-plane coordinates


class SliceThread(LatestRequestThread):
    """Computes occupancy slices, one view's field per key; only the newest request per view is computed."""

    def __init__(self, parent=None):
        super().__init__("slices", parent)

    def compute(self, req: SliceRequest, key) -> Iterator[SliceResult]:
        values = req.session.slice(req.axis, req.position, req.resolution)
        ticks = slice_ticks(req.resolution)
        yield SliceResult(req, values, points_near_plane(req.points, req.axis, req.position),
                          iso_segments(values, req.level, ticks, ticks))


@dataclass(frozen=True)
class RemeshRequest:
    """Mesh ``session``'s field again at ``threshold`` (its ``remesh``)."""

    session: Any
    threshold: float


class RemeshThread(LatestRequestThread):
    """Re-meshes one run's field at new iso-levels; a newer threshold stops the older one between batches.

    Each level arrives as a :class:`MeshPayload` with ``threshold`` set (normals computed here).
    """

    def __init__(self, run_id: int, parent=None):
        super().__init__(f"remesh-{run_id}", parent)

    def compute(self, req: RemeshRequest, key) -> Iterator[MeshPayload]:
        stats: dict = {}
        for mesh in req.session.remesh(req.threshold, cancel=lambda: self.superseded(key), stats=stats):
            yield MeshPayload(mesh, vertex_normals(mesh.vertices, mesh.faces), req.threshold,
                              stats.get("empty") if mesh.final else None)


@dataclass(frozen=True)
class DistanceRequest:
    """Per-vertex distances of one view's mesh to a reference of the input (``evaluate.distances``).

    vertices : (V, 3) the view's mesh in the unit frame (the window matches the result to it by identity)
    data : the ``InputData`` the reference is made from; kind : "ground truth" or "input points"
    """

    vertices: np.ndarray
    data: Any
    kind: str


@dataclass(frozen=True)
class DistanceResult:
    request: DistanceRequest
    key: int
    distances: np.ndarray     # (V,) float32
    summary: dict             # "mean", "p95" (see evaluate.distances.distance_summary)


class DistanceThread(LatestRequestThread):
    """Error colours' distances, one request per view (key); a reference's KD-tree is built once per input."""

    def __init__(self, parent=None):
        super().__init__("distances", parent)
        self._references: dict = {}     # kind -> (data, reference) of the current input

    def compute(self, req: DistanceRequest, key) -> Iterator[DistanceResult]:
        from ..evaluate.distances import distance_reference, distance_summary

        data, reference = self._references.get(req.kind, (None, None))
        if data is not req.data:
            reference = distance_reference(req.data, req.kind)
            self._references = {k: v for k, v in self._references.items() if v[0] is req.data}
            self._references[req.kind] = (req.data, reference)
        distances = reference.distances(req.vertices)
        yield DistanceResult(req, key, distances, distance_summary(distances))


def points_near_plane(points: np.ndarray | None, axis: int, position: float, width: float = 0.012) -> np.ndarray:
    """(K, 2) in-plane coordinates of the points within ``width`` of the plane ``axis = position``."""
    if points is None:
        return np.zeros((0, 2), np.float32)
    rest = [a for a in range(3) if a != axis]
    near = np.abs(points[:, axis] - position) < width
    return np.ascontiguousarray(points[near][:, rest], dtype=np.float32)
