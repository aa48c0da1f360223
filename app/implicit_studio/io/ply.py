"""PLY files: a parser of our own (header + NumPy structured dtypes) and a binary writer.

Reading never trusts the header: the bytes an element needs are checked against the
bytes actually in the file before anything is sized from its count, so a header that
claims a billion vertices, or a truncated download, ends in a one-line InputError.
Binary vertex data is viewed through ``np.memmap`` and streamed in blocks; ASCII data is
parsed in blocks of lines. Faces (list properties) are read with a fixed-size fast path
when every polygon has the same size and a byte walker otherwise.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from ..errors import InputError
from .pointfiles import BLOCK_ROWS, RowSampler, column_blocks, iter_line_blocks, parse_rows, stack_columns


MAX_HEADER_BYTES = 64 << 10
FLOAT32_TOLERANCE = 1e-7     # vertices are written as float32 unless that moves one by more than this x extent
_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_STRUCT_CODES = {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I"}
_ENDIAN = {"ascii": "<", "binary_little_endian": "<", "binary_big_endian": ">"}
_FACE_LISTS = ("vertex_indices", "vertex_index")
_NORMAL_NAMES = (("nx", "ny", "nz"), ("normal_x", "normal_y", "normal_z"))


@dataclass(frozen=True)
class Property:
    """One property: ``type`` is a NumPy code ('f4'); ``count_type`` is set for lists."""

    name: str
    type: str
    count_type: str | None = None


@dataclass
class Element:
    """An element ('vertex', 'face', ...) with its declared instance count."""

    name: str
    count: int
    properties: list[Property]

    @property
    def has_lists(self) -> bool:
        return any(p.count_type for p in self.properties)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.properties]

    def dtype(self, endian: str) -> np.dtype:
        """Record dtype of one instance; valid only without list properties."""
        return np.dtype([(p.name, endian + p.type) for p in self.properties])


@dataclass
class PlyHeader:
    """A parsed header; ``data_offset`` is the byte where element data starts."""

    format: str
    elements: list[Element]
    data_offset: int
    lines: int

    @property
    def endian(self) -> str:
        return _ENDIAN[self.format]

    def element(self, name: str) -> Element | None:
        return next((e for e in self.elements if e.name == name), None)

    @property
    def face_count(self) -> int:
        face = self.element("face")
        return face.count if face else 0


# --------------------------------------------------------------------------- header


def read_header(path: Path) -> PlyHeader:
    """Parse the header of the PLY file at ``path`` (at most 64 KiB are read)."""
    with open(path, "rb") as f:
        head = f.read(MAX_HEADER_BYTES)
    pieces = head.split(b"\n")
    if pieces[0].rstrip(b"\r") != b"ply":
        raise InputError(f"{path}: not a PLY file (the first line is not 'ply')")
    if len(head) == MAX_HEADER_BYTES:
        pieces = pieces[:-1]  # the last piece may be cut short
    fmt, elements, offset = None, [], len(pieces[0]) + 1
    for number, raw in enumerate(pieces[1:], start=2):
        offset += len(raw) + 1
        words = raw.decode("latin-1").split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "end_header":
            if fmt is None:
                raise InputError(f"{path}: PLY header has no 'format' line")
            return PlyHeader(fmt, elements, min(offset, len(head)), number)
        if words[0] == "format":
            fmt = _parse_format(words, path)
        elif words[0] == "element":
            elements.append(_parse_element(words, path, number))
        elif words[0] == "property" and elements:
            _add_property(elements[-1], words, path, number)
        else:
            raise InputError(f"{path}: unexpected PLY header line {number}: {raw[:60]!r}")
    raise InputError(f"{path}: PLY header has no 'end_header' line within the first 64 KiB")


def _parse_format(words: list[str], path: Path) -> str:
    if len(words) < 2 or words[1] not in _ENDIAN:
        raise InputError(f"{path}: unknown PLY format {' '.join(words[1:])!r}")
    return words[1]


def _parse_element(words: list[str], path: Path, number: int) -> Element:
    try:
        name, count = words[1], int(words[2])
        if len(words) != 3 or count < 0:
            raise ValueError
    except (IndexError, ValueError):
        raise InputError(f"{path}: bad PLY element line {number}: {' '.join(words)!r}") from None
    return Element(name, count, [])


def _add_property(element: Element, words: list[str], path: Path, number: int) -> None:
    is_list = len(words) == 5 and words[1] == "list"
    if not is_list and len(words) != 3:
        raise InputError(f"{path}: bad PLY property line {number}: {' '.join(words)!r}")
    types = words[2:4] if is_list else words[1:2]
    for t in types:
        if t not in _TYPES:
            raise InputError(
                f"{path}: PLY property '{words[-1]}' of element '{element.name}' has unsupported type '{t}'"
            )
    if is_list and _TYPES[words[2]] not in _STRUCT_CODES:
        raise InputError(f"{path}: PLY list '{words[-1]}' has a non-integer length type '{words[2]}'")
    if words[-1] in element.names:
        raise InputError(f"{path}: PLY element '{element.name}' repeats property '{words[-1]}'")
    prop = Property(words[-1], _TYPES[types[-1]], _TYPES[types[0]] if is_list else None)
    element.properties.append(prop)


def _vertex_columns(header: PlyHeader, path: Path) -> tuple[Element, list[str]]:
    """The vertex element and the columns to read: x, y, z and the normals if present."""
    vertex = header.element("vertex")
    if vertex is None:
        raise InputError(f"{path}: PLY file has no 'vertex' element")
    if vertex.has_lists:
        raise InputError(f"{path}: PLY vertex element has list properties; not supported")
    missing = [c for c in "xyz" if c not in vertex.names]
    if missing:
        raise InputError(f"{path}: PLY vertex element lacks property '{missing[0]}'")
    normals = next((list(n) for n in _NORMAL_NAMES if set(n) <= set(vertex.names)), [])
    return vertex, ["x", "y", "z"] + normals


# ---------------------------------------------------------------------------- reading


def read_ply_points(path: Path, sampler: RowSampler) -> list[str]:
    """Stream the vertices of a PLY file into ``sampler`` as (n, 3) or (n, 6) rows
    (x, y, z and nx, ny, nz when present). Faces are not read. Returns notices."""
    header = read_header(path)
    vertex, columns = _vertex_columns(header, path)
    if header.format == "ascii":
        _ascii_points(path, header, vertex, columns, sampler)
    else:
        records = _binary_elements(path, header, {"vertex"})["vertex"]
        for block in column_blocks([records[c] for c in columns]):
            sampler.add(block)
    faces = header.face_count
    return [f"ignored {faces:,} faces (read as a point cloud)"] if faces else []


def read_ply_mesh(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Vertices (V, 3) float64, triangles (F, 3) int64 (polygons fan-triangulated) and notices.

    Face indices are not range-checked here.
    """
    header = read_header(path)
    vertex, columns = _vertex_columns(header, path)
    face = header.element("face")
    target = _face_list(face, path) if face is not None else None
    if header.format == "ascii":
        vertices, groups = _ascii_mesh(path, header, target)
    else:
        found = _binary_elements(path, header, {"vertex", "face"} if target else {"vertex"}, target)
        vertices = stack_columns([found["vertex"][c] for c in "xyz"])
        groups = found.get("face", [])
    return vertices.reshape(-1, 3), *_triangulate(groups)


