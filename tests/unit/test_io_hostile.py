"""Hostile files: every one ends in a one-line InputError naming the file, or in a
correct result with a notice; never a traceback, a giant allocation or a hang.

The CASES table below is the source of docs/RELIABILITY.md (file IO rows).
"""

from __future__ import annotations

import errno
import io as pyio
import os
import re
import struct
import tempfile
import time
import tracemalloc
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from implicit_studio.errors import InputError
from implicit_studio.io import files as io, ply
from scan_writers import las_bytes, lzf_compress, lzf_literals, pcd_binary, pcd_header
from test_scan_formats import check_ten_million_sampled

XYZ = "property float x\nproperty float y\nproperty float z\n"
READERS = {"points": io.read_point_cloud, "mesh": io.read_mesh, "image": io.read_image, "input": io.load_input}


def ply_bytes(count, props=XYZ, fmt="binary_little_endian", extra="") -> bytes:
    return f"ply\nformat {fmt} 1.0\nelement vertex {count}\n{props}{extra}end_header\n".encode()


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def rows(n, value=None) -> str:
    grid = np.arange(n * 3, dtype=float).reshape(n, 3) if value is None else np.full((n, 3), value)
    return "".join(" ".join(map(str, r)) + "\n" for r in grid)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width, height) -> bytes:
    """A PNG claiming width x height RGB pixels, with an empty IDAT (no pixel data)."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", b"") + png_chunk(b"IEND", b"")


def png_chunk_claiming(data: bytes, length: int) -> bytes:
    """PNG ``data`` with the length of its second chunk (after IHDR) set to ``length``."""
    return data[:33] + struct.pack(">I", length) + data[37:]


def jpeg_claiming(width, height) -> bytes:
    """A real small JPEG whose SOF0 header is patched to claim width x height."""
    buffer = pyio.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def npy_header(shape, dtype="<f4", fortran=False) -> bytes:
    buffer = pyio.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": fortran, "shape": shape})
    return buffer.getvalue()


def npy_text_header(text: str) -> bytes:
    """A version 1.0 .npy header holding ``text`` as its dictionary, valid or not."""
    body = text.ljust(117) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin-1")


def small_png(tmp: Path, name="ok.png") -> Path:
    Image.new("RGB", (64, 48), (0, 128, 255)).save(tmp / name, "PNG")
    return tmp / name


def sparse_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
        f.write(b"v 0 0 0\n")
    return path


def ply_faces(face_count, faces: bytes, count_type="uchar") -> bytes:
    head = ply_bytes(4, extra=f"element face {face_count}\nproperty list {count_type} int vertex_indices\n")
    return head + np.eye(4, 3, dtype="<f4").tobytes() + faces


def zip_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("points.npy", npy_header((5_700_000, 3)) + bytes(68_400_000))
    return path


def savez_bytes() -> bytes:
    buffer = pyio.BytesIO()
    np.savez(buffer, points=np.eye(10, 3))
    return buffer.getvalue()


def npz_member(path: Path, data: bytes, method=zipfile.ZIP_STORED, flags=0, size=None) -> Path:
    """An .npz holding ``data`` as member 'points.npy', its zip headers patched to claim
    compression ``method``, general-purpose ``flags`` and uncompressed ``size``."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("points.npy", data)
    raw = bytearray(path.read_bytes())
    for signature, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = raw.find(signature) + at
        struct.pack_into("<HH", raw, i, flags, method)
        struct.pack_into("<I", raw, i + 16, len(data) if size is None else size)
    return write(path, bytes(raw))


def npz_broken_deflate(path: Path) -> Path:
    """Deflate data that breaks off after 8,000 bytes (past the .npy header) with an invalid block type."""
    raw = npy_header((1000, 3)) + np.random.default_rng(0).random((1000, 3), np.float32).tobytes()
    packer = zlib.compressobj(wbits=-15)
    stream = packer.compress(raw[:8000]) + packer.flush(zlib.Z_FULL_FLUSH) + b"\x07" + bytes(20)
    return npz_member(path, stream, zipfile.ZIP_DEFLATED, size=len(raw))


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


GRID = np.arange(30).reshape(10, 3)


def las(**header) -> bytes:
    return las_bytes(GRID, **header)


def pcd(fields="x y z", points=10, data="binary", body=np.eye(10, 3, dtype="<f4").tobytes(), **header) -> bytes:
    return pcd_header(fields, points, data, **header) + body


