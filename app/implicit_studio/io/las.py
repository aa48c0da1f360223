"""ASPRS LAS 1.0-1.4 point clouds (uncompressed), read from the published specification.

Only the public header block and the X, Y, Z int32 fields that open every point record
(formats 0-10) are read; the other fields and the variable-length records are skipped.
The header's record length is the stride, so records with extra bytes read as well.
Nothing is sized from the header before the bytes it claims are checked against the file;
records are viewed through ``np.memmap`` and streamed into a ``RowSampler`` in blocks of
rows, scaled and offset in float64. Compressed LAZ is refused with a one-line InputError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .pointfiles import RowSampler, column_blocks


SIGNATURE = b"LASF"
MIN_HEADER_BYTES = 227          # the LAS 1.0-1.2 public header block
HEADER_1_4_BYTES = 375          # LAS 1.4 adds the 64-bit point counts
RECORD_BYTES = (20, 28, 26, 34, 57, 63, 30, 36, 38, 59, 67)   # standard record length of formats 0-10
COMPRESSED_BITS = 0xC0          # LAZ sets bit 7 (or, in old writers, bit 6) of the format byte


@dataclass(frozen=True)
class LasHeader:
    """The public header fields needed to read the coordinates.

    ``scale`` and ``offset`` are (3,) float64: a coordinate is ``X * scale + offset``.
    """

    version: tuple[int, int]
    header_size: int
    data_offset: int
    point_format: int
    record_length: int
    count: int
    scale: np.ndarray
    offset: np.ndarray


def read_header(path: Path) -> LasHeader:
    """Parse and check the public header block of the LAS file at ``path``."""
    with open(path, "rb") as f:
        head = f.read(HEADER_1_4_BYTES)
    if head[:4] != SIGNATURE:
        raise InputError(f"{path}: not a LAS file (the signature is {head[:4]!r}, not 'LASF')")
    if len(head) < MIN_HEADER_BYTES:
        raise InputError(f"{path}: the file ends inside the {MIN_HEADER_BYTES}-byte LAS header; it is truncated")
    version = (head[24], head[25])
    header_size, data_offset = struct.unpack_from("<HI", head, 94)
    format_byte, record_length, legacy_count = struct.unpack_from("<BHI", head, 104)
    values = np.frombuffer(head, "<f8", count=6, offset=131)
    count = legacy_count
    if version >= (1, 4) and header_size >= HEADER_1_4_BYTES and len(head) >= HEADER_1_4_BYTES:
        count = struct.unpack_from("<Q", head, 247)[0] or legacy_count
    header = LasHeader(version, header_size, data_offset, format_byte, record_length, count,
                       values[:3].copy(), values[3:].copy())
    _check_header(path, header)
    return header


def _check_header(path: Path, h: LasHeader) -> None:
    """Refuse compressed data and headers whose fields cannot describe readable records."""
    if path.suffix.lower() == ".laz" or h.point_format & COMPRESSED_BITS:
        raise InputError(f"{path}: compressed LAZ is not supported; decompress it to LAS first "
                         "(e.g. laszip -i in.laz -o out.las, or pdal translate in.laz out.las)")
    if h.version[0] != 1 or h.version[1] > 4:
        raise InputError(f"{path}: unsupported LAS version {h.version[0]}.{h.version[1]}; versions 1.0-1.4 are read")
    if h.header_size < MIN_HEADER_BYTES or h.data_offset < h.header_size:
        raise InputError(f"{path}: corrupt LAS header (header size {h.header_size}, point data at byte {h.data_offset})")
    if h.point_format >= len(RECORD_BYTES):
        raise InputError(f"{path}: unknown LAS point data record format {h.point_format}; formats 0-10 are read")
    need = RECORD_BYTES[h.point_format]
    if h.record_length < need:
        raise InputError(f"{path}: LAS point records of {h.record_length} bytes are shorter than "
                         f"the {need} bytes point format {h.point_format} needs")
    if not (np.isfinite(h.scale).all() and (h.scale != 0).all() and np.isfinite(h.offset).all()):
        shown = ", ".join(f"{v:g}" for v in (*h.scale, *h.offset))
        raise InputError(f"{path}: LAS scale factors must be finite and non-zero and offsets finite; got {shown}")


def read_las_points(path: Path, sampler: RowSampler) -> list[str]:
    """Stream the points of a LAS file into ``sampler`` as (n, 3) float64 rows
    ``X * scale + offset``. Returns notices (none)."""
    header = read_header(path)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    have = len(data) - header.data_offset
    if have < 0:
        raise InputError(f"{path}: LAS point data starts at byte {header.data_offset:,}, past the end of the "
                         f"file ({len(data):,} bytes); it is truncated")
    need = header.count * header.record_length
    if need > have:
        raise InputError(
            f"{path}: LAS header declares {header.count:,} points of {header.record_length} bytes "
            f"({need:,} bytes) but only {have:,} bytes of point data follow; the file is truncated or corrupt"
        )
    records = np.frombuffer(data, dtype=_record_dtype(header), count=header.count, offset=header.data_offset)
    for block in column_blocks([records[c] for c in "XYZ"]):
        block *= header.scale
        block += header.offset
        sampler.add(block)
    return []


def _record_dtype(header: LasHeader) -> np.dtype:
    """X, Y, Z int32 at the start of records ``header.record_length`` bytes long."""
    return np.dtype({"names": ["X", "Y", "Z"], "formats": ["<i4"] * 3, "offsets": [0, 4, 8],
                     "itemsize": header.record_length})
