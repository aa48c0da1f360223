"""Writers of LAS and PCD files for the tests, from the formats' published layouts: byte for
byte what the readers in ``implicit_studio.io`` must accept (or refuse, when told to write
something broken)."""

from __future__ import annotations

import struct

import numpy as np

from implicit_studio.io import las


def las_bytes(ints: np.ndarray, fmt: int = 0, version=(1, 2), scale=(0.001,) * 3, offset=(0.0,) * 3,
              extra: int = 0, count: int | None = None, record: int | None = None) -> bytes:
    """A LAS file holding ``ints`` (n, 3) as X, Y, Z; the other record bytes are noise.
    ``fmt`` is the format byte (compression bits included); ``count`` and ``record``
    override the header's point count and record length."""
    size = {(1, 4): 375, (1, 3): 235}.get(version, 227)
    record = record or las.RECORD_BYTES[fmt & 0x3F] + extra
    count = len(ints) if count is None else count
    head = bytearray(size)
    head[:4] = las.SIGNATURE
    head[24:26] = bytes(version)
    vlr = b"\x00" * 54                              # a variable-length record header, to be skipped
    struct.pack_into("<HII", head, 94, size, size + len(vlr), 1)
    struct.pack_into("<BHI", head, 104, fmt, record, count if fmt & 0x3F < 6 and count < 2**32 else 0)
    struct.pack_into("<6d", head, 131, *scale, *offset)
    if size == 375:
        struct.pack_into("<Q", head, 247, count)
    body = np.random.default_rng(0).integers(0, 256, (len(ints), record), dtype=np.uint8)
    body[:, :12] = np.ascontiguousarray(ints, dtype="<i4").view(np.uint8).reshape(-1, 12)
    return bytes(head) + vlr + body.tobytes()


def scaled(ints: np.ndarray, scale=(0.001,) * 3, offset=(0.0,) * 3) -> np.ndarray:
    return ints * np.array(scale) + np.array(offset)


def pcd_header(fields: str, points: int, data: str, sizes=None, types=None, counts=None, width=None, height=1) -> bytes:
    n = len(fields.split())
    lines = ["# .PCD v0.7 - Point Cloud Data file format", "VERSION 0.7", f"FIELDS {fields}",
             f"SIZE {sizes or ' '.join(['4'] * n)}", f"TYPE {types or ' '.join(['F'] * n)}",
             f"COUNT {counts or ' '.join(['1'] * n)}", f"WIDTH {points if width is None else width}",
             f"HEIGHT {height}", "VIEWPOINT 0 0 0 1 0 0 0", f"POINTS {points}", f"DATA {data}"]
    return ("\n".join(lines) + "\n").encode()


def pcd_binary(table: np.ndarray, fields="x y z", compress=None, **header) -> bytes:
    """``table`` (n, k) as float32 binary PCD, or binary_compressed through ``compress``
    (bytes -> LZF stream): the columns one after another."""
    table = np.asarray(table, "<f4")
    if compress is None:
        return pcd_header(fields, len(table), "binary", **header) + table.tobytes()
    raw = np.asfortranarray(table).tobytes(order="F")
    stream = compress(raw)
    return pcd_header(fields, len(table), "binary_compressed", **header) + struct.pack("<II", len(stream), len(raw)) + stream


def lzf_literals(data: bytes) -> bytes:
    """An LZF stream of literal runs only (32 bytes at most each)."""
    return b"".join(bytes([len(data[i : i + 32]) - 1]) + data[i : i + 32] for i in range(0, len(data), 32))


def lzf_compress(data: bytes) -> bytes:
    """A small greedy LZF compressor: back-references to the last place each 3 bytes were
    seen (within 8 KiB), literal runs otherwise."""
    out, literal, last, pos = bytearray(), bytearray(), {}, 0
    while pos < len(data):
        key = data[pos : pos + 3]
        ref = last.get(key, -1)
        last[key] = pos
        length = 0
        if len(key) == 3 and 0 <= ref and pos - ref <= 8192:
            while length < 264 and pos + length < len(data) and data[ref + length] == data[pos + length]:
                length += 1
        if length < 3:
            literal.append(data[pos])
            pos += 1
            if len(literal) == 32:
                out += bytes([31]) + literal
                literal.clear()
            continue
        if literal:
            out += bytes([len(literal) - 1]) + literal
            literal.clear()
        distance, n = pos - ref - 1, length - 2
        out += bytes([(min(n, 7) << 5) | (distance >> 8)]) + (bytes([n - 7]) if n >= 7 else b"") + bytes([distance & 0xFF])
        pos += length
    if literal:
        out += bytes([len(literal) - 1]) + literal
    return bytes(out)
