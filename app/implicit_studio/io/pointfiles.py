"""Point rows from text (XYZ/PTS/TXT/CSV) and NumPy (NPY/NPZ) files, in bounded memory.

Every reader here streams blocks of float64 rows into a :class:`RowSampler`, which keeps
a uniform random subset of at most ``capacity`` finite rows. A file with ten million
points therefore never costs more than the kept rows plus one block of memory, and the
number of rows a file *claims* is never used to size an allocation.

Rows carry 3 columns (x, y, z) or 6 (x, y, z, nx, ny, nz); deciding whether the last three
are normals, and checking the result, is the caller's job (``data.io``).
"""

from __future__ import annotations

import codecs
import io as pyio
import tokenize
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from ..errors import InputError


BLOCK_BYTES = 8 << 20          # text is read in blocks of about this many bytes
BLOCK_ROWS = 1 << 20           # binary arrays are read in blocks of this many rows
MAX_LINE_BYTES = 1 << 20       # a longer line means this is not a point file
MAX_HEADER_LINES = 10          # non-numeric lines tolerated before the first row
MAX_NPZ_MEMBER_BYTES = 16 << 30
MAX_NPZ_RATIO = 100            # decompressed/compressed size above this is a zip bomb
NPZ_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)   # what numpy.savez and savez_compressed write
_SEPARATORS = str.maketrans({",": " ", ";": " ", "\t": " "})
_COMMENT = "#"             # "//" comments are rewritten to "#" when decoding


class RowSampler:
    """Keeps a uniform random subset of at most ``capacity`` finite rows, fed in blocks.

    Each finite row draws a random key and the rows with the smallest keys are kept: a
    uniform sample without replacement whatever the block sizes. Once ``capacity`` keys
    are below a threshold, rows drawing a key above it can never be kept and are dropped
    on arrival. Selection uses a mask, so kept rows stay in file order. Rows containing
    NaN or Inf are counted in ``nonfinite`` and dropped. Memory: at most about
    1.5 x capacity rows plus one block.
    """

    def __init__(self, capacity: int, rng: np.random.Generator):
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.rng = rng
        self.seen = 0
        self.nonfinite = 0
        self._rows: list[np.ndarray] = []
        self._keys: list[np.ndarray] = []
        self._pending = 0
        self._threshold = 1.0   # keys at or above this cannot be kept any more

    @property
    def finite(self) -> int:
        """Number of finite rows offered so far."""
        return self.seen - self.nonfinite

    def add(self, block: np.ndarray) -> None:
        """Offer ``block`` (n, C) rows, any numeric dtype; C must not change between calls."""
        block = np.asarray(block, dtype=np.float64)
        ok = np.isfinite(block).all(axis=1)
        if not ok.all():
            block = block[ok]
        self.seen += len(ok)
        self.nonfinite += len(ok) - len(block)
        keys = self.rng.random(len(block))
        if self._threshold < 1.0:
            candidate = keys < self._threshold
            block, keys = block[candidate], keys[candidate]
        self._rows.append(block)
        self._keys.append(keys)
        self._pending += len(block)
        if self._pending > self.capacity + self.capacity // 2:
            self._compact()

    def result(self) -> np.ndarray:
        """(M, C) float64 kept rows in file order, M = min(capacity, finite rows)."""
        if not self._rows:
            return np.empty((0, 3))
        self._compact()
        return self._rows[0]

    def _compact(self) -> None:
        rows = np.concatenate(self._rows)
        keys = np.concatenate(self._keys)
        if len(rows) > self.capacity:
            threshold = np.partition(keys, self.capacity - 1)[self.capacity - 1]
            keep = keys < threshold
            ties = np.flatnonzero(keys == threshold)[: self.capacity - int(keep.sum())]
            keep[ties] = True
            rows, keys = rows[keep], keys[keep]
            self._threshold = float(threshold)
        self._rows, self._keys = [rows], [keys]
        self._pending = len(rows)


