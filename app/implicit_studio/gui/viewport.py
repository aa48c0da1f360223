"""The 3D viewport: a small wrapper around a vispy ``SceneCanvas``.

Only ``Viewport.widget`` goes into a Qt layout; everything else is setters that the
window's panels call (points, mesh, wireframe, bounding box, camera state).
Left-drag orbits, right- or shift-drag pans, the wheel zooms, R or a double click resets.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget
from vispy import scene
from vispy.geometry import MeshData

from ..io.normalize import BOX_HALF as HALF

log = logging.getLogger(__name__)

BACKGROUND = "#1e2329"
MESH_COLOR = (0.85, 0.72, 0.52, 1.0)
POINT_COLOR = (0.35, 0.75, 1.0, 0.9)
LIGHT_IN_VIEW = np.array([0.4, -0.5, -1.0, 0.0])   # a direction in camera space
DEFAULT_CAMERA = {"elevation": 22.0, "azimuth": -35.0, "fov": 35.0, "scale_factor": 1.35,
                  "center": (0.0, 0.0, 0.0), "roll": 0.0}


def box_lines(half: float = HALF) -> np.ndarray:
    """(24, 3) segment end points of the edges of the cube [-half, half]^3."""
    corners = np.array([[x, y, z] for x in (-half, half) for y in (-half, half) for z in (-half, half)], np.float32)
    edges = [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7)]
    return corners[np.array(edges).ravel()]


class Viewport:
    """One 3D view: input points as markers, a lit mesh, optional wireframe and bounding box."""

    def __init__(self, title: str = ""):
        self.canvas = scene.SceneCanvas(keys=None, bgcolor=BACKGROUND, size=(480, 400))
        self.view = self.canvas.central_widget.add_view()
        self.view.camera = scene.TurntableCamera(up="+y")   # meshes and scans are mostly y-up
        self.reset_camera()
        self.points = scene.visuals.Markers(parent=self.view.scene)
        self.points.set_gl_state("translucent", depth_test=True)
        self.points.set_data(np.zeros((1, 3), np.float32), size=0.0, edge_width=0, face_color=POINT_COLOR)
        # the shading filter needs some geometry from the start: one tiny hidden triangle
        placeholder = np.zeros((3, 3), np.float32), np.array([[0, 1, 2]], np.uint32)
        self.mesh = scene.visuals.Mesh(*placeholder, color=MESH_COLOR, shading="smooth", parent=self.view.scene)
        self.mesh.shading_filter.ambient_light = (1, 1, 1, 0.3)
        self.wire = scene.visuals.Mesh(*placeholder, color=(0.1, 0.1, 0.1, 1.0), mode="lines",
                                       parent=self.view.scene)
        self.bbox = scene.visuals.Line(box_lines(), connect="segments", color=(0.6, 0.6, 0.6, 0.6),
                                       parent=self.view.scene)
        self.wire.visible = False
        self.bbox.visible = False
        self.mesh.visible = False
        self.points.visible = False
        self.n_vertices = 0
        self.n_faces = 0
        self.n_points = 0
        self.canvas.events.draw.connect(self._light_from_camera)
        self._warming = None
        self.canvas.events.draw.connect(self._warm_up_begin, position="first")
        self.canvas.events.key_press.connect(self._on_key)
        self.canvas.events.mouse_double_click.connect(lambda _e: self.reset_camera())

        self.widget = QWidget()
        self.title = QLabel(title)
        self.title.setStyleSheet("font-weight: bold; padding: 2px;")
        self.caption = QLabel("")
        self.caption.setStyleSheet("color: #666; padding: 2px;")
        # a new caption must not re-lay out the window (each resize reallocates the GL frame buffer)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.title)
        layout.addWidget(self.canvas.native, 1)
        layout.addWidget(self.caption)
        self.title.setVisible(bool(title))

    # --- content ------------------------------------------------------------------------
    def set_points(self, points: np.ndarray | None, size: float = 3.0) -> None:
        """Show ``points`` (N, 3) in the unit frame as markers, or hide them (None)."""
        if points is None or len(points) == 0:
            self.points.visible = False
            self.n_points = 0
        else:
            self.points.set_data(np.ascontiguousarray(points, np.float32), size=size, edge_width=0,
                                 face_color=POINT_COLOR)
            self.points.visible = True
            self.n_points = len(points)
        self.canvas.update()

    def set_mesh(self, vertices: np.ndarray | None, faces: np.ndarray | None = None,
                 normals: np.ndarray | None = None) -> None:
        """Show a mesh (V, 3) / (F, 3) with smooth shading; None clears it.

        ``normals`` (V, 3) computed elsewhere (a worker) spare the UI thread the work.
        """
        if vertices is None or len(faces) == 0:
            self.mesh.visible = False
            self.wire.visible = False
            self.n_vertices = self.n_faces = 0
            self.canvas.update()
            return
        vertices = np.ascontiguousarray(vertices, np.float32)
        faces = np.ascontiguousarray(faces, np.uint32)
        data = MeshData(vertices=vertices, faces=faces)
        if normals is not None:
            data._vertex_normals = np.ascontiguousarray(normals, np.float32)
        self.mesh.set_data(meshdata=data, color=MESH_COLOR)
        self.mesh.visible = True
        self._wire_data = (vertices, faces)
        if self.wire_enabled:
            self.wire.set_data(vertices=vertices, faces=faces)
        self.wire.visible = self.wire_enabled
        self.n_vertices, self.n_faces = len(vertices), len(faces)
        self.canvas.update()

    def clear(self) -> None:
        self.set_points(None)
        self.set_mesh(None)
        self.caption.setText("")

    @property
    def wire_enabled(self) -> bool:
        return getattr(self, "_wire_on", False)

    def set_wireframe(self, on: bool) -> None:
        self._wire_on = on
        if on and self.n_faces:
            self.wire.set_data(*self._wire_data)
        self.wire.visible = on and self.n_faces > 0
        self.canvas.update()

    def set_bbox(self, on: bool) -> None:
        self.bbox.visible = on
        self.canvas.update()

    def set_points_visible(self, on: bool) -> None:
        self.points.visible = on and self.n_points > 0
        self.canvas.update()

    def set_caption(self, text: str) -> None:
        self.caption.setText(text)

    def set_title(self, text: str) -> None:
        self.title.setText(text)
        self.title.setVisible(bool(text))

    # --- camera -------------------------------------------------------------------------
    def reset_camera(self) -> None:
        self.view.camera.set_state(DEFAULT_CAMERA)
        self.canvas.update()

    def camera_state(self) -> dict:
        """The camera as plain JSON-ready values."""
        state = self.view.camera.get_state()
        return {k: (list(map(float, v)) if isinstance(v, (tuple, list, np.ndarray)) else float(v))
                for k, v in state.items()}

    def set_camera_state(self, state: dict) -> None:
        cam = self.view.camera
        known = {k: (tuple(v) if isinstance(v, list) else v) for k, v in state.items() if k in cam._state_props}
        cam.set_state(known)
        cam.view_changed()
        self.canvas.update()

    def link_camera(self, other: "Viewport") -> None:
        """Keep this view's camera and ``other``'s in sync, both ways."""
        self.view.camera.link(other.view.camera)

    def _warm_up_begin(self, _event) -> None:
        """Draw every visual once in the first frame (placeholders are degenerate, nothing shows).

        Shaders are compiled on a visual's first draw, and a software renderer (llvmpipe)
        compiles each shader variant on the first draw call: hundreds of milliseconds of UI
        thread. Paying it once when the window first paints keeps it out of the moment the
        first mesh arrives.
        """
        self.canvas.events.draw.disconnect(self._warm_up_begin)
        visuals = (self.points, self.mesh, self.wire, self.bbox)
        self._warming = [v.visible for v in visuals]
        for visual in visuals:
            visual.visible = True
        self.canvas.events.draw.connect(self._warm_up_end, position="last")

    def _warm_up_end(self, _event) -> None:
        self.canvas.events.draw.disconnect(self._warm_up_end)
        for visual, was in zip((self.points, self.mesh, self.wire, self.bbox), self._warming):
            visual.visible = was
        self._warming = None
        self.canvas.update()

    def _light_from_camera(self, _event=None) -> None:
        """Keep the light over the viewer's shoulder, whichever way the camera turns."""
        direction = self.view.camera.transform.map(LIGHT_IN_VIEW)[:3]
        self.mesh.shading_filter.light_dir = tuple(direction)

    def _on_key(self, event) -> None:
        if event.key is not None and event.key.name in ("R", "r"):
            self.reset_camera()

    def close(self) -> None:
        self.canvas.close()