# (case, what the file is, reader, builder(tmp) -> path, expected message pattern)
CASES = [
    ("missing file", "a path that does not exist", "points", lambda d: d / "nope.ply", r"file not found"),
    ("directory", "a folder", "input", lambda d: d, r"this is a folder, not a file"),
    ("FIFO", "a named pipe called .xyz (reading would block)", "input", lambda d: fifo(d / "p.xyz"), r"not a regular file"),
    ("empty file", "0 bytes, .xyz", "points", lambda d: write(d / "e.xyz", b""), r"the file is empty"),
    ("unknown extension", ".docx text", "input", lambda d: write(d / "a.docx", "hello"), r"unsupported file type '.docx'"),
    ("zero points (PLY)", "header with element vertex 0", "points", lambda d: write(d / "z.ply", ply_bytes(0)),
     r"has no points; at least 8 are needed"),
    ("zero points (NPY)", "np.save of a (0, 3) array", "points",
     lambda d: write(d / "z.npy", npy_header((0, 3))), r"has no points; at least 8"),
    ("header only (text)", "'x y z' and nothing else", "points", lambda d: write(d / "h.xyz", "x y z\n"),
     r"no line with 3 or more numbers among the first 10 lines"),
    ("one point", "1 row", "points", lambda d: write(d / "one.xyz", rows(1)), r"only 1 point; at least 8 are needed"),
    ("three points", "3 rows", "input", lambda d: write(d / "three.xyz", rows(3)), r"only 3 points; at least 8"),
    ("seven points", "7 rows (one under the minimum)", "points", lambda d: write(d / "s.csv", rows(7)), r"only 7 points"),
    ("identical points", "100 rows of '1 2 3'", "input", lambda d: write(d / "same.xyz", rows(100, 1.0)),
     r"all 100 points are identical \(1, 1, 1\); a shape needs a non-zero extent"),
    ("overflowing extent", "x = -1e308 and +1e308", "input",
     lambda d: write(d / "big.xyz", rows(8) + "-1e308 0 0\n1e308 0 0\n"),
     r"the coordinates span more than float64 can hold \(values near 1e\+308\)"),
    ("all NaN", "20 rows of 'nan nan nan'", "points", lambda d: write(d / "nan.xyz", rows(20, np.nan)),
     r"has no finite points; at least 8"),
    ("NaN leaves too few", "5 good rows + 30 rows with inf", "points",
     lambda d: write(d / "inf.xyz", rows(5) + rows(30, np.inf)), r"only 5 finite points; at least 8"),
    ("truncated binary PLY", "header says 1,000 vertices, 100 present", "points",
     lambda d: write(d / "t.ply", ply_bytes(1000) + bytes(1200)),
     r"declares 1,000 vertex elements needing 12,000 bytes but only 1,200 bytes remain"),
    ("billion vertices (binary)", "header claims 10^9 vertices, 36 bytes of data", "input",
     lambda d: write(d / "b.ply", ply_bytes(10**9) + bytes(36)), r"declares 1,000,000,000 vertex elements needing 12,000,000,000 bytes"),
    ("billion vertices (ASCII)", "ASCII header claims 10^9 vertices", "points",
     lambda d: write(d / "ba.ply", ply_bytes(10**9, fmt="ascii") + rows(10).encode()), r"declares 1,000,000,000 vertex elements"),
    ("truncated ASCII PLY", "header says 20 vertices, 10 lines", "points",
     lambda d: write(d / "ta.ply", ply_bytes(20, fmt="ascii") + rows(10).encode()),
     r"file ends after 10 of the 20 vertex elements its PLY header declares"),
    ("ASCII PLY short line", "a vertex line with 2 of 3 values", "points",
     lambda d: write(d / "sl.ply", ply_bytes(10, fmt="ascii") + (rows(2) + "1 2\n" + rows(7)).encode()),
     r"vertex 2 has 2 values, expected 3"),
    ("ASCII PLY with binary body", "format ascii but binary data", "points",
     lambda d: write(d / "ab.ply", ply_bytes(10, fmt="ascii") + np.random.default_rng(0).bytes(120)),
     r"vertex \d+ is not numeric|vertex \d+ has \d+ values"),
    ("unsupported PLY type", "property int64 x", "points",
     lambda d: write(d / "u.ply", ply_bytes(8, props=XYZ.replace("float x", "int64 x"))),
     r"PLY property 'x' of element 'vertex' has unsupported type 'int64'"),
    ("unknown PLY format", "format binary_middle_endian", "points",
     lambda d: write(d / "f.ply", ply_bytes(8, fmt="binary_middle_endian")), r"unknown PLY format 'binary_middle_endian 1.0'"),
    ("PLY without x", "vertex with y, z only", "points",
     lambda d: write(d / "nx.ply", ply_bytes(8, props="property float y\nproperty float z\n")), r"lacks property 'x'"),
    ("PLY garbage header line", "'hello world' inside the header", "points",
     lambda d: write(d / "g.ply", ply_bytes(8, extra="hello world\n")), r"unexpected PLY header line 7"),
    ("PLY without end_header", "70 KB of comments", "points",
     lambda d: write(d / "ne.ply", b"ply\nformat ascii 1.0\n" + b"comment x\n" * 7000), r"no 'end_header' line within the first 64 KiB"),
    ("PLY list in vertex", "vertex with a list property", "points",
     lambda d: write(d / "lv.ply", ply_bytes(8, extra="property list uchar int idx\n")), r"vertex element has list properties"),
    ("PLY float list count", "property list float int vertex_indices", "mesh",
     lambda d: write(d / "fc.ply", ply_faces(1, b"", count_type="float")), r"non-integer length type 'float'"),
    ("PLY face index out of range", "a face using vertex 99 of 4", "mesh",
     lambda d: write(d / "fi.ply", ply_faces(1, b"\x03" + np.array([0, 1, 99], "<i4").tobytes())),
     r"a face refers to vertex 99 but the file has 4 vertices"),
    ("ASCII PLY face index of 23 digits", "'3 0 1 99999999999999999999999'", "mesh",
     lambda d: write(d / "fd.ply", ply_bytes(4, fmt="ascii", extra="element face 1\nproperty list uchar int vertex_indices\n")
                     + (rows(4) + "3 0 1 99999999999999999999999\n").encode()),
     r"a PLY face refers to a vertex index beyond 64 bits; the face data is corrupt"),
    ("PLY faces truncated", "10 faces declared, 1 present", "mesh",
     lambda d: write(d / "ft.ply", ply_faces(10, b"\x03" + np.array([0, 1, 2], "<i4").tobytes())),
     r"PLY data ends after 1 of the 10 face elements its header declares; the file is truncated"),
    ("PLY list of 2^32-1 items", "a uint list length of 4,294,967,295, 12 bytes follow", "mesh",
     lambda d: write(d / "ll.ply", ply_faces(1, struct.pack("<I", 2**32 - 1) + bytes(12), count_type="uint")),
     r"PLY data ends after 0 of the 1 face elements its header declares; the file is truncated"),
    ("PLY negative list length", "char count -1", "mesh",
     lambda d: write(d / "nl.ply", ply_faces(1, b"\xff" + bytes(12), count_type="char")), r"negative list length \(-1\)"),
    ("non-UTF-8 text", "valid rows, then bytes ff fe 00", "points",
     lambda d: write(d / "bin.xyz", rows(9).encode() + b"\xff\xfe\x00 1 2\n"),
     r"line 10 is not numeric: .*\(non-text bytes: is this a binary file\?\)"),
    ("ragged text", "a 2-value row among 3-value rows", "points",
     lambda d: write(d / "r.xyz", rows(4) + "1 2\n" + rows(6)), r"line 5 has 2 values, expected 3"),
    ("endless line", "2 MB without a newline", "points", lambda d: write(d / "l.xyz", b"1" * 2_000_000),
     r"line 1 is longer than 1 MiB"),
    ("many header lines", "11 words-only lines before the data", "points",
     lambda d: write(d / "mh.txt", "word\n" * 11 + rows(10)), r"no line with 3 or more numbers among the first 10"),
    ("pickled NPY", "np.save of an object array", "points",
     lambda d: write(d / "o.npy", npy_header((10, 3), "|O") + b"\x80" * 50), r"has dtype object; a plain float or integer array"),
    ("NPY wrong shape", "(10, 2) array", "points",
     lambda d: write(d / "s.npy", npy_header((10, 2)) + bytes(80)), r"has shape \(10, 2\); expected \(N, 3\) or \(N, 6\)"),
    ("NPY negative row count", "Fortran-ordered, header shape (-1, 3)", "points",
     lambda d: write(d / "m.npy", npy_header((-1, 3), fortran=True) + bytes(120)), r"has shape \(-1, 3\); expected \(N, 3\) or \(N, 6\)"),
    ("zero points (Fortran NPY)", "Fortran-ordered (0, 3) array", "points",
     lambda d: write(d / "zf.npy", npy_header((0, 3), fortran=True)), r"has no points; at least 8"),
    ("NPY header with arithmetic", "shape (10 + 2, 3) in the header dictionary", "points",
     lambda d: write(d / "a.npy", npy_text_header("{'descr': '<f4', 'fortran_order': False, 'shape': (10 + 2, 3), }") + bytes(144)),
     r"'array' is not a valid NumPy array \(the header dictionary is garbled\)$"),
    ("NPY header unbalanced", "shape ((10, 3), an unclosed parenthesis", "points",
     lambda d: write(d / "u.npy", npy_text_header("{'descr': '<f4', 'fortran_order': False, 'shape': ((10, 3), }") + bytes(120)),
     r"'array' is not a valid NumPy array \(the header dictionary is garbled\)$"),
    ("truncated NPY", "header says 1,000 x 3 float32, 40 bytes follow", "points",
     lambda d: write(d / "t.npy", npy_header((1000, 3)) + bytes(40)), r"declares 1,000 rows \(12,000 bytes\) but only 40 bytes follow"),
    ("NPY claiming 10^12 rows", "header only", "points",
     lambda d: write(d / "h.npy", npy_header((10**12, 3)) + bytes(12)), r"declares 1,000,000,000,000 rows"),
    ("NPZ not a zip", "garbage named .npz", "points", lambda d: write(d / "g.npz", "not a zip at all"),
     r"unsupported file type|not a valid .npz archive"),
    ("NPZ without points", "only a (10, 2) array", "points",
     lambda d: (np.savez(d / "w.npz", a=np.zeros((10, 2))), d / "w.npz")[1], r"no 'points' array and no \(N, 3\) array"),
    ("NPZ zip bomb", "68 MB of zeros deflated to ~300 KB", "points", lambda d: zip_bomb(d / "bomb.npz"),
     r"would decompress to 68,400,128 bytes from [\d,]+; refused as a likely zip bomb"),
    ("NPZ missing its first byte", "an np.savez archive without its first byte", "points",
     lambda d: write(d / "f.npz", savez_bytes()[1:]),
     r"not a valid .npz archive \(member 'points.npy' starts before the beginning of the file; bytes are missing\)"),
    ("NPZ unknown compression", "member compressed with zip method 99", "points",
     lambda d: npz_member(d / "m.npz", npy_header((10, 3)) + bytes(120), method=99),
     r"member 'points.npy' uses zip compression method 99; .npz archives are stored or deflated"),
    ("NPZ encrypted member", "member flagged as encrypted", "points",
     lambda d: npz_member(d / "e.npz", npy_header((10, 3)) + bytes(120), flags=1), r"member 'points.npy' is encrypted"),
    ("NPZ corrupt deflate data", "an invalid deflate block after 8,000 bytes", "points", lambda d: npz_broken_deflate(d / "c.npz"),
     r"the compressed data in the .npz archive is corrupt; the file is damaged"),
    ("non-image named .png", "text file called .png", "image", lambda d: write(d / "t.png", rows(5)),
     r"not a readable PNG, JPEG or BMP image"),
    ("corrupt PNG", "first half of a real PNG", "image",
     lambda d: write(d / "c.png", small_png(d).read_bytes()[:60]),
     r"PNG chunk 'IDAT' at byte 33 declares \d+ bytes but only 19 follow; the file is truncated or corrupt"),
    ("PNG chunk of 4 GiB", "a 64 x 48 PNG whose IDAT length reads 4,278,190,096", "image",
     lambda d: write(d / "c4.png", png_chunk_claiming(small_png(d).read_bytes(), 0xFF000010)),
     r"PNG chunk 'IDAT' at byte 33 declares 4,278,190,096 bytes but only \d+ follow; the file is truncated or corrupt"),
    ("PNG claiming 20000x20000", "IHDR only, 400 Mpx", "input", lambda d: write(d / "huge.png", png_header(20000, 20000)),
     r"image has more than 178,956,970 pixels; refused as a possible decompression bomb"),
    ("JPEG claiming 20000x20000", "SOF0 patched, 400 Mpx", "image", lambda d: write(d / "huge.jpg", jpeg_claiming(20000, 20000)),
     r"refused as a possible decompression bomb"),
    ("PNG 10000x8000", "IHDR only, 80 Mpx: under Pillow's limit, over ours", "image",
     lambda d: write(d / "big.png", png_header(10000, 8000)), r"image is 10000x8000 \(80 Mpx\), over the 64 Mpx limit; downscale it first"),
    ("1x1 image", "a one-pixel PNG", "image", lambda d: (Image.new("RGB", (1, 1)).save(d / "1.png"), d / "1.png")[1],
     r"image is 1x1 pixels; the minimum is 16x16"),
    ("GIF named .png", "a real GIF", "image", lambda d: (Image.new("RGB", (32, 32)).save(d / "g.png", "GIF"), d / "g.png")[1],
     r"not a readable PNG|GIF images are not supported"),
    ("image as point cloud", "a PNG given to read_point_cloud", "points", lambda d: small_png(d),
     r"holds image \(PNG/JPEG/BMP\) data, not a point cloud"),
    ("garbage STL", "random bytes named .stl", "mesh",
     lambda d: write(d / "g.stl", np.random.default_rng(1).bytes(300)), r"cannot read as STL \((?!ModuleNotFound)|no faces or vertices found; is this really STL data\?"),
    ("OBJ face past the vertices", "three vertices, a face naming vertex 7", "mesh",
     lambda d: write(d / "f.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n"), r"a face refers to a vertex the file does not have"),
    ("OBJ negative face index", "a face naming vertex -7 of three", "mesh",
     lambda d: write(d / "n.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 -7\n"), r"a face refers to a vertex the file does not have"),
    ("GLB chunk of 4 GiB", "a box exported as GLB, then a chunk header claiming 4,294,967,295 bytes", "mesh",
     lambda d: write(d / "c4.glb", trimesh.creation.box().export(file_type="glb") + struct.pack("<II", 2**32 - 1, 0x004E4942)),
     r"GLB chunk at byte [\d,]+ declares 4,294,967,295 bytes but only 0 follow; the file is truncated or corrupt"),
    ("OBJ vertex of 2 numbers", "a 'v 0 1' line among 3-number ones", "input",
     lambda d: write(d / "v2.obj", "v 0 0 0\nv 1 0 0\nv 0 1\nv 0 0 1\nf 1 2 4\n"),
     r"cannot read as OBJ: the vertices do not all have 3 coordinates \(x y z\); is a vertex line short of a number\?"),
    ("OFF letter for a number", "a vertex line '1 x 0'", "mesh",
     lambda d: write(d / "x.off", "OFF\n4 1 0\n0 0 0\n1 x 0\n0 1 0\n0 0 1\n3 0 1 2\n"),
     r"cannot read as OFF \(a value is not a number: 'x'\)$"),
    ("OFF fractional count", "counts line '4 1.5 0'", "mesh",
     lambda d: write(d / "c.off", "OFF\n4 1.5 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 2\n"),
     r"cannot read as OFF \(a count or index is not a whole number: '1.5'\)$"),
    ("OBJ letter for a number", "a vertex line 'v 1 a 0'", "mesh",
     lambda d: write(d / "x.obj", "v 0 0 0\nv 1 a 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\n"),
     r"cannot read as OBJ \(a line holds something other than numbers\)$"),
    ("garbage GLB", "'glTF' magic then random bytes", "mesh",
     lambda d: write(d / "g.glb", b"glTF" + np.random.default_rng(2).bytes(200)),
     r"GLB chunk at byte 12 declares 469,463,396 bytes but only 184 follow; the file is truncated or corrupt"),
    ("OBJ without faces", "only 'v' lines", "mesh", lambda d: write(d / "v.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n"),
     r"the file has 3 vertices but no usable faces; open it as a point cloud"),
    ("OBJ without anything", "only comments", "input", lambda d: write(d / "c.obj", "# nothing\n"),
     r"no faces or vertices found; is this really OBJ data\?"),
    ("degenerate mesh", "triangles on a line (zero area)", "input",
     lambda d: write(d / "line.obj", "v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n"), r"zero surface area"),
    ("mesh with identical vertices", "one triangle, 3 equal vertices", "input",
     lambda d: write(d / "p.obj", "v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n"), r"every vertex of the mesh is at \(1, 1, 1\); a shape needs a non-zero extent"),
    ("mesh over 2 GiB", "sparse 2.1 GB .obj", "mesh", lambda d: sparse_file(d / "big.obj", 2_200_000_000),
     r"the file is 2.05 GiB; files of this kind are limited to 2.00 GiB"),
    ("text over 2 GiB", "sparse 2.2 GB .xyz", "points", lambda d: sparse_file(d / "big.xyz", 2_400_000_000),
     r"the file is 2.24 GiB; files of this kind are limited to 2.00 GiB"),
    ("truncated LAS", "header says 1,000 points, 10 present", "points", lambda d: write(d / "t.las", las(count=1000)),
     r"LAS header declares 1,000 points of 20 bytes \(20,000 bytes\) but only 200 bytes of point data follow"),
    ("LAS claiming 10^12 points", "LAS 1.4 64-bit count 10^12, 10 points present", "input",
     lambda d: write(d / "h.las", las(fmt=6, version=(1, 4), count=10**12)), r"declares 1,000,000,000,000 points of 30 bytes"),
    ("LAS header cut short", "the first 100 bytes of a LAS file", "points",
     lambda d: write(d / "c.las", las()[:100]), r"the file ends inside the 227-byte LAS header; it is truncated"),
    ("not LAS", "text named .las", "input", lambda d: write(d / "x.las", rows(10)), r"not a LAS file \(the signature is b'0.0 '"),
    ("LAZ", "a LAS file named .laz", "input", lambda d: write(d / "s.laz", las()),
     r"compressed LAZ is not supported; decompress it to LAS first \(e.g. laszip"),
    ("LAZ format bit", "point format byte 0x83 (compressed format 3)", "points", lambda d: write(d / "s.las", las(fmt=0x83)),
     r"compressed LAZ is not supported"),
    ("LAS record too short", "format 1 with 16-byte records", "points", lambda d: write(d / "r.las", las(fmt=1, record=16)),
     r"LAS point records of 16 bytes are shorter than the 28 bytes point format 1 needs"),
    ("LAS zero scale", "y scale factor 0", "points", lambda d: write(d / "z.las", las(scale=(0.01, 0.0, 0.01))),
     r"LAS scale factors must be finite and non-zero and offsets finite; got 0.01, 0, 0.01, 0, 0, 0"),
    ("LAS NaN scale", "x scale factor NaN", "points", lambda d: write(d / "n.las", las(scale=(np.nan, 1.0, 1.0))),
     r"LAS scale factors must be finite"),
    ("LAS unknown point format", "point format 11", "points", lambda d: write(d / "u.las", las(fmt=11, record=20)),
     r"unknown LAS point data record format 11; formats 0-10 are read"),
    ("LAS version 2.0", "version 2.0 header", "points", lambda d: write(d / "v.las", las(version=(2, 0))),
     r"unsupported LAS version 2.0"),
    ("bad PCD header line", "'HELLO 1' in the header", "points",
     lambda d: write(d / "b.pcd", b"# .PCD v0.7\nVERSION 0.7\nHELLO 1\n" + pcd()), r"unexpected PCD header line 3: b'HELLO 1'"),
    ("PCD without DATA", "header lines only", "points", lambda d: write(d / "nd.pcd", pcd(body=b"").split(b"DATA")[0]),
     r"not a PCD file \(no DATA line within the first 64 KiB\)"),
    ("unknown PCD DATA kind", "DATA binary_lzma", "points", lambda d: write(d / "k.pcd", pcd(data="binary_lzma")),
     r"unknown PCD DATA kind 'binary_lzma'; expected ascii, binary or binary_compressed"),
    ("PCD without z", "FIELDS x y", "points", lambda d: write(d / "nz.pcd", pcd(fields="x y")), r"PCD FIELDS \(x y\) lack 'z'"),
    ("PCD SIZE length", "3 FIELDS, 2 SIZE values", "points", lambda d: write(d / "s.pcd", pcd(sizes="4 4")),
     r"PCD header lists 3 FIELDS but 2 SIZE values"),
    ("PCD TYPE length", "3 FIELDS, 4 TYPE values", "points", lambda d: write(d / "ty.pcd", pcd(types="F F F F")),
     r"PCD header lists 3 FIELDS but 4 TYPE values"),
    ("PCD float16", "x of TYPE F SIZE 2", "points", lambda d: write(d / "h.pcd", pcd(sizes="2 4 4")),
     r"PCD field 'x' has unsupported TYPE F with SIZE 2"),
    ("PCD claiming more points", "POINTS 1000, 10 points of data", "input", lambda d: write(d / "m.pcd", pcd(points=1000)),
     r"PCD header declares 1,000 points needing 12,000 bytes of binary data but only 120 bytes follow"),
    ("PCD absurd WIDTH x HEIGHT", "WIDTH 10^9, HEIGHT 10^9", "points",
     lambda d: write(d / "wh.pcd", pcd(points=10**18, width=10**9, height=10**9)), r"declares 1,000,000,000,000,000,000 points"),
    ("PCD record of 10^12 bytes", "a padding field of COUNT 10^12, POINTS 0", "points",
     lambda d: write(d / "r.pcd", pcd(fields="x y z pad", points=0, sizes="4 4 4 1", types="F F F U", counts=f"1 1 1 {10**12}")),
     r"PCD SIZE x COUNT add up to records of 1,000,000,000,012 bytes \(at most 2,147,483,647 are supported\)"),
    ("PCD WIDTH x HEIGHT != POINTS", "5 x 4 but POINTS 21", "points",
     lambda d: write(d / "p.pcd", pcd(points=21, width=5, height=4)), r"WIDTH x HEIGHT \(5 x 4\) does not equal POINTS \(21\)"),
    ("truncated ASCII PCD", "POINTS 20, 10 lines", "points",
     lambda d: write(d / "ta.pcd", pcd(points=20, data="ascii", body=rows(10).encode())),
     r"file ends after 10 of the 20 points its PCD header declares"),
    ("corrupt LZF", "a back-reference before the start of the output", "points",
     lambda d: write(d / "l.pcd", pcd_binary(np.eye(10, 3), compress=lambda raw: b"\x20\x00" + lzf_literals(raw))),
     r"corrupt LZF data in the PCD file \(a back-reference at byte 0 points before the start of the output\)"),
    ("LZF output short", "the stream decompresses to 12 bytes under its declared size", "points",
     lambda d: write(d / "s.pcd", pcd_binary(np.eye(10, 3), compress=lambda raw: lzf_literals(raw[:-12]))),
     r"corrupt LZF data in the PCD file \(the output is 108 bytes, shorter than the declared 120\)"),
    ("LZF output long", "the stream decompresses past its declared size", "points",
     lambda d: write(d / "lo.pcd", pcd_binary(np.eye(10, 3), compress=lambda raw: lzf_literals(raw + raw))),
     r"corrupt LZF data in the PCD file \(the output is longer than the declared 120 bytes\)"),
    ("LZF expansion claim", "10^6 points from a 96-byte stream", "points",
     lambda d: write(d / "x.pcd", pcd(points=10**6, data="binary_compressed", body=struct.pack("<II", 96, 12 * 10**6) + bytes(96))),
     r"declares 12,000,000 bytes from 96 compressed bytes, more than LZF can expand to"),
    ("PCD compressed size mismatch", "uncompressed size not POINTS x record", "points",
     lambda d: write(d / "mm.pcd", pcd(data="binary_compressed", body=struct.pack("<II", 10, 100) + bytes(10))),
     r"declares 100 bytes uncompressed but 10 points of 12 bytes need 120"),
    ("PCD compressed stream truncated", "declares 50 compressed bytes, 20 follow", "points",
     lambda d: write(d / "ct.pcd", pcd(data="binary_compressed", body=struct.pack("<II", 50, 120) + bytes(20))),
     r"PCD compressed data is 50 bytes but only 20 follow; the file is truncated"),
    ("PCD compressed size 4 GiB", "declares 4,294,967,295 compressed bytes, 20 follow", "points",
     lambda d: write(d / "c4.pcd", pcd(data="binary_compressed", body=struct.pack("<II", 2**32 - 1, 120) + bytes(20))),
     r"PCD compressed data is 4,294,967,295 bytes but only 20 follow; the file is truncated"),
]