def stack_columns(fields: list[np.ndarray]) -> np.ndarray:
    """k equal-length 1-D arrays (n,), any numeric dtype, as one (n, k) float64 array."""
    table = np.empty((len(fields[0]), len(fields)))
    for i, column in enumerate(fields):
        table[:, i] = column
    return table


def column_blocks(fields: list[np.ndarray], block: int = BLOCK_ROWS) -> Iterator[np.ndarray]:
    """Consecutive (m, k) float64 blocks of at most ``block`` rows of the k 1-D arrays (n,)
    ``fields`` (views of a memory map, say: only one block is ever copied)."""
    for start in range(0, len(fields[0]), block):
        yield stack_columns([column[start : start + block] for column in fields])


# ----------------------------------------------------------------------------- text


def iter_line_blocks(f: BinaryIO, path: Path, first_line: int = 1) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(number of the first line, lines)`` blocks of about BLOCK_BYTES from ``f``.

    Lines are decoded as Latin-1 (never fails, so non-text bytes surface later as a
    parse error naming the line) with commas, semicolons and tabs turned into spaces
    and "//" comments into "#" ones (loadtxt is several times faster with one marker).
    """
    line_no = first_line
    rest = b""
    while True:
        data = f.read(BLOCK_BYTES)
        if not data:
            break
        data = rest + data
        cut = data.rfind(b"\n") + 1
        rest = data[cut:]
        if len(rest) > MAX_LINE_BYTES:
            bad = line_no + data.count(b"\n", 0, cut)
            raise InputError(f"{path}: line {bad} is longer than 1 MiB; this is not a point list")
        if cut:
            lines = _decode(data[: cut - 1])
            yield line_no, lines
            line_no += len(lines)
    if rest:
        yield line_no, _decode(rest)


def _decode(data: bytes) -> list[str]:
    return data.decode("latin-1").translate(_SEPARATORS).replace("//", _COMMENT).split("\n")


def parse_rows(rows: list[str], ncols: int, where: Callable[[int], str], path: Path) -> np.ndarray:
    """Parse text ``rows`` of exactly ``ncols`` numbers each into (n, ncols) float64.

    Blank and comment lines are skipped. ``where(i)`` names row ``i`` in error messages
    (e.g. "line 12" or "vertex 7").
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data" for blank blocks
            table = np.loadtxt(rows, dtype=np.float64, comments=_COMMENT, ndmin=2)
    except ValueError:
        table = None
    if table is None or (table.size and table.shape[1] != ncols):
        raise _row_error(rows, ncols, where, path)
    return table if table.size else np.empty((0, ncols))


def _row_error(rows: list[str], ncols: int, where: Callable[[int], str], path: Path) -> InputError:
    """The InputError describing the first row of ``rows`` that does not parse."""
    for i, row in enumerate(rows):
        tokens = _strip_comment(row).split()
        if not tokens:
            continue
        if not all(_is_number(t) for t in tokens):
            hint = " (non-text bytes: is this a binary file?)" if _has_binary(row) else ""
            return InputError(f"{path}: {where(i)} is not numeric: {snippet(row)}{hint}")
        if len(tokens) != ncols:
            return InputError(f"{path}: {where(i)} has {len(tokens)} values, expected {ncols}")
    return InputError(f"{path}: cannot parse {where(0)} onwards as numbers")


def _strip_comment(row: str) -> str:
    return row.split(_COMMENT, 1)[0]


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _has_binary(text: str) -> bool:
    return any(ord(c) < 9 or ord(c) > 126 for c in text)


