"""Reading and writing the user's files (point clouds, meshes, images); Qt-free.

Public API (other modules code against exactly these names):

- ``read_point_cloud(path, max_points, rng) -> (points, normals | None, notices)``
- ``read_mesh(path) -> trimesh.Trimesh``
- ``read_image(path, max_pixels) -> (H, W, 3) uint8``
- ``load_input(path, n_mesh_samples, max_points) -> InputData`` (normalised, unit frame)
- ``write_mesh(path, vertices, faces, vertex_normals)``, ``write_point_cloud(path, points, normals)``
- ``classify(path)`` and the ``SUPPORTED_*_EXTS`` tuples for drag-and-drop filters.

Everything wrong with a user's file is an ``InputError`` whose one-line message starts
with the path. The format is sniffed from the first bytes (a PLY named ``.xyz`` is read as
PLY, with a notice) and falls back to the extension. Files are streamed with bounded
memory: counts in headers are checked against the bytes in the file before anything is
allocated, and clouds above ``max_points`` are sampled uniformly at random while reading.
Writers are atomic: a temporary file in the target folder is renamed over the target,
so an existing file survives any failure.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from ..errors import InputError
from . import images, las, meshfiles, pcd, ply, pointfiles, strays
from .inputs import InputData
from .normalize import Normalization
from .orientation import reorient

log = logging.getLogger(__name__)

SUPPORTED_POINT_EXTS = (".ply", ".xyz", ".pwn", ".asc", ".pts", ".txt", ".csv", ".npy", ".npz", ".las", ".pcd")
SUPPORTED_MESH_EXTS = (".ply", ".obj", ".off", ".stl", ".glb", ".gltf")
SUPPORTED_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp")
MESH_WRITE_EXTS = (".ply", ".obj", ".stl", ".glb")
POINT_WRITE_EXTS = (".ply", ".xyz")

MIN_POINTS = 8                  # fewer points than this cannot describe a shape
MAX_TEXT_BYTES = 2 << 30        # text point files (parsed at ~15-50 MB/s)
MAX_MESH_BYTES = 2 << 30        # mesh files, which are parsed whole in memory
MAX_IMAGE_BYTES = 1 << 30
DEFAULT_MAX_PIXELS = images.DEFAULT_MAX_PIXELS
MIN_IMAGE_SIDE = images.MIN_IMAGE_SIDE

_EXT_FORMATS = {
    ".ply": "ply", ".xyz": "text", ".pwn": "text", ".asc": "text", ".pts": "text", ".txt": "text", ".csv": "text",
    ".npy": "npy", ".npz": "npz", ".las": "las", ".laz": "las", ".pcd": "pcd", ".obj": "obj", ".off": "off", ".stl": "stl",
    ".glb": "glb", ".gltf": "gltf", ".png": "image", ".jpg": "image", ".jpeg": "image", ".bmp": "image",
}
_MAGIC = (
    (b"ply\n", "ply"), (b"ply\r\n", "ply"), (b"\x89PNG\r\n\x1a\n", "image"), (b"\xff\xd8\xff", "image"),
    (b"\x93NUMPY", "npy"), (b"PK\x03\x04", "npz"), (b"glTF", "glb"), (las.SIGNATURE, "las"), (b"# .PCD", "pcd"),
)
_LABELS = {
    "ply": "PLY", "text": "text", "npy": "NumPy .npy", "npz": "NumPy .npz", "las": "LAS", "pcd": "PCD", "obj": "OBJ", "off": "OFF",
    "stl": "STL", "glb": "GLB", "gltf": "glTF", "image": "image (PNG/JPEG/BMP)",
}
_KINDS = {"text": "points", "npy": "points", "npz": "points", "las": "points", "pcd": "points", "image": "image"}
_POINT_READERS = {
    "ply": ply.read_ply_points,
    "text": pointfiles.read_text_rows,
    "npy": pointfiles.read_npy_rows,
    "npz": pointfiles.read_npz_rows,
    "las": las.read_las_points,
    "pcd": pcd.read_pcd_points,
}


# ------------------------------------------------------------------------ public API


def classify(path: str | os.PathLike) -> str:
    """The kind of ``path``, "points", "mesh" or "image": from the content when the file
    exists (a PLY with faces is a mesh), else from the extension. InputError if unsupported."""
    p = Path(path)
    fmt = _sniff(p) if p.is_file() else None
    fmt = fmt or _format_from_extension(p)
    if fmt == "ply":
        return "mesh" if p.is_file() and _ply_header(p).face_count else "points"
    return _KINDS.get(fmt, "mesh")


def read_point_cloud(
    path: str | os.PathLike, max_points: int = 2_000_000, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Read a PLY, XYZ/PWN/ASC/PTS/TXT/CSV, NPY, NPZ, LAS or PCD point cloud in the file's own coordinates.

    Returns points (N, 3) float32, normals (N, 3) float32 unit vectors or None, and
    notices for the user. Rows with NaN/Inf are dropped; beyond ``max_points`` a uniform
    random subset is kept (``rng``: a Generator or seed; None means seed 0). float32
    cannot hold coordinates such as 1e9 + 0.001 exactly: ``load_input`` normalises in
    float64 before converting.
    """
    p = _check_file(path)
    fmt, notices = _detect(p)
    points, normals, notices = _read_points(p, fmt, notices, max_points, rng)
    with np.errstate(over="ignore"):
        single = points.astype(np.float32)
    fits = np.isfinite(single).all(axis=1)
    dropped = int((~fits).sum())
    if dropped:
        if dropped == len(fits):
            raise InputError(f"{p}: every point has a coordinate beyond the 32-bit float range (about 3.4e38)")
        notices.append(f"dropped {dropped} of {len(points)} points with coordinates beyond the "
                       "32-bit float range (about 3.4e38)")
        single, normals = single[fits], (normals[fits] if normals is not None else None)
        _check_count(p, len(single), dropped)       # what is left must still be a shape
        _check_extent(p, single)
    return single, normals, notices