def _build(case_builder, tmp_path):
    path = case_builder(tmp_path)
    return path


@pytest.mark.parametrize("case, what, reader, build, pattern", CASES, ids=[c[0] for c in CASES])
def test_hostile_file_gives_one_line_input_error(tmp_path, case, what, reader, build, pattern):
    path = build(tmp_path)
    start = time.perf_counter()
    with pytest.raises(InputError) as caught:
        READERS[reader](path)
    elapsed = time.perf_counter() - start
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message, message
    assert re.search(pattern, message), message
    assert elapsed < 10.0, f"{case} took {elapsed:.2f} s"  # sanity bound: no hang, no giant allocation


# ------------------------------------------------- hostile files that still load


def test_nan_rows_are_dropped_with_notice(tmp_path):
    path = write(tmp_path / "n.xyz", rows(10) + "nan 1 2\n1 inf 2\n" + rows(3))
    points, _, notices = io.read_point_cloud(path)
    assert len(points) == 13 and np.isfinite(points).all()
    assert notices == ["dropped 2 of 15 points with NaN or Inf values"]


def test_rows_beyond_float32_are_dropped_with_notice(tmp_path):
    path = write(tmp_path / "big.xyz", rows(10) + "1e300 0 0\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # no overflow on the cast to float32
        points, _, notices = io.read_point_cloud(path)
    assert len(points) == 10 and np.isfinite(points).all()
    assert notices == ["dropped 1 of 11 points with coordinates beyond the 32-bit float range (about 3.4e38)"]
    with pytest.raises(InputError, match="every point has a coordinate beyond"):
        io.read_point_cloud(write(tmp_path / "all.xyz", "1e300 0 0\n2 -1e39 0\n" * 5))
    # what is left after dropping them is held to the same rules as any cloud
    with pytest.raises(InputError, match="only 7 finite points; at least 8 are needed"):
        io.read_point_cloud(write(tmp_path / "few.xyz", rows(7) + "1e300 0 0\n" * 3))
    with pytest.raises(InputError, match="all 8 points are identical"):
        io.read_point_cloud(write(tmp_path / "same.xyz", "1 2 3\n" * 8 + "1e300 0 0\n"))


def test_ply_named_xyz_is_sniffed(tmp_path):
    path = tmp_path / "cloud.xyz"
    io.write_point_cloud(tmp_path / "cloud.ply", np.eye(8, 3, dtype=np.float32) + np.arange(8)[:, None])
    os.replace(tmp_path / "cloud.ply", path)
    data = io.load_input(path)
    assert len(data.points) == 8
    assert data.notices == ["cloud.xyz holds PLY data despite its .xyz extension; read as PLY"]


def test_image_named_ply_is_sniffed(tmp_path):
    path = small_png(tmp_path, "photo.ply")
    data = io.load_input(path)
    assert data.kind == "image" and data.image.shape == (48, 64, 3)


@pytest.mark.parametrize("mode", ["LA", "I;16"])
def test_transparent_and_16_bit_images_convert_in_bounded_memory(tmp_path, mode):
    """A 4 Mpx PNG with transparency or 16-bit gray (a few KB of compressed zeros) is converted in
    blocks of rows: the traced heap stays under 16 bytes a pixel (whole-image float math took 56)."""
    Image.new(mode, (2000, 2000)).save(tmp_path / "m.png")
    tracemalloc.start()
    try:
        pixels = io.read_image(tmp_path / "m.png")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert pixels.shape == (2000, 2000, 3) and pixels.dtype == np.uint8
    assert peak < 16 * 4e6, f"{peak / 4e6:.0f} bytes a pixel"


def test_huge_coordinates(tmp_path):
    grid = np.stack(np.meshgrid(*[np.linspace(0, 0.5, 4)] * 3), -1).reshape(-1, 3) + 1e9
    np.savetxt(tmp_path / "far.xyz", grid, fmt="%.17g")
    data = io.load_input(tmp_path / "far.xyz")
    np.testing.assert_allclose(data.points.min(axis=0), -0.5, atol=1e-6)
    np.testing.assert_allclose(data.points.max(axis=0), 0.5, atol=1e-6)
    assert len(np.unique(data.points[:, 0])) == 4


def test_latin1_obj_reads_without_charset_detection(tmp_path):
    path = write(tmp_path / "caf\u00e9.obj", "# caf\u00e9 cr\u00e8me\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n".encode("latin-1"))
    assert len(io.read_mesh(path).faces) == 1


def test_nonfinite_mesh_vertices_drop_their_faces(tmp_path):
    path = write(tmp_path / "n.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nv nan 0 0\nv 0 0 1\nf 1 2 3\nf 1 4 2\nf 1 2 5\n")
    mesh = io.read_mesh(path)
    assert len(mesh.faces) == 2 and np.isfinite(mesh.vertices).all()


def test_ten_million_point_binary_ply_is_sampled_in_bounded_memory(tmp_path):
    """120 MB of float32 vertices: read through a memory map in blocks; the Python heap
    stays around one block plus the kept sample."""
    path = tmp_path / "ten_million.ply"
    with open(path, "wb") as f:
        f.write(ply_bytes(10_000_000))
        block = np.random.default_rng(0).random((1_000_000, 3), dtype=np.float32)
        for _ in range(10):
            f.write(block.tobytes())
    check_ten_million_sampled(path)


def test_refusing_a_huge_file_reads_only_its_first_bytes(tmp_path):
    """A 2.4 GB text file is refused for its size after its format was sniffed from its first bytes: the
    whole refusal allocates kilobytes, not the file."""
    path = sparse_file(tmp_path / "big.xyz", 2_400_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="files of this kind are limited to 2.00 GiB"):
            io.read_point_cloud(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1e6, f"peak {peak / 1e6:.0f} MB"


@pytest.mark.parametrize("name", ["PCD compressed size 4 GiB", "GLB chunk of 4 GiB", "PNG chunk of 4 GiB"])
def test_claimed_sizes_are_checked_before_reading(tmp_path, name):
    """A binary_compressed PCD stream, a GLB chunk or a PNG chunk claiming 4 GiB in a small file
    is refused before it is read (reading it would allocate the claimed size first)."""
    _, _, reader, build, pattern = next(case for case in CASES if case[0] == name)
    path = build(tmp_path)
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=pattern):
            READERS[reader](path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1e6, f"peak {peak / 1e6:.0f} MB"


def test_unreadable_file_is_reported_under_its_own_name(tmp_path, monkeypatch):
    """A file that exists but cannot be opened (its permissions; root ignores them, so opening is refused by
    a stand-in) is one InputError naming the file and the system's reason."""
    path = write(tmp_path / "locked.ply", ply_bytes(8))

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(io, "open", refuse, raising=False)      # the name the readers look up first
    with pytest.raises(InputError) as caught:
        io.read_point_cloud(path)
    assert str(caught.value) == f"{path}: cannot read the file (Permission denied)"


# ---------------------------------------------------------------------- writing


def test_write_errors(tmp_path):
    box = trimesh.creation.box()
    (tmp_path / "folder.ply").mkdir()
    cases = [
        (tmp_path / "m.fbx", r"cannot write '.fbx' files; use one of .ply, .obj, .stl, .glb"),
        (tmp_path / "missing" / "m.ply", r"the folder .*missing does not exist"),
        (tmp_path / "folder.ply", r"this is a folder; give a file name"),
    ]
    for path, pattern in cases:
        with pytest.raises(InputError, match=pattern) as caught:
            io.write_mesh(path, box.vertices, box.faces)
        assert str(caught.value).startswith(f"{path}: ")
    with pytest.raises(InputError, match="the mesh is empty"):
        io.write_mesh(tmp_path / "e.ply", box.vertices, np.empty((0, 3), int))
    with pytest.raises(InputError, match=r"cannot write '.obj' files; use one of .ply, .xyz"):
        io.write_point_cloud(tmp_path / "p.obj", box.vertices)
    with pytest.raises(ValueError, match=r"faces index vertices outside 0\.\.7"):
        io.write_mesh(tmp_path / "bad.ply", box.vertices, box.faces + 100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.ply"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(InputError, match=r"cannot write in folder .* \(Permission denied\)"):
            io.write_point_cloud(folder / "p.ply", np.eye(3))
    finally:
        folder.chmod(0o755)


def test_read_only_folder_simulated(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(InputError, match=r"p.ply: cannot write in folder .* \(Permission denied\)"):
        io.write_point_cloud(tmp_path / "p.ply", np.eye(3))


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), RuntimeError("bug")])
def test_failed_write_keeps_existing_file(tmp_path, monkeypatch, failure):
    target = write(tmp_path / "keep.ply", b"precious")

    def half_then_fail(f, *args):
        f.write(b"partial data")
        raise failure

    monkeypatch.setattr(ply, "write_ply", half_then_fail)
    expected = InputError if isinstance(failure, OSError) else RuntimeError
    with pytest.raises(expected) as caught:
        io.write_mesh(target, np.eye(3), [[0, 1, 2]])
    if expected is InputError:
        assert str(caught.value) == f"{target}: writing failed (No space left on device); any existing file is unchanged"
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.ply"]


# ------------------------------------------------------------- property-based

ALL_EXTS = sorted(set(io.SUPPORTED_POINT_EXTS + io.SUPPORTED_MESH_EXTS + io.SUPPORTED_IMAGE_EXTS))
PREFIXES = [
    b"", ply_bytes(3), ply_bytes(5, fmt="ascii"), ply_bytes(2, fmt="binary_big_endian"),
    ply_bytes(4, extra="element face 2\nproperty list uchar int vertex_indices\n"), b"ply\nformat ascii 1.0\n",
    png_header(32, 32), b"\xff\xd8\xff\xe0", b"BM", npy_header((4, 3)), b"PK\x03\x04", b"glTF\x02\x00\x00\x00",
    b"OFF\n4 2 0\n", b"solid x\nfacet normal 0 0 1\n", b"v 1 2 3\nv 4 5 6\nf 1 2 3\n", b"1 2 3\n4 5 6\n",
    las_bytes(GRID[:0], count=2)[:-54], pcd_header("x y z", 3, "binary_compressed"),
]
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def outcome(reader, path):
    """Run a reader: a result or an InputError message are fine, anything else fails."""
    try:
        return reader(path)
    except InputError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        return None


def read_everything(path: Path) -> None:
    for reader in READERS.values():
        outcome(reader, path)


@FUZZ
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=600), ext=st.sampled_from(ALL_EXTS))
def test_fuzz_random_bytes(prefix, body, ext):
    with tempfile.TemporaryDirectory() as folder:
        read_everything(write(Path(folder) / f"f{ext}", prefix + body))


