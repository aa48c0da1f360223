"""The 3D viewport: a small wrapper around a vispy ``SceneCanvas``.

Only ``Viewport.widget`` goes into a Qt layout; everything else is setters that the
window's panels call (points, mesh, error colours, the slice plane and its cut-away,
wireframe, bounding box, camera state). Nothing here moves the camera except
``reset_camera`` and ``set_camera_state``: a new mesh, level or colouring leaves the
view where the user put it. Left-drag orbits, right- or shift-drag pans, the wheel zooms,
R or a double click resets.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget
from vispy import scene
from vispy.geometry import MeshData
from vispy.visuals.filters.clipping_planes import PlanesClipper
from vispy.visuals.transforms import MatrixTransform

from ..io.normalize import BOX_HALF as HALF
from .error_colours import DEFAULT_CLAMP, vispy_colormap

log = logging.getLogger(__name__)

BACKGROUND = "#1e2329"
MESH_COLOR = (0.85, 0.72, 0.52, 1.0)
POINT_COLOR = (0.35, 0.75, 1.0, 0.9)
PLANE_GREY = (0.75, 0.78, 0.82, 0.35)     # the slice plane of a view without a field (points, voxels)
LIGHT_IN_VIEW = np.array([0.4, -0.5, -1.0, 0.0])   # a direction in camera space
DEFAULT_CAMERA = {"elevation": 22.0, "azimuth": -35.0, "fov": 35.0, "scale_factor": 1.35,
                  "center": (0.0, 0.0, 0.0), "roll": 0.0}


def box_lines(half: float = HALF) -> np.ndarray:
    """(24, 3) segment end points of the edges of the cube [-half, half]^3."""
    corners = np.array([[x, y, z] for x in (-half, half) for y in (-half, half) for z in (-half, half)], np.float32)
    edges = [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7)]
    return corners[np.array(edges).ravel()]


def plane_matrix(axis: int, position: float, pixels: int) -> np.ndarray:
    """(4, 4) vispy matrix (row vectors) placing a ``pixels``-wide square image on the plane ``axis = position``.

    Image pixel (x, y) has its centre on slice sample (i, j) = (x, y): the samples span the box
    edge to edge (``engine.session.slice_ticks``), so the image reaches half a pixel beyond it,
    exactly as the Slice tab draws it.
    """
    rest = [a for a in range(3) if a != axis]
    step = 2 * HALF / max(pixels - 1, 1)
    matrix = np.zeros((4, 4))
    matrix[0, rest[0]] = matrix[1, rest[1]] = step
    matrix[2, axis] = 1.0
    matrix[3, rest[0]] = matrix[3, rest[1]] = -HALF - step / 2
    matrix[3, axis] = position
    matrix[3, 3] = 1.0
    return matrix


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
        self.mesh.cmap = vispy_colormap()
        self.mesh.clim = (0.0, DEFAULT_CLAMP)
        # the slice plane: a translucent image drawn after the meshes, so what lies behind it shows through
        self.plane = scene.visuals.Image(np.zeros((2, 2, 4), np.uint8), method="subdivide", parent=self.view.scene)
        self.plane.set_gl_state("translucent", depth_test=True, cull_face=False)
        self.plane.transform = MatrixTransform()
        self.plane.order = 10
        self.clippers = [PlanesClipper(coord_system="scene") for _ in (self.mesh, self.wire)]
        for visual, clipper in zip((self.mesh, self.wire), self.clippers):
            visual.attach(clipper)
        self.wire.visible = False
        self.bbox.visible = False
        self.mesh.visible = False
        self.points.visible = False
        self.plane.visible = False
        self.n_vertices = 0
        self.n_faces = 0
        self.n_points = 0
        self.mesh_vertices: np.ndarray | None = None   # the shown mesh's (V, 3) vertices, as given
        self._mesh_arrays = None                        # (vertices, faces, normals) uploaded
        self._errors: np.ndarray | None = None          # (V,) distances coloured, or None: plain colour
        self._plane_on = False
        self._plane_at: tuple[int, float] | None = None
        self._cut = False
        self._cut_side: tuple | None = None             # (axis, position, +1 or -1: the camera's side) clipped
        self.canvas.events.draw.connect(self._follow_camera)
        self._warming = None
        self.canvas.events.draw.connect(self._warm_up_begin, position="first")
        self.canvas.events.key_press.connect(self._on_key)
        self.canvas.events.mouse_double_click.connect(lambda _e: self.reset_camera())

        self.widget = QWidget()
        self.title = QLabel(title)
        self.title.setStyleSheet("font-weight: bold; padding: 2px;")
        self.caption = QLabel("")
        self.caption.setStyleSheet("color: #666; padding: 2px;")
        self.error_summary = QLabel("")
        self.error_summary.setStyleSheet("color: #8a3b12; padding: 0 2px 2px 2px;")
        # a new caption or summary must not re-lay out the window (each resize reallocates the GL frame
        # buffer, hundreds of milliseconds under a software renderer): their space is kept while hidden
        for label in (self.caption, self.error_summary):
            policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            policy.setRetainSizeWhenHidden(True)
            label.setSizePolicy(policy)
        self.error_summary.setVisible(False)
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.title)
        layout.addWidget(self.canvas.native, 1)
        layout.addWidget(self.caption)
        layout.addWidget(self.error_summary)
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
        self.mesh_vertices = vertices
        self._errors = None
        if vertices is None or len(faces) == 0:
            self.mesh.visible = False
            self.wire.visible = False
            self.n_vertices = self.n_faces = 0
            self._mesh_arrays = None
            self.canvas.update()
            return
        vertices = np.ascontiguousarray(vertices, np.float32)
        faces = np.ascontiguousarray(faces, np.uint32)
        self._mesh_arrays = (vertices, faces, None if normals is None else np.ascontiguousarray(normals, np.float32))
        self._upload_mesh()
        self.mesh.visible = True
        if self.wire_enabled:
            self.wire.set_data(vertices=vertices, faces=faces)
        self.wire.visible = self.wire_enabled
        self.n_vertices, self.n_faces = len(vertices), len(faces)
        self.canvas.update()

    def _upload_mesh(self) -> None:
        """Hand the mesh to vispy, coloured by ``_errors`` when set (the GPU maps them through ``cmap``)."""
        vertices, faces, normals = self._mesh_arrays
        data = MeshData(vertices=vertices, faces=faces)
        if normals is not None:
            data._vertex_normals = normals
        if self._errors is not None:
            data.set_vertex_values(self._errors)
        self.mesh.set_data(meshdata=data, color=MESH_COLOR)

    def set_errors(self, distances: np.ndarray | None, summary: str = "") -> None:
        """Colour the mesh by per-vertex ``distances`` (V,) of the mesh shown, with ``summary`` under the
        view; None goes back to the plain colour and hides the summary."""
        self.error_summary.setText(summary)
        self.error_summary.setVisible(distances is not None)
        if self._mesh_arrays is None or (distances is None and self._errors is None):
            self._errors = None
            return
        self._errors = None if distances is None else np.ascontiguousarray(distances, np.float32)
        self._upload_mesh()
        self.canvas.update()

    def set_error_clamp(self, clamp: float) -> None:
        """Distances from ``clamp`` up get the last colour of the map."""
        if tuple(self.mesh.clim) != (0.0, clamp):
            self.mesh.clim = (0.0, clamp)

    @property
    def coloured(self) -> bool:
        """Whether the mesh shown is coloured by its errors."""
        return self._errors is not None

    def clear(self) -> None:
        self.set_points(None)
        self.set_mesh(None)
        self.caption.setText("")
        self.set_errors(None)

    # --- the slice plane ------------------------------------------------------------------
    def show_plane(self, on: bool) -> None:
        """Show or hide the slice plane (placed by ``set_plane``)."""
        self._plane_on = on
        self.plane.visible = on and self._plane_at is not None
        self.canvas.update()

    def set_plane(self, axis: int, position: float, rgba: np.ndarray | None = None) -> None:
        """Put the slice plane on ``axis = position`` (unit frame); ``rgba`` (R, R, 4) uint8 colours its
        samples, indexed [i, j] along the two other axes in order (None: keep the colours shown)."""
        if rgba is not None:
            self.plane.set_data(np.ascontiguousarray(rgba.transpose(1, 0, 2)))   # image rows follow j
        if (axis, position) != self._plane_at or rgba is not None:
            pixels = self.plane.size[0]
            self.plane.transform.matrix = plane_matrix(axis, position, pixels)
            self._plane_at = (axis, position)
            self._update_cut()
        self.plane.visible = self._plane_on
        self.canvas.update()

    def set_plane_grey(self, pixels: int) -> None:
        """Colour the plane one translucent grey (a view with no field to slice), as big as a
        ``pixels``-sample slice."""
        self.plane.set_data(np.full((pixels, pixels, 4), np.round(np.array(PLANE_GREY) * 255), np.uint8))
        if self._plane_at is not None:
            self.set_plane(*self._plane_at)

    def set_cut_away(self, on: bool) -> None:
        """Cut the mesh away between the camera and the slice plane, so its inside shows (the side
        follows the camera as it turns)."""
        self._cut = on
        self._update_cut()
        self.canvas.update()

    def _update_cut(self) -> None:
        """Clip the half-space on the camera's side of the plane (none without a cut or a plane)."""
        side = None
        if self._cut and self._plane_at is not None:
            axis, position = self._plane_at
            eye = self.view.camera.transform.map([0.0, 0.0, 0.0, 1.0])
            side = (axis, position, 1.0 if eye[axis] / eye[3] > position else -1.0)
        if side == self._cut_side:
            return
        self._cut_side = side
        planes = None
        if side is not None:
            axis, position, sign = side
            point, normal = np.zeros(3), np.zeros(3)
            point[axis], normal[axis] = position, -sign     # the clipper keeps the side the normal points to
            planes = np.array([[point, normal]], np.float32)
        for clipper in self.clippers:
            clipper.clipping_planes = planes

    @property
    def wire_enabled(self) -> bool:
        return getattr(self, "_wire_on", False)

    def set_wireframe(self, on: bool) -> None:
        self._wire_on = on
        if on and self.n_faces:
            self.wire.set_data(*self._mesh_arrays[:2])
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
        visuals = (self.points, self.mesh, self.wire, self.bbox, self.plane)
        self._warming = [v.visible for v in visuals]
        for visual in visuals:
            visual.visible = True
        self.canvas.events.draw.connect(self._warm_up_end, position="last")

    def _warm_up_end(self, _event) -> None:
        self.canvas.events.draw.disconnect(self._warm_up_end)
        for visual, was in zip((self.points, self.mesh, self.wire, self.bbox, self.plane), self._warming):
            visual.visible = was
        self._warming = None
        self.canvas.update()

    def _follow_camera(self, _event=None) -> None:
        """Keep the light over the viewer's shoulder and the cut-away on the viewer's side of the
        plane, whichever way the camera turns."""
        direction = self.view.camera.transform.map(LIGHT_IN_VIEW)[:3]
        self.mesh.shading_filter.light_dir = tuple(direction)
        self._update_cut()

    def _on_key(self, event) -> None:
        if event.key is not None and event.key.name in ("R", "r"):
            self.reset_camera()

    def close(self) -> None:
        self.canvas.close()
