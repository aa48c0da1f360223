"""The checks every reader makes before parsing a file (``io.files``): what the path is, its size limit, and its
format from its first bytes or, failing that, its extension."""

from __future__ import annotations

import os

import numpy as np
import pytest

from implicit_studio.errors import InputError
from implicit_studio.io import files as io

CUBE_OBJ = "".join(f"v {x} {y} {z}\n" for x in (0, 1) for y in (0, 1) for z in (0, 1)) + "f 1 2 4\nf 1 4 3\n"


def _refusal(reader, path) -> str:
    """The message of the InputError ``reader(path)`` raises, without the "<path>: " prefix (checked)."""
    with pytest.raises(InputError) as caught:
        reader(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message[len(f"{path}: "):]


def test_a_path_through_a_file_cannot_be_accessed(tmp_path):
    """An operating-system error other than "not found" is reported with its own description."""
    (tmp_path / "plain").write_text("not a folder")
    assert _refusal(io.read_point_cloud, tmp_path / "plain" / "p.ply") == "cannot access the file (Not a directory)"


def test_a_one_byte_file_is_read_not_called_empty(tmp_path):
    """Only a file of 0 bytes is empty; one byte is parsed (and then found to hold no points)."""
    path = tmp_path / "one.xyz"
    path.write_bytes(b"1")
    assert _refusal(io.read_point_cloud, path).startswith("no line with 3 or more numbers")


def test_size_limit_admits_a_file_of_exactly_the_limit(tmp_path, monkeypatch):
    """A limit of N bytes admits N bytes and refuses N + 1 (the shipped limits are GiB; a small one is set here)."""
    path = tmp_path / "cube.obj"
    path.write_text(CUBE_OBJ)
    size = path.stat().st_size
    monkeypatch.setattr(io, "MAX_MESH_BYTES", size)
    assert len(io.read_mesh(path).faces) == 2
    monkeypatch.setattr(io, "MAX_MESH_BYTES", size - 1)
    assert _refusal(io.read_mesh, path) == "the file is 0.00 GiB; files of this kind are limited to 0.00 GiB"


def test_unsupported_extension_lists_every_supported_one(tmp_path):
    """The refusal names the extension and then every supported one, sorted, each once."""
    path = tmp_path / "notes.docx"
    path.write_text("hello")
    message = _refusal(io.load_input, path)
    named, supported = message.split("; supported: ")
    assert named == "unsupported file type '.docx'"
    expected = set(io.SUPPORTED_POINT_EXTS) | set(io.SUPPORTED_MESH_EXTS) | set(io.SUPPORTED_IMAGE_EXTS)
    assert supported.split(", ") == sorted(expected)


def test_ply_without_extension_is_sniffed_with_a_notice(tmp_path):
    """A file without extension is read by its first bytes; the notice says it had none."""
    io.write_point_cloud(tmp_path / "cloud.ply", np.eye(8, 3, dtype=np.float32) + np.arange(8)[:, None])
    os.replace(tmp_path / "cloud.ply", tmp_path / "cloud")
    data = io.load_input(tmp_path / "cloud")
    assert len(data.points) == 8
    assert data.notices == ["cloud holds PLY data despite its (no extension) extension; read as PLY"]


def test_upper_case_extensions_are_the_same_formats(tmp_path):
    """``.PLY`` holding PLY needs no notice, and ``.XYZ`` text is read as text."""
    io.write_point_cloud(tmp_path / "a.ply", np.eye(8, 3, dtype=np.float32) + np.arange(8)[:, None])
    os.replace(tmp_path / "a.ply", tmp_path / "A.PLY")
    assert io.load_input(tmp_path / "A.PLY").notices == []
    (tmp_path / "B.XYZ").write_text("".join(f"{i} {i * i} {i % 3}\n" for i in range(10)))
    points, _, notices = io.read_point_cloud(tmp_path / "B.XYZ")
    assert len(points) == 10 and notices == []
