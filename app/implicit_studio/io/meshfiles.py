"""Meshes through trimesh (OBJ, OFF, STL, GLB, GLTF), export, and surface sampling.

trimesh is imported inside the functions so that importing ``data.io`` (and starting
the CLI) stays fast. Every trimesh failure on a user's file becomes an InputError; the
caller checks file size limits before anything is parsed.
"""

from __future__ import annotations

import ast
import io as pyio
from pathlib import Path

import numpy as np

from ..errors import InputError
from .chunks import check_chunk_lengths
from .pointfiles import snippet


TRIMESH_TYPES = ("obj", "off", "stl", "glb", "gltf")
EXPORT_TYPES = ("obj", "stl", "glb")


def load_trimesh(path: Path, file_type: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a mesh with trimesh: vertices (V, 3) float64, faces (F, 3) int64, notices.

    Scenes are flattened with their transforms applied and their meshes concatenated.
    A file with points but no faces returns its points and an empty (0, 3) face array.
    Vertices that trimesh did not parse as (V, 3) rows are an InputError.
    """
    import trimesh

    if file_type == "glb":
        check_chunk_lengths(path, "GLB", 12, "<II")
    try:
        parts = _load_scene(path, file_type).dump()
        meshes = [g for g in parts if isinstance(g, trimesh.Trimesh) and len(g.faces)]
        if meshes:
            mesh = meshes[0] if len(meshes) == 1 else trimesh.util.concatenate(meshes)
            vertices, faces = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)
        else:
            clouds = [np.asarray(g.vertices, np.float64) for g in parts if hasattr(g, "vertices")]
            vertices, faces = (np.concatenate(clouds) if clouds else np.empty((0, 3))), np.empty((0, 3), np.int64)
    except MemoryError:
        raise InputError(f"{path}: not enough memory to load this {file_type.upper()} file") from None
    except IndexError as exc:  # trimesh indexes the vertex array with the faces' indices unchecked
        raise InputError(f"{path}: cannot read as {file_type.upper()}: a face refers to a vertex the file does not "
                         f"have ({_first_line(exc)})") from exc
    except Exception as exc:  # trimesh reports malformed files with many exception types
        raise InputError(f"{path}: cannot read as {file_type.upper()} ({_first_line(exc)})") from exc
    if vertices.size and (vertices.ndim != 2 or vertices.shape[1] != 3):
        # an OBJ 'v' line of 2 numbers makes trimesh return garbled (V, 2) vertices
        raise InputError(f"{path}: cannot read as {file_type.upper()}: the vertices do not all have 3 coordinates "
                         "(x y z); is a vertex line short of a number?")
    notices = [f"combined {len(meshes)} meshes from the scene"] if len(meshes) > 1 else []
    return vertices.reshape(-1, 3), faces.reshape(-1, 3), notices


def _load_scene(path: Path, file_type: str):
    """trimesh.load_scene, retried on Latin-1 text transcoded to UTF-8.

    trimesh decodes non-UTF-8 text (OBJ, OFF, ASCII STL) with the optional package
    charset_normalizer and raises ModuleNotFoundError without it; numbers and keywords
    are ASCII in every such format, so Latin-1 reads them exactly.
    """
    import trimesh

    try:
        return trimesh.load_scene(str(path), file_type=file_type)
    except ModuleNotFoundError:
        text = path.read_bytes().decode("latin-1").encode("utf-8")
        resolver = trimesh.resolvers.FilePathResolver(str(path))
        return trimesh.load_scene(pyio.BytesIO(text), file_type=file_type, resolver=resolver)


# What the texts trimesh and numpy give for malformed text meshes mean, in the user's words;
# True: end with the offending value they quote.
_PLAIN_REASONS = (
    ("could not be read to its end due to unmatched data", "a line holds something other than numbers", False),
    ("invalid literal for int()", "a count or index is not a whole number", True),
    ("could not convert string to float", "a value is not a number", True),
    ("inhomogeneous shape", "lines hold different numbers of values", False),
    ("cannot reshape array", "the numbers do not make whole vertices and faces", False),
    ("too large to convert to C long", "a count or index is too large", False),
)


def _first_line(exc: Exception) -> str:
    """One line on why trimesh failed: a plain reason where its text is one of ``_PLAIN_REASONS``,
    else the exception's type and first line (120 characters)."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    for fragment, reason, quote in _PLAIN_REASONS:
        if fragment in text:
            return f"{reason}{_quoted_value(text)}" if quote else reason
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__


def _quoted_value(text: str) -> str:
    """': ' and the value a Python conversion error quotes at its end ("...: 'abc'"), escaped
    and cut as ``snippet`` does; '' when there is none."""
    try:
        value = ast.literal_eval(text.rsplit(": ", 1)[-1])
    except (ValueError, SyntaxError):
        return ""
    return f": {snippet(value)}" if isinstance(value, str) else ""


def export_bytes(vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray | None, file_type: str) -> bytes:
    """Encode a mesh as OBJ, STL or GLB bytes.

    vertices : (V, 3) float; faces : (F, 3) int; normals : (V, 3) float or None
    (OBJ and GLB store them; STL has face normals only).
    """
    import trimesh

    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, vertex_normals=normals, process=False)
    options = {"include_normals": normals is not None, "digits": 10} if file_type == "obj" else {}
    data = mesh.export(file_type=file_type, **options)
    return data.encode("utf-8") if isinstance(data, str) else data


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted uniform samples on a triangle mesh.

    vertices : (V, 3) float64; faces : (F, 3) int
    Returns points (count, 3) float64 and their face normals (count, 3) float64.
    Raises ValueError when the mesh has no area.
    """
    rng = np.random.default_rng(seed)
    corner = vertices[faces[:, 0]]
    edge1 = vertices[faces[:, 1]] - corner
    edge2 = vertices[faces[:, 2]] - corner
    cross = np.cross(edge1, edge2)
    double_area = np.linalg.norm(cross, axis=1)
    total = double_area.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError("the mesh has zero surface area")
    face = rng.choice(len(faces), size=count, p=double_area / total)
    u, v = rng.random((2, count))
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    points = corner[face] + u[:, None] * edge1[face] + v[:, None] * edge2[face]
    normals = cross[face] / double_area[face, None]
    return points, normals