def read_mesh(path: str | os.PathLike, allow_empty: bool = False):
    """Read a PLY (with faces), OBJ, OFF, STL, GLB or glTF mesh as a ``trimesh.Trimesh``
    (scenes concatenated, polygons triangulated, vertices as in the file).

    A file without faces is an ``InputError`` unless ``allow_empty`` (a reconstruction that
    came out empty is a result to score, not a bad file)."""
    import trimesh

    p = _check_file(path, MAX_MESH_BYTES)
    fmt, notices = _detect(p)
    vertices, faces, more = _read_mesh_arrays(p, fmt)
    if not len(faces) and not allow_empty:
        raise _no_mesh(p, fmt, len(vertices))
    for notice in notices + more:
        log.info("%s: %s", p, notice)
    return trimesh.Trimesh(vertices, faces, process=False)


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a PNG, JPEG or BMP image as (H, W, 3) uint8 RGB.

    Grayscale, 16-bit and palette images are converted; transparency is composited on
    white. Sides under MIN_IMAGE_SIDE are refused. Above ``max_pixels`` a JPEG is
    decoded at 1/2, 1/4 or 1/8 scale and other formats are refused.
    """
    p = _check_file(path, MAX_IMAGE_BYTES)
    fmt, notices = _detect(p)
    if fmt != "image":
        raise InputError(f"{p}: holds {_LABELS[fmt]} data, not an image")
    with _os_errors(p):
        pixels, more = images.decode_image(p, max_pixels)
    for notice in notices + more:
        log.info("%s: %s", p, notice)
    return pixels


def load_input(path: str | os.PathLike, n_mesh_samples: int = 100_000, max_points: int = 2_000_000) -> InputData:
    """Load any supported file as a reconstruction input in the unit frame.

    Point clouds are normalised on their points. Meshes (PLY with faces, OBJ, OFF, STL,
    GLB, glTF) are normalised on their vertices, sampled with ``n_mesh_samples``
    area-weighted surface points carrying face normals (seed 0) and kept as ``gt_mesh``.
    Images give kind "image". Normalisation is computed in float64. LAS clouds come turned
    z-up (``io.orientation``): their z is the height.
    """
    p = _check_file(path)
    fmt, notices = _detect(p)
    if fmt == "image":
        _check_size(p, p.stat().st_size, MAX_IMAGE_BYTES)
        with _os_errors(p):
            pixels, more = images.decode_image(p)
        return InputData(source=str(p), kind="image", image=pixels, notices=notices + more)
    if fmt in meshfiles.TRIMESH_TYPES or (fmt == "ply" and _ply_header(p).face_count):
        _check_size(p, p.stat().st_size, MAX_MESH_BYTES)
        return _mesh_input(p, fmt, notices, n_mesh_samples, max_points)
    points, normals, notices = _read_points(p, fmt, notices, max_points, None)
    data = _cloud_input(p, points, normals, notices)
    if fmt == "las":        # projected coordinates: x east, y north, z the height
        data = reorient(data, "+z")
        data.notices.append("LAS heights are z: turned so that +z is up (the Up axis box or --up changes it)")
    return data


def write_mesh(
    path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, vertex_normals: np.ndarray | None = None
) -> None:
    """Write a triangle mesh atomically as .ply (binary), .obj, .stl or .glb.

    vertices : (V, 3) float; faces : (F, 3) int; vertex_normals : (V, 3) float or None.
    Malformed arrays raise ValueError (a caller's bug); problems with the path raise
    InputError and leave any existing file untouched.
    """
    p = Path(path)
    ext = check_output(p, MESH_WRITE_EXTS)
    vertices = _rows3(vertices, "vertices")
    faces = _faces(faces, len(vertices))
    normals = None if vertex_normals is None else _rows3(vertex_normals, "vertex_normals", len(vertices))
    if not len(faces):
        raise InputError(f"{p}: the mesh is empty (no faces); nothing to write")
    if ext == ".ply":
        _atomic_write(p, lambda f: ply.write_ply(f, vertices, faces, normals))
    else:
        data = meshfiles.export_bytes(vertices, faces, normals, ext[1:])
        _atomic_write(p, lambda f: f.write(data))


def write_spooled_mesh(path: str | os.PathLike, spool: "ply.MeshSpool") -> None:
    """Write a mesh built in parts on disk (``ply.MeshSpool``) atomically as binary .ply, without
    holding it in memory; problems with the path raise InputError as in ``write_mesh``."""
    p = Path(path)
    check_output(p, (".ply",))
    if not spool.face_count:
        raise InputError(f"{p}: the mesh is empty (no faces); nothing to write")
    _atomic_write(p, spool.write_ply)


def write_point_cloud(path: str | os.PathLike, points: np.ndarray, normals: np.ndarray | None = None) -> None:
    """Write points (N, 3) and optional normals (N, 3) atomically as .ply (binary) or .xyz."""
    p = Path(path)
    ext = check_output(p, POINT_WRITE_EXTS)
    points = _rows3(points, "points")
    normals = None if normals is None else _rows3(normals, "normals", len(points))
    if not len(points):
        raise InputError(f"{p}: the point cloud is empty; nothing to write")
    if ext == ".ply":
        _atomic_write(p, lambda f: ply.write_ply(f, points, None, normals))
    else:
        _atomic_write(p, lambda f: pointfiles.write_xyz(f, points, normals))


# ---------------------------------------------------------------- checks and sniffing


def _check_file(path: str | os.PathLike, limit: int | None = None) -> Path:
    """The path of an existing, non-empty regular file no larger than ``limit`` bytes."""
    p = Path(path)
    try:
        info = p.stat()
    except FileNotFoundError:
        raise InputError(f"{p}: file not found") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot access the file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{p}: this is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{p}: not a regular file (a device or pipe?)")
    if info.st_size == 0:
        raise InputError(f"{p}: the file is empty")
    if limit is not None:
        _check_size(p, info.st_size, limit)
    return p


def _check_size(p: Path, size: int, limit: int) -> None:
    if size > limit:
        raise InputError(f"{p}: the file is {size / 2**30:.2f} GiB; files of this kind are limited to {limit / 2**30:.2f} GiB")


def _sniff(p: Path) -> str | None:
    """Format from the file's first bytes, or None when they are not recognised."""
    with _os_errors(p), open(p, "rb") as f:
        head = f.read(16)
    return next((fmt for magic, fmt in _MAGIC if head.startswith(magic)), None)


def _format_from_extension(p: Path) -> str:
    fmt = _EXT_FORMATS.get(p.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(set(SUPPORTED_POINT_EXTS + SUPPORTED_MESH_EXTS + SUPPORTED_IMAGE_EXTS)))
        raise InputError(f"{p}: unsupported file type '{p.suffix}'; supported: {known}")
    return fmt


def _detect(p: Path) -> tuple[str, list[str]]:
    """(format, notices): the sniffed format wins over the extension, with a notice."""
    sniffed = _sniff(p)
    if sniffed is None:
        return _format_from_extension(p), []
    expected = _EXT_FORMATS.get(p.suffix.lower())
    if sniffed == expected:
        return sniffed, []
    shown = p.suffix or "(no extension)"
    return sniffed, [f"{p.name} holds {_LABELS[sniffed]} data despite its {shown} extension; read as {_LABELS[sniffed]}"]


def _ply_header(p: Path) -> ply.PlyHeader:
    with _os_errors(p):
        return ply.read_header(p)


@contextmanager
def _os_errors(p: Path) -> Iterator[None]:
    """Turn operating-system failures while reading ``p`` into InputError."""
    try:
        yield
    except MemoryError:
        raise InputError(f"{p}: not enough memory to read this file") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read the file ({exc.strerror or exc})") from None


# ------------------------------------------------------------------------ point clouds


def _read_points(p: Path, fmt: str, notices: list[str], max_points: int, rng) -> tuple:
    """Points (N, 3) float64 (file coordinates), normals (N, 3) float32 or None, notices."""
    if fmt not in _POINT_READERS:
        raise InputError(f"{p}: holds {_LABELS[fmt]} data, not a point cloud; load_input reads meshes and images")
    if fmt == "text":
        _check_size(p, p.stat().st_size, MAX_TEXT_BYTES)
    sampler = pointfiles.RowSampler(max_points, np.random.default_rng(0 if rng is None else rng))
    with _os_errors(p):
        notices = notices + _POINT_READERS[fmt](p, sampler)
    return _finish_cloud(p, sampler, notices, guess_normals=fmt == "text")


def _finish_cloud(p: Path, sampler: pointfiles.RowSampler, notices: list[str], guess_normals: bool) -> tuple:
    """Check the sampled rows and split them into points (N, 3) float64 and normals."""
    rows = sampler.result()
    if sampler.nonfinite:
        notices.append(f"dropped {sampler.nonfinite:,} of {sampler.seen:,} points with NaN or Inf values")
    if sampler.finite > len(rows):
        notices.append(f"downsampled from {sampler.finite:,} to {len(rows):,} points (uniform random)")
    _check_count(p, len(rows), sampler.nonfinite)
    points = rows[:, :3]
    _check_extent(p, points)
    return points, _file_normals(rows, notices, guess_normals), notices


def _check_count(p: Path, count: int, nonfinite: int) -> None:
    if count >= MIN_POINTS:
        return
    finite = " finite" if nonfinite else ""
    found = f"no{finite} points" if count == 0 else f"only {count}{finite} point{'s' * (count > 1)}"
    raise InputError(f"{p}: the file has {found}; at least {MIN_POINTS} are needed")


def _check_extent(p: Path, points: np.ndarray, mesh: bool = False) -> None:
    """Refuse clouds (or mesh vertices) whose bounding box is a point, or spans under
    ~4,500 float64 steps."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    with np.errstate(over="ignore"):
        extent = float((hi - lo).max())
    size = float(np.abs(points).max())
    if extent == 0:
        where = ", ".join(f"{v:g}" for v in lo)
        which = "every vertex of the mesh is at" if mesh else f"all {len(points):,} points are identical"
        raise InputError(f"{p}: {which} ({where}); a shape needs a non-zero extent")
    if not np.isfinite(extent):
        raise InputError(f"{p}: the coordinates span more than float64 can hold (values near {size:g})")
    if extent < 1e-12 * size:
        raise InputError(f"{p}: the points span only {extent:g} units at coordinates near {size:g}; too small to resolve")


def _file_normals(rows: np.ndarray, notices: list[str], guessed: bool) -> np.ndarray | None:
    """Unit normals (N, 3) float32 from columns 4-6 of ``rows`` (N, 6), or None.

    For text files (``guessed``) the columns count as normals only when at least 95%
    of them are unit vectors within 10%; otherwise they are probably colours.
    """
    if rows.shape[1] < 6:
        return None
    normals = rows[:, 3:6]
    if guessed and not pointfiles.mostly_unit(normals):
        notices.append("columns 4-6 are not unit vectors (colours?) and were not used as normals")
        return None
    length = np.linalg.norm(normals, axis=1)
    zero = int(np.count_nonzero(~(length > 1e-12)))
    if zero:
        notices.append(f"the file's normals were ignored: {zero:,} of {len(rows):,} have zero length")
        return None
    return (normals / length[:, None]).astype(np.float32)


def _cloud_input(p: Path, points: np.ndarray, normals: np.ndarray | None, notices: list[str]) -> InputData:
    """The cloud (N, 3) in the unit frame, fitted to its points but the stray ones (``io.strays``)."""
    stray = strays.stray_points(points)
    if stray.any():
        notices = notices + [strays.stray_notice(stray)]
        points = points[~stray]
        normals = None if normals is None else normals[~stray]
    norm = Normalization.fit(points)
    return InputData(
        source=str(p), kind="points", points=norm.to_unit(points), normals=normals,
        normalization=norm, notices=notices,
    )


# ----------------------------------------------------------------------------- meshes


def _read_mesh_arrays(p: Path, fmt: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Vertices (V, 3) float64, faces (F, 3) int64 (validated) and notices."""
    with _os_errors(p):
        if fmt == "ply":
            vertices, faces, notices = ply.read_ply_mesh(p)
        elif fmt in meshfiles.TRIMESH_TYPES:
            vertices, faces, notices = meshfiles.load_trimesh(p, fmt)
        else:
            raise InputError(f"{p}: holds {_LABELS[fmt]} data, not a mesh")
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        bad = faces.min() if faces.min() < 0 else faces.max()
        raise InputError(f"{p}: a face refers to vertex {bad} but the file has {len(vertices):,} vertices")
    return _drop_nonfinite(vertices, faces, notices)


def _no_mesh(p: Path, fmt: str, n_vertices: int) -> InputError:
    if n_vertices:
        return InputError(f"{p}: the file has {n_vertices:,} vertices but no usable faces; open it as a point cloud")
    return InputError(f"{p}: no faces or vertices found; is this really {_LABELS[fmt]} data?")


def _drop_nonfinite(vertices: np.ndarray, faces: np.ndarray, notices: list[str]) -> tuple:
    """Remove faces touching NaN/Inf vertices, then the vertices no face uses."""
    finite = np.isfinite(vertices).all(axis=1)
    if finite.all():
        return vertices, faces, notices
    keep = finite[faces].all(axis=1)
    notices.append(f"dropped {len(faces) - int(keep.sum()):,} faces touching vertices with NaN or Inf coordinates")
    faces = faces[keep]
    used = np.zeros(len(vertices), bool)
    used[faces.ravel()] = True
    used &= finite
    remap = np.cumsum(used) - 1
    return vertices[used], remap[faces], notices


def _mesh_input(p: Path, fmt: str, notices: list[str], n_samples: int, max_points: int) -> InputData:
    import trimesh

    vertices, faces, more = _read_mesh_arrays(p, fmt)
    notices = notices + more
    if not len(vertices):
        raise _no_mesh(p, fmt, 0)
    if not len(faces):
        sampler = pointfiles.RowSampler(max_points, np.random.default_rng(0))
        sampler.add(vertices)
        points, _, notices = _finish_cloud(p, sampler, notices + ["the mesh has no faces: read as a point cloud"], False)
        return _cloud_input(p, points, None, notices)
    used = vertices[np.unique(faces)]
    _check_extent(p, used, mesh=True)
    norm = Normalization.fit(used)
    unit = (vertices - norm.center) / norm.scale
    try:
        points, normals = meshfiles.sample_surface(unit, faces, n_samples, seed=0)
    except ValueError:
        raise InputError(f"{p}: the mesh has zero surface area (every face is degenerate)") from None
    notices.append(f"sampled {n_samples:,} surface points from {len(faces):,} faces")
    return InputData(
        source=str(p), kind="points", points=points.astype(np.float32), normals=normals.astype(np.float32),
        gt_mesh=trimesh.Trimesh(unit, faces, process=False), normalization=norm, notices=notices,
    )


# ---------------------------------------------------------------------------- writing


def check_output(path: str | os.PathLike, allowed: tuple[str, ...] = MESH_WRITE_EXTS) -> str:
    """Refuse, in one line, an output path that could not be written (wrong kind, a folder, a
    missing or read-only folder) before any work is done; returns the lower-case extension."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in allowed:
        raise InputError(f"{p}: cannot write '{p.suffix or p.name}' files; use one of {', '.join(allowed)}")
    if p.is_dir():
        raise InputError(f"{p}: this is a folder; give a file name ending in {ext}")
    folder = p.parent.resolve()
    if not folder.is_dir():
        raise InputError(f"{p}: the folder {p.parent} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(f"{p}: the folder {p.parent} is not writable")
    return ext


def _rows3(values, name: str, count: int | None = None) -> np.ndarray:
    """Validate an (N, 3) finite numeric array; float32 stays float32, the rest float64."""
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a numeric (N, 3) array, got {arr.dtype} {arr.shape}")
    if count is not None and len(arr) != count:
        raise ValueError(f"{name} has {len(arr)} rows, expected {count}")
    if arr.dtype != np.float32:
        arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def _faces(values, n_vertices: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.empty((0, 3), np.int64)
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.dtype.kind not in "iu":
        raise ValueError(f"faces must be an integer (F, 3) array, got {arr.dtype} {arr.shape}")
    if arr.min() < 0 or arr.max() >= n_vertices:
        raise ValueError(f"faces index vertices outside 0..{n_vertices - 1}")
    return arr.astype(np.int64)


def _atomic_write(p: Path, write: Callable[[BinaryIO], object]) -> None:
    """Run ``write`` on a temporary file beside ``p``, then rename it over ``p``.

    On any failure the temporary file is removed and an existing ``p`` is unchanged;
    operating-system errors (missing or read-only folder, disk full) become InputError.
    """
    folder = p.parent
    if p.is_dir():
        raise InputError(f"{p}: this is a folder; give a file name")
    if not folder.is_dir():
        raise InputError(f"{p}: the folder {folder} does not exist")
    tmp = folder / f".{p.name}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise InputError(f"{p}: cannot write in folder {folder} ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if p.exists():
            shutil.copymode(p, tmp)
        os.replace(tmp, p)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(f"{p}: writing failed ({exc.strerror or exc}); any existing file is unchanged") from None
        raise