def _face_list(face: Element, path: Path) -> str:
    lists = [p.name for p in face.properties if p.count_type]
    if not lists:
        raise InputError(f"{path}: PLY face element has no list property")
    return next((n for n in _FACE_LISTS if n in lists), lists[0])


def _triangulate(groups: list[np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Fan-triangulate polygon groups (m, k) -> (F, 3) int64; drops polygons with k < 3."""
    triangles, dropped = [], 0
    for polygons in groups:
        k = polygons.shape[1]
        if k < 3:
            dropped += len(polygons)
            continue
        fans = [polygons[:, [0, j, j + 1]] for j in range(1, k - 1)]
        triangles.append(np.stack(fans, axis=1).reshape(-1, 3))
    faces = np.concatenate(triangles).astype(np.int64) if triangles else np.empty((0, 3), np.int64)
    return faces, [f"dropped {dropped:,} faces with fewer than 3 vertices"] if dropped else []


# ----------------------------------------------------------------------------- binary


def _binary_elements(path: Path, header: PlyHeader, wanted: set[str], target: str | None = None) -> dict:
    """Walk the binary elements in file order until all ``wanted`` ones are found.

    Returns {name: data}: a structured record array for scalar elements (a view of a
    memory map), a list of (m, k) int64 polygon groups for the face element.
    """
    data = np.memmap(path, dtype=np.uint8, mode="r")
    offset, found = header.data_offset, {}
    for element in header.elements:
        if found.keys() >= wanted:
            break
        want = element.name in wanted
        if element.has_lists:
            groups, offset = _binary_lists(data, offset, element, header.endian, path, target if want else None)
            if want:
                found[element.name] = groups
        else:
            records, offset = _binary_records(data, offset, element, header.endian, path)
            if want:
                found[element.name] = records
    missing = wanted - found.keys()
    if missing:
        raise InputError(f"{path}: PLY file has no '{missing.pop()}' element")
    return found


def _truncated(path: Path, element: Element, need: int, have: int) -> InputError:
    return InputError(
        f"{path}: PLY header declares {element.count:,} {element.name} elements needing "
        f"{need:,} bytes but only {max(have, 0):,} bytes remain; the file is truncated or corrupt"
    )


def _binary_records(data: np.ndarray, offset: int, element: Element, endian: str, path: Path):
    """Record view (count,) of a scalar-only element at ``offset`` and the end offset."""
    dtype = element.dtype(endian)
    need = element.count * dtype.itemsize
    if need > len(data) - offset:
        raise _truncated(path, element, need, len(data) - offset)
    if dtype.itemsize == 0:
        return np.empty(0, dtype), offset
    return np.frombuffer(data, dtype=dtype, count=element.count, offset=offset), offset + need


def _binary_lists(data: np.ndarray, offset: int, element: Element, endian: str, path: Path, target: str | None):
    """Polygon groups of list property ``target`` (or [] when None) and the end offset.

    Fast path: every list as long as in the first instance, read as one record array.
    Otherwise a byte walker finds each instance's lists.
    """
    have = len(data) - offset
    minimum = _instance_bytes(element, [0] * len(element.properties))
    if element.count * minimum > have:
        raise _truncated(path, element, element.count * minimum, have)
    if element.count == 0:
        return [], offset
    lengths = _first_lengths(data, offset, element, endian, path)
    need = element.count * _instance_bytes(element, lengths)
    if need <= have:        # checked first: a list claiming 2**32 items would not even make a dtype
        dtype = np.dtype([field for p, n in zip(element.properties, lengths) for field in _fields(p, n, endian)])
        records = np.frombuffer(data, dtype=dtype, count=element.count, offset=offset)
        if all((records[p.name + "#n"] == n).all() for p, n in zip(element.properties, lengths) if p.count_type):
            groups = [records[target].reshape(element.count, -1).astype(np.int64)] if target else []
            return groups, offset + need
    return _walk_lists(data, offset, element, endian, path, target)


def _instance_bytes(element: Element, lengths: list[int]) -> int:
    """Bytes of one instance of ``element`` whose lists have ``lengths`` items (0 for scalars)."""
    return sum(np.dtype(p.count_type).itemsize + n * np.dtype(p.type).itemsize if p.count_type
               else np.dtype(p.type).itemsize for p, n in zip(element.properties, lengths))


def _fields(prop: Property, length: int, endian: str) -> list[tuple]:
    if prop.count_type is None:
        return [(prop.name, endian + prop.type)]
    return [(prop.name + "#n", endian + prop.count_type), (prop.name, endian + prop.type, (length,))]


def _first_lengths(data: np.ndarray, offset: int, element: Element, endian: str, path: Path) -> list[int]:
    """List lengths of the first instance (0 for scalar properties)."""
    lengths, view = [], memoryview(data)
    for p in element.properties:
        if p.count_type is None:
            lengths.append(0)
            offset += np.dtype(p.type).itemsize
            continue
        n = _list_length(view, offset, endian + _STRUCT_CODES[p.count_type], path, element)
        lengths.append(n)
        offset += np.dtype(p.count_type).itemsize + n * np.dtype(p.type).itemsize
    return lengths


def _ends_after(path: Path, element: Element, complete: int) -> InputError:
    return InputError(
        f"{path}: PLY data ends after {complete:,} of the {element.count:,} {element.name} "
        "elements its header declares; the file is truncated"
    )


def _list_length(view: memoryview, offset: int, code: str, path: Path, element: Element) -> int:
    try:
        (n,) = struct.unpack_from(code, view, offset)
    except struct.error:
        raise _ends_after(path, element, 0) from None
    if n < 0:
        raise InputError(f"{path}: PLY {element.name} element has a negative list length ({n})")
    return n


def _walk_lists(data: np.ndarray, offset: int, element: Element, endian: str, path: Path, target: str | None):
    """Byte walker over instances whose lists vary in length (a Python loop: ~1 us/face)."""
    plan = [
        (p.count_type and endian + _STRUCT_CODES[p.count_type],
         np.dtype(p.count_type or p.type).itemsize,
         np.dtype(p.type).itemsize if p.count_type else 0,
         p.name == target)
        for p in element.properties
    ]
    counts = np.zeros(element.count, np.int64)
    starts = np.zeros(element.count, np.int64)
    view, pos = memoryview(data), offset
    for i in range(element.count):
        if pos > len(data):
            raise _ends_after(path, element, i - 1)
        for code, size, item, is_target in plan:
            if code is None:
                pos += size
                continue
            if pos + size > len(data):
                raise _ends_after(path, element, i)
            n = _list_length(view, pos, code, path, element)
            pos += size
            if is_target:
                counts[i], starts[i] = n, pos
            pos += n * item
    if pos > len(data):
        raise _ends_after(path, element, element.count - 1)
    return (_gather_groups(data, counts, starts, element, endian, target) if target else []), pos


def _gather_groups(data, counts, starts, element: Element, endian: str, target: str) -> list[np.ndarray]:
    """Polygons grouped by size: [(m, k) int64] read from ``data`` at ``starts``."""
    item = np.dtype(endian + next(p.type for p in element.properties if p.name == target))
    groups = []
    for k in np.unique(counts):
        picked = starts[counts == k]
        byte_index = picked[:, None] + np.arange(k * item.itemsize)
        raw = np.ascontiguousarray(np.asarray(data)[byte_index])
        groups.append(raw.view(item).reshape(len(picked), k).astype(np.int64))
    return groups


# ------------------------------------------------------------------------------ ascii


class _AsciiRows:
    """Hands out the non-blank data lines after a PLY header, element by element."""

    def __init__(self, f: BinaryIO, path: Path, header: PlyHeader):
        f.seek(header.data_offset)
        self._blocks = iter_line_blocks(f, path, header.lines + 1)
        self._pending: list[str] = []
        self._path = path

    def take(self, element: Element) -> Iterator[tuple[int, list[str]]]:
        """Yield (index of the first row, rows) blocks covering ``element.count`` rows."""
        done = 0
        while done < element.count:
            if not self._pending:
                block = next(self._blocks, None)
                if block is None:
                    raise InputError(
                        f"{self._path}: file ends after {done:,} of the {element.count:,} "
                        f"{element.name} elements its PLY header declares; it is truncated"
                    )
                self._pending = [row for row in block[1] if row.strip()]
                continue
            rows = self._pending[: element.count - done]
            self._pending = self._pending[len(rows) :]
            yield done, rows
            done += len(rows)


def _check_ascii_size(path: Path, header: PlyHeader) -> None:
    """Each value takes at least 2 bytes ("0 "): refuse counts the file cannot hold."""
    have = path.stat().st_size - header.data_offset
    need = sum(e.count * 2 * max(len(e.properties), 1) for e in header.elements)
    if need - 1 > have:  # the last line may lack its newline
        biggest = max(header.elements, key=lambda e: e.count)
        raise _truncated(path, biggest, need, have)


def _ascii_points(path: Path, header: PlyHeader, vertex: Element, columns: list[str], sampler: RowSampler) -> None:
    _check_ascii_size(path, header)
    picks = [vertex.names.index(c) for c in columns]
    with open(path, "rb") as f:
        rows = _AsciiRows(f, path, header)
        for element in header.elements:
            for start, block in rows.take(element):
                if element is vertex:
                    table = parse_rows(block, len(vertex.properties), _where("vertex", start), path)
                    sampler.add(table[:, picks])
            if element is vertex:
                return


def _ascii_mesh(path: Path, header: PlyHeader, target: str | None) -> tuple[np.ndarray, list[np.ndarray]]:
    _check_ascii_size(path, header)
    vertex = header.element("vertex")
    picks = [vertex.names.index(c) for c in "xyz"]
    vertices, polygons = [], {}
    with open(path, "rb") as f:
        rows = _AsciiRows(f, path, header)
        for element in header.elements:
            for start, block in rows.take(element):
                if element is vertex:
                    vertices.append(parse_rows(block, len(vertex.properties), _where("vertex", start), path)[:, picks])
                elif element.name == "face" and target:
                    _ascii_polygons(block, start, element, target, path, polygons)
            if vertices and (element.name == "face" or not target):
                break
    try:
        groups = [np.array(p, dtype=np.int64).reshape(len(p), k) for k, p in polygons.items()]
    except OverflowError:   # smaller indices out of range are reported by the caller, with the vertex count
        raise InputError(f"{path}: a PLY face refers to a vertex index beyond 64 bits; the face data is corrupt") from None
    return (np.concatenate(vertices) if vertices else np.empty((0, 3))), groups


def _where(name: str, start: int):
    return lambda i: f"{name} {start + i}"


def _ascii_polygons(rows: list[str], start: int, element: Element, target: str, path: Path, out: dict) -> None:
    """Parse face rows, appending each ``target`` list to ``out[len(list)]``."""
    for i, row in enumerate(rows):
        tokens, pos = row.split(), 0
        try:
            for p in element.properties:
                if p.count_type is None:
                    pos += 1
                    continue
                n = int(tokens[pos])
                if n < 0 or pos + 1 + n > len(tokens):
                    raise ValueError
                if p.name == target:
                    out.setdefault(n, []).append([int(t) for t in tokens[pos + 1 : pos + 1 + n]])
                pos += 1 + n
            if pos != len(tokens):
                raise ValueError
        except (ValueError, IndexError):
            raise InputError(f"{path}: PLY face {start + i} is malformed: {row[:60]!r}") from None


# ----------------------------------------------------------------------------- writing


def write_ply(f: BinaryIO, vertices: np.ndarray, faces: np.ndarray | None = None, normals: np.ndarray | None = None) -> None:
    """Write binary little-endian PLY to ``f``.

    vertices : (V, 3) float, stored as float32 unless that would lose precision
        (e.g. user coordinates near 1e9), then as double
    faces : (F, 3) int or None (no face element)
    normals : (V, 3) float or None, stored as float32 nx, ny, nz
    """
    double = needs_double(vertices)
    f.write(_header(len(vertices), double, normals is not None, None if faces is None else len(faces)))
    records = np.empty(len(vertices), dtype=_vertex_fields(double, normals is not None))
    for i, c in enumerate("xyz"):
        records[c] = vertices[:, i]
    if normals is not None:
        for i, c in enumerate(("nx", "ny", "nz")):
            records[c] = normals[:, i]
    f.write(records.tobytes())
    if faces is not None:
        f.write(_face_bytes(faces))


def _vertex_fields(double: bool, normals: bool) -> list[tuple[str, str]]:
    fields = [(c, "<f8" if double else "<f4") for c in "xyz"]
    return fields + ([(c, "<f4") for c in ("nx", "ny", "nz")] if normals else [])


def _header(vertices: int, double: bool, normals: bool, faces: int | None) -> bytes:
    """The header of a binary little-endian PLY with these elements (``faces`` None: none)."""
    vtype = "double" if double else "float"
    lines = ["ply", "format binary_little_endian 1.0", "comment Implicit Studio", f"element vertex {vertices}"]
    lines += [f"property {vtype} {c}" for c in "xyz"]
    if normals:
        lines += [f"property float {c}" for c in ("nx", "ny", "nz")]
    if faces is not None:
        lines += [f"element face {faces}", "property list uchar int vertex_indices"]
    return ("\n".join(lines + ["end_header"]) + "\n").encode("ascii")


def _face_bytes(faces: np.ndarray) -> bytes:
    """Triangles (F, 3) as PLY face records (a uchar 3, then three int32)."""
    records = np.empty(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
    records["n"] = 3
    records["v"] = faces
    return records.tobytes()


class MeshSpool:
    """A triangle mesh written in parts to temporary files, then as one PLY: for meshes built
    piece by piece that need not fit in memory (a scene, tile by tile).

    ``add`` takes each part's new vertices (n, 3) float and its faces (F, 3) in the mesh's global
    numbering; ``write_ply`` writes the whole mesh as ``write_ply`` would (vertices as float32
    unless that would lose precision); ``close`` removes the temporary files. A context manager.
    """

    def __init__(self):
        import tempfile

        self._vertices = tempfile.TemporaryFile()
        self._faces = tempfile.TemporaryFile()
        self.vertex_count = self.face_count = 0
        self._lo, self._hi = np.full(3, np.inf), np.full(3, -np.inf)
        self._error = 0.0           # the largest move float32 storage would make

    def add(self, vertices: np.ndarray, faces: np.ndarray) -> None:
        vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
        faces = np.asarray(faces).reshape(-1, 3)
        if len(faces) and (faces.min() < 0 or faces.max() >= self.vertex_count + len(vertices)):
            raise ValueError("faces refer to vertices not added yet")
        if len(vertices):
            self._lo = np.minimum(self._lo, vertices.min(axis=0))
            self._hi = np.maximum(self._hi, vertices.max(axis=0))
            self._error = max(self._error, float32_error(vertices))
        self._vertices.write(vertices.tobytes())
        self._faces.write(_face_bytes(faces))
        self.vertex_count += len(vertices)
        self.face_count += len(faces)

    def write_ply(self, f: BinaryIO, block: int = BLOCK_ROWS) -> None:
        """Write the mesh as binary little-endian PLY to ``f``, ``block`` vertices at a time."""
        import shutil

        extent = float((self._hi - self._lo).max()) if self.vertex_count else 0.0
        double = self._error > FLOAT32_TOLERANCE * extent         # as ``needs_double`` decides
        f.write(_header(self.vertex_count, double, False, self.face_count))
        self._vertices.seek(0)
        while chunk := self._vertices.read(block * 24):
            f.write(np.frombuffer(chunk, dtype="<f8").astype("<f8" if double else "<f4").tobytes())
        self._faces.seek(0)
        shutil.copyfileobj(self._faces, f, 1 << 22)

    def close(self) -> None:
        self._vertices.close()
        self._faces.close()

    def __enter__(self) -> "MeshSpool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def needs_double(values: np.ndarray) -> bool:
    """True when storing ``values`` (N, 3) as float32 would move a point by more than
    ``FLOAT32_TOLERANCE`` of the cloud's extent (coordinates far from the origin)."""
    values = np.asarray(values)
    if values.dtype == np.float32 or values.size == 0:
        return False
    values = values.astype(np.float64)
    return float32_error(values) > FLOAT32_TOLERANCE * float(np.ptp(values, axis=0).max())


def float32_error(values: np.ndarray) -> float:
    """The largest move storing ``values`` (N, 3) float64 (N > 0) as float32 would make."""
    return float(np.abs(values.astype(np.float32).astype(np.float64) - values).max())
