"""RGB views of a mesh for the image model: a small numpy z-buffer rasteriser.

CPU only, no display, no OpenGL. Cameras follow the OpenCV convention: world-to-camera
``x_cam = R @ x_world + t`` with ``Rt = [R | t]``, camera x to the right, y down, z
forward (looking along +z); pixel ``(u, v) = (fx * x / z + cx, fy * y / z + cy)`` with
pixel ``(i, j)`` covering ``u`` in ``[i, i + 1)``. The world is the unit frame with y up.
Shading is two-sided Lambert (face orientation is unreliable in real meshes) with a
light near the camera, over a white background.
"""

from __future__ import annotations

import numpy as np

IMAGE_SIZE = 128
N_VIEWS = 6
CAMERA_DISTANCE = 2.0
FOCAL_PER_PIXEL = 1.09375  # focal length / image size: the unit frame's bounding sphere fits
AMBIENT = 0.35
LIGHT_DIR_CAM = np.array([-0.3, -0.5, -1.0]) / np.linalg.norm([-0.3, -0.5, -1.0])  # towards the light
BACKGROUND = 255


def orbit_cameras(azimuths: np.ndarray, elevations: np.ndarray, size: int = IMAGE_SIZE,
                  distance: float = CAMERA_DISTANCE) -> tuple[np.ndarray, np.ndarray]:
    """Cameras on a sphere around the origin, looking at it, y up.

    azimuths, elevations : (V,) radians; azimuth 0 looks from +z, elevation > 0 from above
    Returns K : (V, 3, 3) float32 intrinsics and Rt : (V, 3, 4) float32 world-to-camera.
    """
    az, el = np.asarray(azimuths, dtype=np.float64), np.asarray(elevations, dtype=np.float64)
    centre = distance * np.stack([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)], axis=1)
    forward = -centre / np.linalg.norm(centre, axis=1, keepdims=True)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right, axis=1, keepdims=True)
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward], axis=1)
    trans = -np.einsum("vij,vj->vi", rot, centre)
    f = FOCAL_PER_PIXEL * size
    k = np.array([[f, 0.0, size / 2.0], [0.0, f, size / 2.0], [0.0, 0.0, 1.0]])
    return (np.broadcast_to(k, (len(az), 3, 3)).astype(np.float32),
            np.concatenate([rot, trans[:, :, None]], axis=2).astype(np.float32))


def random_cameras(rng: np.random.Generator, n_views: int = N_VIEWS,
                   size: int = IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``n_views`` cameras evenly spread in azimuth from a random start, elevation 10-40 degrees.

    Returns K : (V, 3, 3) float32 and Rt : (V, 3, 4) float32.
    """
    azimuths = rng.uniform(0.0, 2.0 * np.pi) + 2.0 * np.pi * np.arange(n_views) / n_views
    elevations = np.radians(rng.uniform(10.0, 40.0, n_views))
    return orbit_cameras(azimuths, elevations, size)


def render_views(vertices: np.ndarray, faces: np.ndarray, face_colors: np.ndarray, cam_k: np.ndarray,
                 cam_rt: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Shaded images of a mesh from every camera.

    vertices : (N, 3) float, faces : (F, 3) int, face_colors : (F, 3) uint8 albedo
    cam_k : (V, 3, 3), cam_rt : (V, 3, 4) as from ``orbit_cameras``
    Returns (V, size, size, 3) uint8.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    albedo = np.asarray(face_colors, dtype=np.float64) / 255.0
    images = []
    for k, rt in zip(cam_k, cam_rt):
        cam = v @ rt[:, :3].T.astype(np.float64) + rt[:, 3]
        face_id = rasterize(cam, f, k, size)
        images.append(_shade(cam, f, albedo, face_id))
    return np.stack(images)


def _shade(cam: np.ndarray, faces: np.ndarray, albedo: np.ndarray, face_id: np.ndarray) -> np.ndarray:
    """(H, W) face ids (-1 = background) -> (H, W, 3) uint8 two-sided Lambert image."""
    tri = cam[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-20)
    light = AMBIENT + (1.0 - AMBIENT) * np.abs(normal @ LIGHT_DIR_CAM)
    face_rgb = np.clip(albedo * light[:, None] * 255.0, 0, 255).astype(np.uint8)
    image = np.full(face_id.shape + (3,), BACKGROUND, dtype=np.uint8)
    hit = face_id >= 0
    image[hit] = face_rgb[face_id[hit]]
    return image


def rasterize(cam: np.ndarray, faces: np.ndarray, cam_k: np.ndarray, size: int) -> np.ndarray:
    """Visible face per pixel.

    cam : (N, 3) camera-space vertices, faces : (F, 3), cam_k : (3, 3)
    Returns (size, size) int64 face index, -1 where no face covers the pixel centre.
    Faces with a vertex behind z = 1e-6 are skipped.
    """
    k = np.asarray(cam_k, dtype=np.float64)
    z = cam[:, 2]
    uv = np.stack([k[0, 0] * cam[:, 0] / np.where(z > 1e-6, z, 1.0) + k[0, 2],
                   k[1, 1] * cam[:, 1] / np.where(z > 1e-6, z, 1.0) + k[1, 2]], axis=1)
    keep = np.flatnonzero((z[faces] > 1e-6).all(axis=1))
    fid, px, py, depth = _fragments(uv, 1.0 / np.where(z > 1e-6, z, 1.0), faces, keep, size)
    out = np.full(size * size, -1, dtype=np.int64)
    if len(fid):
        order = np.argsort(-depth, kind="stable")  # depth holds 1/z: nearest first
        pix = (py * size + px)[order]
        first = np.unique(pix, return_index=True)[1]
        out[pix[first]] = fid[order][first]
    return out.reshape(size, size)


def _fragments(uv: np.ndarray, inv_z: np.ndarray, faces: np.ndarray, keep: np.ndarray,
               size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel centres covered by faces ``keep``: (M,) face ids, x, y and interpolated 1/z."""
    tri = uv[faces[keep]]  # (F, 3, 2)
    lo = np.clip(np.floor(tri.min(axis=1) - 0.5), 0, size).astype(np.int64)
    hi = np.clip(np.ceil(tri.max(axis=1) - 0.5) + 1, 0, size).astype(np.int64)
    width, height = hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1]
    count = np.where((width > 0) & (height > 0), width * height, 0)
    owner = np.repeat(np.arange(len(keep)), count)
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    px = lo[owner, 0] + offset % width[owner]
    py = lo[owner, 1] + offset // width[owner]
    bary = _barycentric(tri[owner], np.stack([px + 0.5, py + 0.5], axis=1))
    inside = (bary >= -1e-9).all(axis=1)
    fid, bary = keep[owner[inside]], bary[inside]
    depth = np.einsum("ij,ij->i", bary, inv_z[faces[fid]])
    return fid, px[inside], py[inside], depth


def _barycentric(tri: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Barycentric coordinates of points p (M, 2) in triangles tri (M, 3, 2) -> (M, 3).

    Degenerate (zero-area) triangles give coordinates that fail the inside test.
    """
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    safe = np.where(np.abs(area) > 1e-12, area, np.nan)
    w_b = ((p[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (p[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])) / safe
    w_c = ((b[:, 0] - a[:, 0]) * (p[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (p[:, 0] - a[:, 0])) / safe
    return np.stack([1.0 - w_b - w_c, w_b, w_c], axis=1)