def snippet(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters and quoted with non-ASCII escaped, for messages."""
    return ascii(text[:limit] + ("..." if len(text) > limit else ""))


def _header_split(lines: list[str], path: Path) -> tuple[int, int, list[str]]:
    """Find the first numeric row: returns (its index, its column count, skipped lines)."""
    skipped = []
    for i, row in enumerate(lines):
        tokens = _strip_comment(row).split()
        if not tokens:
            continue
        if len(tokens) >= 3 and all(_is_number(t) for t in tokens):
            return i, len(tokens), skipped
        skipped.append(row)
        if len(skipped) > MAX_HEADER_LINES:
            break
    raise InputError(
        f"{path}: no line with 3 or more numbers among the first {MAX_HEADER_LINES} lines; "
        "expected 'x y z' or 'x y z nx ny nz' per line"
    )


def read_text_rows(path: Path, sampler: RowSampler) -> list[str]:
    """Stream an XYZ/PWN/ASC/PTS/TXT/CSV file into ``sampler`` as (n, 3) or (n, 6) rows.

    The first data line sets the column count; up to MAX_HEADER_LINES non-numeric lines
    before it (a header, a PTS point count) are skipped with a notice. Rows of 6 or more
    values keep columns 4-6 as candidate normals, or 7-9 when the first block shows 4-6 are not
    unit vectors and 7-9 are (x y z r g b nx ny nz, CloudCompare's order). Other columns are
    dropped with a notice. Returns the notices.
    """
    notices: list[str] = []
    ncols = 0
    keep = [0, 1, 2]
    with open(path, "rb") as raw:
        f = _without_bom(raw)
        for first, lines in iter_line_blocks(f, path):
            first_block = not ncols
            if first_block:
                start, ncols, skipped = _header_split(lines, path)
                lines, first = lines[start:], first + start
            table = parse_rows(lines, ncols, lambda i, first=first: f"line {first + i}", path)
            if first_block:
                normals_at = _normals_at(table, ncols)
                keep += [] if normals_at is None else [normals_at, normals_at + 1, normals_at + 2]
                notices += _header_notices(skipped, ncols, normals_at)
            sampler.add(table[:, keep])
    return notices


def _normals_at(table: np.ndarray, ncols: int) -> int | None:
    """The first (0-based) of the three columns of (n, ncols) ``table`` that may hold normals."""
    if ncols < 6:
        return None
    return 6 if ncols >= 9 and not mostly_unit(table[:, 3:6]) and mostly_unit(table[:, 6:9]) else 3


def mostly_unit(vectors: np.ndarray) -> bool:
    """Whether at least 95% of the (n, 3) rows have length 1 within 10% (normals, not colours)."""
    length = np.linalg.norm(vectors, axis=1)
    return bool(np.mean(np.abs(length - 1.0) < 0.1) >= 0.95)


class _Utf16AsLatin1:
    """Reads a UTF-16 text file as Latin-1 bytes (what ``iter_line_blocks`` expects);
    characters outside Latin-1 become '?' and fail to parse with their line number."""

    def __init__(self, raw: BinaryIO, encoding: str):
        self._text = pyio.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")

    def read(self, size: int) -> bytes:
        return self._text.read(size // 2).encode("latin-1", errors="replace")


def _without_bom(raw: BinaryIO):
    """Skip a UTF-8 byte-order mark (Excel CSV); decode UTF-16 (Windows PowerShell output)."""
    start = raw.read(4)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not start.startswith(codecs.BOM_UTF32_LE):
        raw.seek(0)
        return _Utf16AsLatin1(raw, "utf-16")
    raw.seek(len(codecs.BOM_UTF8) if start.startswith(codecs.BOM_UTF8) else 0)
    return raw


def _header_notices(skipped: list[str], ncols: int, normals_at: int | None) -> list[str]:
    """Notices for skipped header lines and unused columns (``normals_at``: first candidate
    normal column, 0-based, or None for rows of under 6 values)."""
    notices = []
    if skipped:
        lines = f"{len(skipped)} header lines" if len(skipped) > 1 else "1 header line"
        notices.append(f"skipped {lines}: {snippet(skipped[0])}")
    if normals_at == 6:
        notices.append(f"read columns 7-9 as normals and ignored columns 4-6 (not unit vectors: colours?)"
                       + (f" and {_columns_text(9, ncols)}" if ncols > 9 else ""))
    elif ncols in (4, 5) or ncols > 6:
        notices.append(f"ignored {_columns_text(6 if ncols > 6 else 3, ncols)} (rows have {ncols} values)")
    return notices


def _columns_text(kept: int, total: int) -> str:
    """'column 7' or 'columns 4-5': the 1-based columns after the first ``kept``."""
    return f"column {total}" if total == kept + 1 else f"columns {kept + 1}-{total}"


def write_xyz(f: BinaryIO, points: np.ndarray, normals: np.ndarray | None = None) -> None:
    """Write ``points`` (N, 3) and optional ``normals`` (N, 3) as text rows to ``f``.

    float32 data is written with 9 significant digits, anything else with 17, so both
    read back bit-exact.
    """
    data = points if normals is None else np.hstack([points, normals])
    fmt = "%.9g" if points.dtype == np.float32 and (normals is None or normals.dtype == np.float32) else "%.17g"
    np.savetxt(f, data, fmt=fmt)


# ---------------------------------------------------------------------------- numpy


def read_npy_rows(path: Path, sampler: RowSampler) -> list[str]:
    """Stream a .npy file holding an (N, 3) or (N, 6+) numeric array into ``sampler``."""
    with open(path, "rb") as f:
        shape, fortran, dtype = _npy_header(f, path, "array")
        return _stream_arrays([(f, shape, fortran, dtype)], path.stat().st_size - f.tell(), path, sampler)


def read_npz_rows(path: Path, sampler: RowSampler) -> list[str]:
    """Stream an .npz file into ``sampler``: member 'points' or the first (N, 3) array,
    plus 'normals' (N, 3) when present."""
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_npz_archive(archive, path, sampler)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path}: not a valid .npz archive ({exc})") from exc
    except zlib.error:
        raise InputError(f"{path}: the compressed data in the .npz archive is corrupt; the file is damaged") from None


def _read_npz_archive(archive: zipfile.ZipFile, path: Path, sampler: RowSampler) -> list[str]:
    members = {_member_key(info.filename): info for info in archive.infolist()}
    for info in members.values():
        _check_member(info, path)
    key = "points" if "points" in members else _first_points_member(archive, members, path)
    with archive.open(members[key]) as pf:
        shape, fortran, dtype = _npy_header(pf, path, key)
        if "normals" not in members or shape[1] != 3:
            return _stream_arrays([(pf, shape, fortran, dtype)], members[key].file_size, path, sampler)
        with archive.open(members["normals"]) as nf:
            nshape, nfortran, ndtype = _npy_header(nf, path, "normals")
            if nshape != shape:
                raise InputError(f"{path}: 'normals' has shape {nshape} but '{key}' has {shape}")
            sources = [(pf, shape, fortran, dtype), (nf, nshape, nfortran, ndtype)]
            return _stream_arrays(sources, min(members[key].file_size, members["normals"].file_size), path, sampler)


def _member_key(name: str) -> str:
    return name[:-4] if name.endswith(".npy") else name


def _check_member(info: zipfile.ZipInfo, path: Path) -> None:
    """Refuse members NumPy cannot have written (encrypted, or compressed other than by
    deflate), members placed before the start of the file, and likely zip bombs, before
    any is opened."""
    if info.header_offset < 0:      # the archive lost bytes at its start: zipfile would seek to a negative offset
        raise InputError(f"{path}: not a valid .npz archive (member '{info.filename}' starts before the "
                         "beginning of the file; bytes are missing)")
    if info.flag_bits & 0x1:
        raise InputError(f"{path}: member '{info.filename}' is encrypted; .npz archives are not")
    if info.compress_type not in NPZ_METHODS:
        raise InputError(f"{path}: member '{info.filename}' uses zip compression method {info.compress_type}; "
                         ".npz archives are stored or deflated (numpy.savez, numpy.savez_compressed)")
    big = info.file_size > 64 << 20
    if info.file_size > MAX_NPZ_MEMBER_BYTES or (big and info.file_size > MAX_NPZ_RATIO * max(info.compress_size, 1)):
        raise InputError(
            f"{path}: member '{info.filename}' would decompress to {info.file_size:,} bytes "
            f"from {info.compress_size:,}; refused as a likely zip bomb"
        )


def _first_points_member(archive: zipfile.ZipFile, members: dict, path: Path) -> str:
    for key, info in members.items():
        with archive.open(info) as f:
            try:
                shape, _, _ = _npy_header(f, path, key)
            except InputError:
                continue
            if shape[1] == 3:
                return key
    raise InputError(f"{path}: no 'points' array and no (N, 3) array among {sorted(members)[:5]}")


def _npy_header(f: BinaryIO, path: Path, name: str) -> tuple[tuple[int, int], bool, np.dtype]:
    """Read a .npy header; returns ((N, C), fortran_order, dtype) or raises InputError."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as exc:  # the header is a Python literal: ValueError, SyntaxError, TokenError...
        raise InputError(f"{path}: '{name}' is not a valid NumPy array ({_npy_reason(exc)})") from None
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in "fiu":
        raise InputError(f"{path}: '{name}' has dtype {dtype}; a plain float or integer array is needed")
    if len(shape) != 2 or shape[1] < 3 or shape[0] < 0:
        raise InputError(f"{path}: '{name}' has shape {shape}; expected (N, 3) or (N, 6)")
    return shape, fortran, dtype


def _npy_reason(exc: Exception) -> str:
    """What is wrong with a .npy header in one line: numpy's (and zipfile's) own messages as they
    are; a plain phrase for errors of Python's literal parser (a token tuple, an ast node and its
    memory address), which mean nothing to a user."""
    text = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
    if isinstance(exc, (SyntaxError, tokenize.TokenError)) or text.startswith("malformed node"):
        return "the header dictionary is garbled"
    return text


def _stream_arrays(sources: list, available: int, path: Path, sampler: RowSampler) -> list[str]:
    """Read row blocks from each (file, shape, fortran, dtype) source side by side, hstack
    them (first 6 columns) and feed ``sampler``; ``available`` bounds each source's data."""
    rows = sources[0][1][0]
    for _, shape, fortran, dtype in sources:
        need = shape[0] * shape[1] * dtype.itemsize
        if need > available:
            raise InputError(
                f"{path}: array header declares {shape[0]:,} rows ({need:,} bytes) but only "
                f"{available:,} bytes follow; the file is truncated or corrupt"
            )
        if fortran and need > BLOCK_BYTES * 64:
            raise InputError(f"{path}: Fortran-ordered arrays over 512 MiB are not supported; save it C-ordered")
    step = max(rows, 1) if any(src[2] for src in sources) else BLOCK_ROWS
    for start in range(0, rows, step):
        count = min(step, rows - start)
        parts = [_read_block(f, shape[1], fortran, dtype, count, path) for f, shape, fortran, dtype in sources]
        sampler.add(np.hstack(parts)[:, :6])
    width = sources[0][1][1]
    return [f"ignored {_columns_text(6 if width > 6 else 3, width)} of the array"] if width not in (3, 6) else []


def _read_block(f: BinaryIO, width: int, fortran: bool, dtype: np.dtype, count: int, path: Path) -> np.ndarray:
    """Next ``count`` rows (count, width) of an array streamed from ``f`` (a Fortran-ordered
    array is always read as one block)."""
    nbytes = count * width * dtype.itemsize
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise InputError(f"{path}: array data ends early; the file is truncated")
    return np.frombuffer(data, dtype=dtype).reshape((count, width), order="F" if fortran else "C")
