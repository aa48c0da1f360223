"""Background threads: everything slow (file parsing, torch, marching cubes, metrics) runs here.

Each worker is a ``QThread`` whose ``run`` never touches a widget; results travel to
the UI thread as queued signals carrying plain Python objects. Every worker can be
cancelled without blocking and joined with ``QThread.wait`` (the window does so on close).
"""

from __future__ import annotations

import logging
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

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
    """A level mesh plus the vertex normals computed off the UI thread."""

    event: Any
    normals: np.ndarray


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
        from ..engine.events import LevelMesh
        from ..engine.session import ReconstructionSession

        try:
            session = ReconstructionSession(self._data, self._settings, self._store)
            with self._lock:
                self.session = session
                if self._cancelled:
                    session.cancel()
            for event in session.run():
                if isinstance(event, LevelMesh):
                    event = MeshPayload(event, vertex_normals(event.vertices, event.faces))
                self.event.emit(self.run_id, event)
        except Exception as exc:  # noqa: BLE001 - reported to the UI, never lost
            self.failed.emit(self.run_id, *describe_error(exc))


@dataclass(frozen=True)
class SliceRequest:
    """A snapshot of what to slice: the session (its field), the plane and the points to overlay."""

    session: Any
    axis: int
    position: float
    resolution: int
    points: np.ndarray | None
    level: float = 0.5        # where the iso-line is drawn


@dataclass(frozen=True)
class SliceResult:
    request: SliceRequest
    values: np.ndarray        # (R, R) probability or signed distance
    near: np.ndarray          # (K, 2) in-plane coordinates of input points near the plane
    iso: np.ndarray           # (S, 2, 2) iso-line segments in in-plane coordinates


class SliceThread(QThread):
    """Computes occupancy slices; only the newest request is ever computed (stale ones are dropped)."""

    ready = Signal(object)
    failed = Signal(str, bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("slices")
        self._cond = threading.Condition()
        self._pending: SliceRequest | None = None
        self._quit = False

    def request(self, req: SliceRequest) -> None:
        """Queue ``req``, replacing any request not started yet; starts the thread if needed."""
        with self._cond:
            self._pending = req
            self._cond.notify()
        if not self.isRunning():
            self.start()

    def stop(self) -> None:
        """Finish the current slice (if any) and end the thread; call ``wait`` to join."""
        with self._cond:
            self._quit = True
            self._pending = None
            self._cond.notify()

    def run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._quit:
                    self._cond.wait()
                if self._quit:
                    return
                req, self._pending = self._pending, None
            try:
                values = req.session.slice(req.axis, req.position, req.resolution)
                ticks = slice_ticks(req.resolution)
                self.ready.emit(SliceResult(req, values, points_near_plane(req.points, req.axis, req.position),
                                            iso_segments(values, req.level, ticks, ticks)))
            except Exception as exc:  # noqa: BLE001 - reported to the UI, never lost
                self.failed.emit(*describe_error(exc))


def points_near_plane(points: np.ndarray | None, axis: int, position: float, width: float = 0.012) -> np.ndarray:
    """(K, 2) in-plane coordinates of the points within ``width`` of the plane ``axis = position``."""
    if points is None:
        return np.zeros((0, 2), np.float32)
    rest = [a for a in range(3) if a != axis]
    near = np.abs(points[:, axis] - position) < width
    return np.ascontiguousarray(points[near][:, rest], dtype=np.float32)