def _valid_samples() -> dict[str, bytes]:
    """Small valid files of every format, as bytes, to mutate."""
    with tempfile.TemporaryDirectory() as folder:
        d = Path(folder)
        box = trimesh.creation.box()
        for ext in io.MESH_WRITE_EXTS:
            io.write_mesh(d / f"m{ext}", box.vertices, box.faces, box.vertex_normals)
        io.write_point_cloud(d / "p.xyz", box.vertices, box.vertex_normals)
        np.save(d / "p.npy", box.vertices)
        np.savez_compressed(d / "p.npz", points=box.vertices, normals=box.vertex_normals)
        write(d / "a.ply", ply_bytes(8, fmt="ascii", extra="element face 1\nproperty list uchar int vertex_indices\n")
              + (rows(8) + "3 0 1 2\n").encode())
        Image.new("RGB", (20, 20), "blue").save(d / "i.png")
        Image.new("RGB", (20, 20), "blue").save(d / "i.jpg")
        write(d / "p.las", las_bytes(GRID, 3, (1, 4), offset=(500000.0, 4000000.0, 0.0), extra=4))
        write(d / "p.pcd", pcd_binary(np.hstack([box.vertices, box.vertex_normals]),
                                      "x y z normal_x normal_y normal_z", lzf_compress))
        return {p.name: p.read_bytes() for p in d.iterdir()}


