"""PLY header parsing (``io.ply.read_header``) against the format's grammar: hand-written headers whose fields,
data offset and line count are known by construction, and the exact message for each malformed line."""

from __future__ import annotations

import pytest

from implicit_studio.errors import InputError
from implicit_studio.io import ply
from implicit_studio.io.ply import MAX_HEADER_BYTES

HEADER_LINES = [
    "ply",
    "format binary_little_endian 1.0",
    "comment made by hand",
    "obj_info caf\xe9",                       # latin-1, not UTF-8: header bytes are read as latin-1
    "",
    "element vertex 3",
    "property float x",
    "property float y",
    "property double z",
    "element face 2",
    "property list uchar int vertex_indices",
    "property ushort flags",
    "end_header",
]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_header_fields_offset_and_line_count(tmp_path, newline):
    """Comments, obj_info and blank lines are skipped; elements keep their order, counts and typed properties;
    the data starts right after end_header's newline (data holding newline bytes does not matter)."""
    head = newline.join(HEADER_LINES).encode("latin-1") + newline.encode()
    path = tmp_path / "h.ply"
    path.write_bytes(head + b"\n\n\r\n" * 40)
    header = ply.read_header(path)
    assert header.format == "binary_little_endian"
    assert [(e.name, e.count, [(p.name, p.type, p.count_type) for p in e.properties]) for e in header.elements] == [
        ("vertex", 3, [("x", "f4", None), ("y", "f4", None), ("z", "f8", None)]),
        ("face", 2, [("vertex_indices", "i4", "u1"), ("flags", "u2", None)]),
    ]
    assert header.data_offset == len(head)
    assert header.lines == len(HEADER_LINES)


def test_format_line_without_version_and_header_without_final_newline(tmp_path):
    """The version number is not required, and a file may end with its end_header line: no data follows."""
    path = tmp_path / "v.ply"
    path.write_bytes(b"ply\nformat ascii\nelement vertex 0\nend_header")
    header = ply.read_header(path)
    assert (header.format, header.lines, header.data_offset) == ("ascii", 4, path.stat().st_size)
    assert [(e.name, e.count) for e in header.elements] == [("vertex", 0)]


def _header_of_size(size: int) -> bytes:
    """A valid header of exactly ``size`` bytes, end_header's newline included (one long comment fills it)."""
    start, end = b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\n", b"end_header\n"
    comment = b"comment " + b"x" * (size - len(start) - len(end) - len(b"comment \n")) + b"\n"
    return start + comment + end


def test_header_may_fill_the_first_64_kib_exactly(tmp_path):
    """At most 64 KiB are read for the header: one that ends exactly there is whole; data after it is not
    mistaken for header lines."""
    head = _header_of_size(MAX_HEADER_BYTES)
    path = tmp_path / "full.ply"
    path.write_bytes(head + b"\x00\x00\x80\x3f" + b"tail\nmore\n" * 10_000)
    assert len(head) == MAX_HEADER_BYTES
    header = ply.read_header(path)
    assert header.data_offset == MAX_HEADER_BYTES
    assert [(e.name, e.count) for e in header.elements] == [("vertex", 1)]


def test_header_longer_than_64_kib_is_refused(tmp_path):
    """One byte more and end_header lies beyond what is read: refused, even though it comes later."""
    path = tmp_path / "long.ply"
    path.write_bytes(_header_of_size(MAX_HEADER_BYTES + 1) + b"\x00\x00\x80\x3f")
    with pytest.raises(InputError) as caught:
        ply.read_header(path)
    assert str(caught.value) == f"{path}: PLY header has no 'end_header' line within the first 64 KiB"


LONG = "x" * 100
REFUSED = [
    # (header lines after "ply", the message after "<path>: ")
    (["format", "end_header"], "unknown PLY format ''"),
    (["format binary_middle_endian 1.0", "end_header"], "unknown PLY format 'binary_middle_endian 1.0'"),
    (["element vertex 1", "property float x", "end_header"], "PLY header has no 'format' line"),
    (["format ascii 1.0", "element vertex 3 extra", "end_header"], "bad PLY element line 3: 'element vertex 3 extra'"),
    (["format ascii 1.0", "element vertex -1", "end_header"], "bad PLY element line 3: 'element vertex -1'"),
    (["format ascii 1.0", "element vertex", "end_header"], "bad PLY element line 3: 'element vertex'"),
    (["format ascii 1.0", "element vertex many", "end_header"], "bad PLY element line 3: 'element vertex many'"),
    (["format ascii 1.0", "element vertex 1", "property float", "end_header"],
     "bad PLY property line 4: 'property float'"),
    (["format ascii 1.0", "element vertex 1", "property float x y", "end_header"],
     "bad PLY property line 4: 'property float x y'"),
    (["format ascii 1.0", "element face 1", "property list uchar int", "end_header"],
     "bad PLY property line 4: 'property list uchar int'"),
    (["format ascii 1.0", "element face 1", "property list float int vertex_indices", "end_header"],
     "PLY list 'vertex_indices' has a non-integer length type 'float'"),
    (["format ascii 1.0", "element face 1", "property list uchar int64 vertex_indices", "end_header"],
     "PLY property 'vertex_indices' of element 'face' has unsupported type 'int64'"),
    (["format ascii 1.0", "element vertex 1", "property float x", "property double x", "end_header"],
     "PLY element 'vertex' repeats property 'x'"),
    (["format ascii 1.0", "property float x", "element vertex 1", "end_header"],
     "unexpected PLY header line 3: b'property float x'"),
    (["format ascii 1.0", LONG, "end_header"], f"unexpected PLY header line 3: b'{LONG[:60]}'"),
    (["format ascii 1.0", "element vertex 1"], "PLY header has no 'end_header' line within the first 64 KiB"),
]


@pytest.mark.parametrize("lines, message", REFUSED, ids=[m[:40] for _, m in REFUSED])
def test_malformed_header_lines_are_refused_with_their_line(tmp_path, lines, message):
    """Each malformed header is refused with a one-line message naming the file, the line and what is wrong."""
    path = tmp_path / "bad.ply"
    path.write_bytes(("\n".join(["ply", *lines]) + "\n").encode())
    with pytest.raises(InputError) as caught:
        ply.read_header(path)
    assert str(caught.value) == f"{path}: {message}"


@pytest.mark.parametrize("first", ["PLY", "ply ", "plyx", "plyX", "", "format ascii 1.0"])
def test_first_line_must_be_ply(tmp_path, first):
    """The magic line is exactly 'ply' (a CR before the newline allowed, as in CRLF files)."""
    path = tmp_path / "magic.ply"
    path.write_bytes(f"{first}\nformat ascii 1.0\nelement vertex 0\nend_header\n".encode())
    with pytest.raises(InputError) as caught:
        ply.read_header(path)
    assert str(caught.value) == f"{path}: not a PLY file (the first line is not 'ply')"
