"""PCD point clouds (Point Cloud Library, header v0.7 and older): ascii, binary and
binary_compressed (LZF) data, read from the published format description.

Fields x, y, z (and normal_x, normal_y, normal_z when all three are present) are read;
the others are skipped. As with PLY, the header is never trusted: the bytes the declared
points need are checked against the file (or, compressed, against what LZF can expand
to and a size cap) before anything is allocated. Binary records are viewed through
``np.memmap`` and streamed into a ``RowSampler`` in blocks of rows; ASCII data is parsed
in blocks of lines. NaN points (organised clouds from depth cameras) are dropped by the sampler.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .pointfiles import RowSampler, column_blocks, iter_line_blocks, parse_rows


MAX_HEADER_BYTES = 64 << 10
MAX_DECOMPRESSED_BYTES = 1 << 30      # binary_compressed data is decompressed whole, by a Python loop
LZF_MAX_RATIO = 88                    # a 3-byte LZF back-reference yields at most 264 bytes
MAX_RECORD_BYTES = (1 << 31) - 1      # the largest record NumPy can describe (a C int)
DATA_KINDS = ("ascii", "binary", "binary_compressed")
_NUMPY_TYPES = {
    ("F", 4): "<f4", ("F", 8): "<f8",
    ("I", 1): "i1", ("I", 2): "<i2", ("I", 4): "<i4", ("I", 8): "<i8",
    ("U", 1): "u1", ("U", 2): "<u2", ("U", 4): "<u4", ("U", 8): "<u8",
}
_LIST_KEYS = ("SIZE", "TYPE", "COUNT")
_NUMBER_KEYS = ("WIDTH", "HEIGHT", "POINTS")
_NORMALS = ["normal_x", "normal_y", "normal_z"]


@dataclass(frozen=True)
class PcdHeader:
    """A parsed header: per-field ``sizes`` (bytes), ``types`` ('F', 'I', 'U') and
    ``counts``; ``data_offset`` is the byte where the data starts, after line ``lines``."""

    fields: list[str]
    sizes: list[int]
    types: list[str]
    counts: list[int]
    points: int
    data: str
    data_offset: int
    lines: int

    @property
    def record_size(self) -> int:
        return sum(s * c for s, c in zip(self.sizes, self.counts))

    def byte_offset(self, name: str) -> int:
        """Offset of field ``name`` within one record."""
        i = self.fields.index(name)
        return sum(s * c for s, c in zip(self.sizes[:i], self.counts[:i]))

    def numpy_type(self, name: str) -> str:
        i = self.fields.index(name)
        return _NUMPY_TYPES[self.types[i], self.sizes[i]]


# --------------------------------------------------------------------------- header


def read_header(path: Path) -> PcdHeader:
    """Parse and check the header of the PCD file at ``path`` (at most 64 KiB are read)."""
    with open(path, "rb") as f:
        head = f.read(MAX_HEADER_BYTES)
    pieces = head.split(b"\n")
    if len(head) == MAX_HEADER_BYTES:
        pieces = pieces[:-1]  # the last piece may be cut short
    values: dict[str, list[str]] = {}
    offset = 0
    for number, raw in enumerate(pieces, start=1):
        offset += len(raw) + 1
        words = raw.decode("latin-1").split()
        if not words or words[0].startswith("#"):
            continue
        key = "FIELDS" if words[0] == "COLUMNS" else words[0]
        if key not in ("VERSION", "FIELDS", "VIEWPOINT", "DATA") + _LIST_KEYS + _NUMBER_KEYS:
            raise InputError(f"{path}: unexpected PCD header line {number}: {raw[:60]!r}")
        values[key] = words[1:]
        if key == "DATA":
            return _build_header(path, values, min(offset, len(head)), number)
    raise InputError(f"{path}: not a PCD file (no DATA line within the first 64 KiB)")


def _build_header(path: Path, values: dict[str, list[str]], offset: int, lines: int) -> PcdHeader:
    fields = values.get("FIELDS")
    if not fields:
        raise InputError(f"{path}: PCD header has no FIELDS line")
    data = " ".join(values["DATA"])
    if data not in DATA_KINDS:
        raise InputError(f"{path}: unknown PCD DATA kind {data!r}; expected ascii, binary or binary_compressed")
    sizes = _integers(path, "SIZE", values.get("SIZE", ["4"] * len(fields)), fields)
    counts = _integers(path, "COUNT", values.get("COUNT", ["1"] * len(fields)), fields)
    types = values.get("TYPE", ["F"] * len(fields))
    _same_length(path, "TYPE", types, fields)
    header = PcdHeader(fields, sizes, types, counts, _point_count(path, values), data, offset, lines)
    if header.record_size > MAX_RECORD_BYTES:
        raise InputError(f"{path}: PCD SIZE x COUNT add up to records of {header.record_size:,} bytes "
                         f"(at most {MAX_RECORD_BYTES:,} are supported); the header is corrupt")
    for name in _wanted(path, header):
        _check_field(path, header, name)
    return header


def _integers(path: Path, key: str, words: list[str], fields: list[str]) -> list[int]:
    """The positive integers of header line ``key``, one per field."""
    _same_length(path, key, words, fields)
    try:
        numbers = [int(w) for w in words]
    except ValueError:
        numbers = [0]
    if min(numbers) < 1:
        raise InputError(f"{path}: PCD {key} values must be positive integers, got {' '.join(words)!r}")
    return numbers


def _same_length(path: Path, key: str, words: list[str], fields: list[str]) -> None:
    if len(words) != len(fields):
        raise InputError(f"{path}: PCD header lists {len(fields)} FIELDS but {len(words)} {key} values")


def _point_count(path: Path, values: dict[str, list[str]]) -> int:
    """POINTS, which must equal WIDTH x HEIGHT where those are given."""
    try:
        numbers = {key: int(values[key][0]) for key in _NUMBER_KEYS if key in values}
    except (ValueError, IndexError):
        numbers = {"POINTS": -1}
    if min(numbers.values(), default=0) < 0:
        shown = "; ".join(f"{key} {' '.join(values[key])}" for key in _NUMBER_KEYS if key in values)
        raise InputError(f"{path}: PCD {shown}: counts must be non-negative integers")
    width, height = numbers.get("WIDTH"), numbers.get("HEIGHT", 1)
    points = numbers.get("POINTS", None if width is None else width * height)
    if points is None:
        raise InputError(f"{path}: PCD header has neither POINTS nor WIDTH")
    if width is not None and width * height != points:
        raise InputError(f"{path}: PCD WIDTH x HEIGHT ({width:,} x {height:,}) does not equal POINTS ({points:,})")
    return points


def _wanted(path: Path, header: PcdHeader) -> list[str]:
    """The fields to read: x, y, z and the normals when all three are present."""
    missing = [c for c in "xyz" if c not in header.fields]
    if missing:
        raise InputError(f"{path}: PCD FIELDS ({' '.join(header.fields)}) lack '{missing[0]}'")
    return ["x", "y", "z"] + (_NORMALS if set(_NORMALS) <= set(header.fields) else [])


def _check_field(path: Path, header: PcdHeader, name: str) -> None:
    i = header.fields.index(name)
    if header.fields.count(name) > 1:
        raise InputError(f"{path}: PCD FIELDS repeat '{name}'")
    if (header.types[i], header.sizes[i]) not in _NUMPY_TYPES:
        raise InputError(f"{path}: PCD field '{name}' has unsupported TYPE {header.types[i]} with SIZE {header.sizes[i]}")
    if header.counts[i] != 1:
        raise InputError(f"{path}: PCD field '{name}' has COUNT {header.counts[i]}; expected 1")


# ---------------------------------------------------------------------------- reading


def read_pcd_points(path: Path, sampler: RowSampler) -> list[str]:
    """Stream the points of a PCD file into ``sampler`` as (n, 3) or (n, 6) rows (x, y, z
    and normal_x, normal_y, normal_z when present). Returns notices (none)."""
    header = read_header(path)
    wanted = _wanted(path, header)
    if header.data == "ascii":
        _ascii_points(path, header, wanted, sampler)
        return []
    if header.data == "binary":
        data = np.memmap(path, dtype=np.uint8, mode="r")
        _check_bytes(path, header, header.points * header.record_size, len(data) - header.data_offset)
        dtype = np.dtype({"names": wanted, "formats": [header.numpy_type(n) for n in wanted],
                          "offsets": [header.byte_offset(n) for n in wanted], "itemsize": header.record_size})
        records = np.frombuffer(data, dtype=dtype, count=header.points, offset=header.data_offset)
        columns = [records[n] for n in wanted]
    else:
        buffer = _decompressed(path, header)
        columns = [np.frombuffer(buffer, header.numpy_type(n), header.points, header.points * header.byte_offset(n))
                   for n in wanted]
    for block in column_blocks(columns):
        sampler.add(block)
    return []


def _check_bytes(path: Path, header: PcdHeader, need: int, have: int) -> None:
    if need > have:
        raise InputError(
            f"{path}: PCD header declares {header.points:,} points needing {need:,} bytes of {header.data} data "
            f"but only {max(have, 0):,} bytes follow; the file is truncated or corrupt"
        )


def _ascii_points(path: Path, header: PcdHeader, wanted: list[str], sampler: RowSampler) -> None:
    """Parse the first ``header.points`` non-blank data lines (every value of every field)."""
    ncols = sum(header.counts)
    starts = np.cumsum([0] + header.counts)
    picks = [int(starts[header.fields.index(n)]) for n in wanted]
    _check_bytes(path, header, header.points * ncols * 2 - 1, path.stat().st_size - header.data_offset)
    done = 0
    with open(path, "rb") as f:
        f.seek(header.data_offset)
        for _, lines in iter_line_blocks(f, path, header.lines + 1):
            rows = [row for row in lines if row.strip()][: header.points - done]
            table = parse_rows(rows, ncols, lambda i, done=done: f"point {done + i}", path)
            sampler.add(table[:, picks])
            done += len(rows)
            if done == header.points:
                return
    if done < header.points:
        raise InputError(f"{path}: file ends after {done:,} of the {header.points:,} points its PCD header declares; "
                         "it is truncated")


def _decompressed(path: Path, header: PcdHeader) -> bytearray:
    """The binary_compressed data decompressed: fields one after another (column-major)."""
    with open(path, "rb") as f:
        f.seek(header.data_offset)
        sizes = f.read(8)
        if len(sizes) < 8:
            raise InputError(f"{path}: PCD binary_compressed data ends before its two size fields; it is truncated")
        packed, size = struct.unpack("<II", sizes)
        need = header.points * header.record_size
        if size != need:
            raise InputError(f"{path}: PCD compressed data declares {size:,} bytes uncompressed but "
                             f"{header.points:,} points of {header.record_size} bytes need {need:,}")
        if size > MAX_DECOMPRESSED_BYTES:
            raise InputError(f"{path}: binary_compressed PCD data over {MAX_DECOMPRESSED_BYTES >> 30} GiB "
                             "is not supported; save the cloud as binary PCD")
        if size > LZF_MAX_RATIO * packed:
            raise InputError(f"{path}: PCD compressed data declares {size:,} bytes from {packed:,} compressed bytes, "
                             f"more than LZF can expand to; the file is corrupt")
        have = path.stat().st_size - f.tell()
        if packed > have:   # checked before reading: f.read(packed) would allocate ``packed`` bytes first
            raise InputError(f"{path}: PCD compressed data is {packed:,} bytes but only {have:,} follow; "
                             "the file is truncated")
        stream = f.read(packed)
    try:
        return lzf_decompress(stream, size)
    except ValueError as exc:
        raise InputError(f"{path}: corrupt LZF data in the PCD file ({exc})") from None


def lzf_decompress(stream: bytes, size: int) -> bytearray:
    """Decompress an LZF ``stream`` that must expand to exactly ``size`` bytes.

    Each control byte starts a literal run (below 32: that many + 1 bytes follow) or a
    back-reference (length in the top 3 bits, 7 meaning a length byte follows; distance
    from the low 5 bits and the next byte). ValueError names what is wrong with the stream.
    """
    out = bytearray()
    pos, end = 0, len(stream)
    while pos < end:
        ctrl = stream[pos]
        pos += 1
        if ctrl < 32:
            run = stream[pos : pos + ctrl + 1]
            if len(run) <= ctrl:
                raise ValueError(f"a literal run at byte {pos - 1} goes past the end of the stream")
            out += run
            pos += ctrl + 1
        else:
            pos = _back_reference(stream, pos, ctrl, out)
        if len(out) > size:
            raise ValueError(f"the output is longer than the declared {size:,} bytes")
    if len(out) != size:
        raise ValueError(f"the output is {len(out):,} bytes, shorter than the declared {size:,}")
    return out


def _back_reference(stream: bytes, pos: int, ctrl: int, out: bytearray) -> int:
    """Append the bytes of the back-reference whose control byte ``ctrl`` came before
    ``stream[pos]`` to ``out``; returns the position after it."""
    length = ctrl >> 5
    extra = 2 if length == 7 else 1
    if pos + extra > len(stream):
        raise ValueError(f"a back-reference at byte {pos - 1} goes past the end of the stream")
    if length == 7:
        length += stream[pos]
    length += 2
    start = len(out) - ((ctrl & 0x1F) << 8) - stream[pos + extra - 1] - 1
    if start < 0:
        raise ValueError(f"a back-reference at byte {pos - 1} points before the start of the output")
    distance = len(out) - start
    piece = out[start : start + length]
    out += piece if distance >= length else (piece * (length // distance + 1))[:length]
    return pos + extra