VALID = _valid_samples()


@FUZZ
@given(name=st.sampled_from(sorted(VALID)), data=st.data())
def test_fuzz_mutated_valid_files(name, data):
    content = bytearray(VALID[name])
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(content) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            content[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del content[at:]
            if not content:
                break
        else:
            content[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    with tempfile.TemporaryDirectory() as folder:
        read_everything(write(Path(folder) / name, bytes(content)))


@st.composite
def ply_headers(draw):
    """Random but well-formed-looking PLY headers with a random body."""
    fmt = draw(st.sampled_from(["ascii", "binary_little_endian", "binary_big_endian"]))
    types = sorted(ply._TYPES) + ["int64", "string"]
    lines = ["ply", f"format {fmt} 1.0"]
    for name in draw(st.lists(st.sampled_from(["vertex", "face", "edge"]), min_size=1, max_size=3)):
        lines.append(f"element {name} {draw(st.sampled_from([0, 1, 3, 9, 2**31, 10**12]))}")
        for prop in draw(st.lists(st.sampled_from(["x", "y", "z", "nx", "ny", "nz", "vertex_indices", "red"]),
                                  max_size=6, unique=True)):
            if draw(st.booleans()) and prop == "vertex_indices":
                lines.append(f"property list {draw(st.sampled_from(types))} {draw(st.sampled_from(types))} {prop}")
            else:
                lines.append(f"property {draw(st.sampled_from(types))} {prop}")
    body = draw(st.binary(max_size=300)) if fmt != "ascii" else draw(st.text("0123456789 .-\n", max_size=300)).encode()
    return ("\n".join(lines + ["end_header"]) + "\n").encode() + body


@FUZZ
@given(content=ply_headers())
def test_fuzz_ply_headers(content):
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / "h.ply", content)
        outcome(io.read_point_cloud, path)
        outcome(io.read_mesh, path)


CLOUDS = arrays(np.float32, st.tuples(st.integers(0, 40), st.just(3)),
                elements=st.floats(width=32, allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, 1.0, 1e9]))


@FUZZ
@given(points=CLOUDS, ext=st.sampled_from([".ply", ".xyz", ".csv", ".npy"]))
def test_fuzz_random_clouds_read_back_exactly(points, ext):
    """Random clouds (NaN, Inf, duplicates, extremes): the finite rows come back
    bit-exact, or the reader says why not (too few points, no extent)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"c{ext}"
        if ext == ".ply":
            write(path, ply_bytes(len(points)) + points.astype("<f4").tobytes())
        elif ext == ".npy":
            np.save(path, points)
        else:
            np.savetxt(path, points, fmt="%.9g", delimiter="," if ext == ".csv" else " ")
        result = outcome(io.read_point_cloud, path)
        finite = points[np.isfinite(points).all(axis=1)]
        if result is None:
            assert len(finite) < io.MIN_POINTS or np.ptp(finite, axis=0).max() <= 1e-12 * np.abs(finite).max()
        else:
            np.testing.assert_array_equal(result[0], finite)
