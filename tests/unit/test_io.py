"""File IO: round trips for every format and the normal (non-hostile) behaviour."""

from __future__ import annotations

import os
import stat
import struct
import zlib

import numpy as np
import pytest
import trimesh
from PIL import Image

from implicit_studio.errors import InputError
from implicit_studio.io import files as io, ply, pointfiles

RNG = np.random.default_rng(7)


def sphere_cloud(n=200, radius=1.0, center=(0.0, 0.0, 0.0)):
    """Points (n, 3) float64 on a sphere and their outward normals (n, 3)."""
    normals = RNG.normal(size=(n, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return np.asarray(center) + radius * normals, normals


def make_ply(path, fmt, points, normals=None, colors=False, extra=False, faces=None):
    """Write a PLY with an independent writer: fmt 'ascii', 'binary_little_endian' or
    'binary_big_endian'; optional uchar colours, extra double/int properties, faces
    (a list of index lists, any sizes)."""
    props = [("x", "float", "f4"), ("y", "float", "f4"), ("z", "float", "f4")]
    if extra:
        props.insert(1, ("quality", "double", "f8"))
        props.append(("id", "int", "i4"))
    if normals is not None:
        props += [("nx", "float", "f4"), ("ny", "float", "f4"), ("nz", "float", "f4")]
    if colors:
        props += [("red", "uchar", "u1"), ("green", "uchar", "u1"), ("blue", "uchar", "u1")]
    values = {"x": points[:, 0], "y": points[:, 1], "z": points[:, 2], "quality": np.arange(len(points)) * 0.5,
              "id": np.arange(len(points)), "red": np.full(len(points), 200), "green": np.zeros(len(points)),
              "blue": np.full(len(points), 255)}
    if normals is not None:
        values.update(nx=normals[:, 0], ny=normals[:, 1], nz=normals[:, 2])
    head = ["ply", f"format {fmt} 1.0", "comment test file", f"element vertex {len(points)}"]
    head += [f"property {t} {n}" for n, t, _ in props]
    if faces is not None:
        head += [f"element face {len(faces)}", "property list uchar int vertex_indices", "property uchar flags"]
    head.append("end_header")
    with open(path, "wb") as f:
        f.write(("\n".join(head) + "\n").encode())
        if fmt == "ascii":
            for i in range(len(points)):
                f.write((" ".join(repr(float(values[n][i])) if c[0] == "f" else str(int(values[n][i]))
                                  for n, _, c in props) + "\n").encode())
            for face in faces or []:
                f.write((f"{len(face)} " + " ".join(map(str, face)) + " 0\n").encode())
            return
        end = "<" if fmt == "binary_little_endian" else ">"
        records = np.empty(len(points), dtype=[(n, end + c) for n, _, c in props])
        for n, _, _ in props:
            records[n] = values[n]
        f.write(records.tobytes())
        for face in faces or []:
            f.write(np.array([len(face)], "u1").tobytes() + np.array(face, end + "i4").tobytes() + b"\x00")


# ----------------------------------------------------------------- point clouds


@pytest.mark.parametrize("ext", [".ply", ".xyz"])
@pytest.mark.parametrize("with_normals", [False, True])
def test_point_cloud_round_trip(tmp_path, ext, with_normals):
    points, normals = sphere_cloud()
    points, normals = points.astype(np.float32), normals.astype(np.float32)
    io.write_point_cloud(tmp_path / f"c{ext}", points, normals if with_normals else None)
    got, got_normals, notices = io.read_point_cloud(tmp_path / f"c{ext}")
    assert got.dtype == np.float32 and got.shape == points.shape
    np.testing.assert_array_equal(got, points)
    if with_normals:
        np.testing.assert_allclose(got_normals, normals, atol=1e-6)
    else:
        assert got_normals is None
    assert notices == []


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_ply_variants(tmp_path, fmt):
    points, normals = sphere_cloud(50)
    make_ply(tmp_path / "v.ply", fmt, points, normals, colors=True, extra=True, faces=[[0, 1, 2], [2, 3, 4, 5]])
    got, got_normals, notices = io.read_point_cloud(tmp_path / "v.ply")
    np.testing.assert_allclose(got, points, atol=1e-6)
    np.testing.assert_allclose(got_normals, normals, atol=1e-6)
    assert notices == ["ignored 2 faces (read as a point cloud)"]


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_ply_without_normals_with_colours(tmp_path, fmt):
    points, _ = sphere_cloud(30)
    make_ply(tmp_path / "v.ply", fmt, points, colors=True)
    got, got_normals, _ = io.read_point_cloud(tmp_path / "v.ply")
    np.testing.assert_allclose(got, points, atol=1e-6)
    assert got_normals is None


def test_ply_pcl_normal_names(tmp_path):
    points, normals = sphere_cloud(20)
    body = "\n".join(" ".join(map(str, row)) for row in np.hstack([points, normals]))
    names = "".join(f"property float {n}\n" for n in ["x", "y", "z", "normal_x", "normal_y", "normal_z"])
    (tmp_path / "p.ply").write_text(f"ply\nformat ascii 1.0\nelement vertex 20\n{names}end_header\n{body}\n")
    _, got_normals, _ = io.read_point_cloud(tmp_path / "p.ply")
    np.testing.assert_allclose(got_normals, normals, atol=1e-6)


def test_ply_header_with_crlf_line_ends(tmp_path):
    points, _ = sphere_cloud(10)
    rows = "".join(f"{x} {y} {z}\r\n" for x, y, z in points)
    text = "ply\r\nformat ascii 1.0\r\nelement vertex 10\r\nproperty float x\r\nproperty float y\r\nproperty float z\r\nend_header\r\n"
    (tmp_path / "w.ply").write_bytes((text + rows).encode())
    np.testing.assert_allclose(io.read_point_cloud(tmp_path / "w.ply")[0], points, atol=1e-6)


def test_text_formats(tmp_path):
    points, normals = sphere_cloud(40)
    table = np.hstack([points, normals])
    np.savetxt(tmp_path / "a.xyz", points)
    np.savetxt(tmp_path / "b.csv", table, delimiter=",", header="x,y,z,nx,ny,nz", comments="")
    np.savetxt(tmp_path / "c.txt", table, delimiter="\t")
    for name, has_normals in [("a.xyz", False), ("b.csv", True), ("c.txt", True)]:
        got, got_normals, _ = io.read_point_cloud(tmp_path / name)
        np.testing.assert_allclose(got, points, atol=1e-6)
        assert (got_normals is not None) == has_normals


def test_text_header_and_comments_tolerated(tmp_path):
    points, _ = sphere_cloud(12)
    rows = "\n".join(f"{x} {y} {z}" for x, y, z in points)
    (tmp_path / "h.xyz").write_text(f"X Y Z\n# a comment\n\n{rows}\n// another\n")
    got, _, notices = io.read_point_cloud(tmp_path / "h.xyz")
    np.testing.assert_allclose(got, points, atol=1e-6)
    assert notices == ["skipped 1 header line: 'X Y Z'"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be"])
def test_text_with_byte_order_mark_and_crlf(tmp_path, encoding):
    points, _ = sphere_cloud(9)
    text = "".join(f"{x},{y},{z}\r\n" for x, y, z in points)
    bom = "\ufeff" if encoding == "utf-16-be" else ""   # the other two codecs write their own
    (tmp_path / "bom.csv").write_bytes((bom + text).encode(encoding))
    got, _, notices = io.read_point_cloud(tmp_path / "bom.csv")
    np.testing.assert_allclose(got, points, atol=1e-6)
    assert notices == []


def test_pts_with_count_line_and_colours(tmp_path):
    points, _ = sphere_cloud(25)
    rgb = RNG.integers(0, 256, size=(25, 3))
    rows = "\n".join(f"{x} {y} {z} 17 {r} {g} {b}" for (x, y, z), (r, g, b) in zip(points, rgb))
    (tmp_path / "s.pts").write_text(f"25\n{rows}\n")
    got, got_normals, notices = io.read_point_cloud(tmp_path / "s.pts")
    np.testing.assert_allclose(got, points, atol=1e-6)
    assert got_normals is None
    assert notices[:2] == ["skipped 1 header line: '25'", "ignored column 7 (rows have 7 values)"]
    assert any("not unit vectors" in n for n in notices)


@pytest.mark.parametrize("suffix", [".pwn", ".asc"])
def test_points_with_normals_text_suffixes(tmp_path, suffix):
    points, normals = sphere_cloud(30)
    rows = "".join(" ".join(f"{v:.9g}" for v in row) + "\n" for row in np.hstack([points, normals]))
    (tmp_path / f"s{suffix}").write_text(rows)
    assert io.classify(tmp_path / f"s{suffix}") == "points"
    got, got_normals, notices = io.read_point_cloud(tmp_path / f"s{suffix}")
    np.testing.assert_allclose(got, points, atol=1e-6)
    np.testing.assert_allclose(got_normals, normals, atol=1e-6)
    assert notices == []


@pytest.mark.parametrize("order", ["xyz rgb n", "xyz n rgb", "xyz rgb n extra"])
def test_text_with_colours_and_normals_in_either_order(tmp_path, order):
    points, normals = sphere_cloud(40)
    rgb = RNG.integers(0, 256, size=(40, 3))
    columns = {"xyz rgb n": (points, rgb, normals), "xyz n rgb": (points, normals, rgb),
               "xyz rgb n extra": (points, rgb, normals, np.full((40, 1), 0.5))}[order]
    table = np.hstack(columns)
    (tmp_path / "c.txt").write_text("//X,Y,Z,...\n" + "".join(",".join(f"{v:.9g}" for v in row) + "\n" for row in table))
    got, got_normals, notices = io.read_point_cloud(tmp_path / "c.txt")
    np.testing.assert_allclose(got, points, atol=1e-6)
    np.testing.assert_allclose(got_normals, normals, atol=1e-6)
    expected = {"xyz rgb n": "read columns 7-9 as normals and ignored columns 4-6 (not unit vectors: colours?)",
                "xyz n rgb": "ignored columns 7-9 (rows have 9 values)",
                "xyz rgb n extra": "read columns 7-9 as normals and ignored columns 4-6 (not unit vectors: colours?) "
                                   "and column 10"}[order]
    assert notices == [expected]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_npy(tmp_path, dtype):
    points, normals = sphere_cloud(30, radius=50)
    np.save(tmp_path / "p.npy", points.astype(dtype))
    np.save(tmp_path / "pn.npy", np.hstack([points, normals]).astype(np.float32))
    np.save(tmp_path / "f.npy", np.asfortranarray(points.astype(dtype)))
    expected = points.astype(dtype).astype(np.float32)
    np.testing.assert_array_equal(io.read_point_cloud(tmp_path / "p.npy")[0], expected)
    np.testing.assert_array_equal(io.read_point_cloud(tmp_path / "f.npy")[0], expected)
    got, got_normals, _ = io.read_point_cloud(tmp_path / "pn.npy")
    np.testing.assert_allclose(got_normals, normals, atol=1e-6)


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz(tmp_path, save):
    points, normals = sphere_cloud(30)
    save(tmp_path / "a.npz", labels=np.arange(30), points=points, normals=normals)
    got, got_normals, _ = io.read_point_cloud(tmp_path / "a.npz")
    np.testing.assert_allclose(got, points, atol=1e-6)
    np.testing.assert_allclose(got_normals, normals, atol=1e-6)
    save(tmp_path / "b.npz", labels=np.arange(30), cloud=points)
    got, got_normals, _ = io.read_point_cloud(tmp_path / "b.npz")
    np.testing.assert_allclose(got, points, atol=1e-6)
    assert got_normals is None


@pytest.mark.parametrize("kind", ["ply", "xyz", "npy"])
def test_downsampling_is_uniform_subset_in_file_order(tmp_path, kind, monkeypatch):
    monkeypatch.setattr(pointfiles, "BLOCK_BYTES", 4096)   # many blocks even for a small file
    monkeypatch.setattr(pointfiles, "BLOCK_ROWS", 700)
    monkeypatch.setattr(ply, "BLOCK_ROWS", 700)
    points = np.column_stack([np.arange(5000.0), RNG.random((5000, 2))]).astype(np.float32)
    path = tmp_path / f"d.{kind}"
    if kind == "npy":
        np.save(path, points)
    else:
        io.write_point_cloud(path, points)
    got, _, notices = io.read_point_cloud(path, max_points=1000)
    assert notices == ["downsampled from 5,000 to 1,000 points (uniform random)"]
    ids = got[:, 0].astype(int)
    assert len(np.unique(ids)) == 1000 and np.all(np.diff(ids) > 0)
    np.testing.assert_array_equal(got, points[ids])
    assert 1500 < ids.mean() < 3500                   # spread over the whole file
    again, _, _ = io.read_point_cloud(path, max_points=1000)
    np.testing.assert_array_equal(again, got)         # rng=None is seed 0: reproducible
    other, _, _ = io.read_point_cloud(path, max_points=1000, rng=3)
    assert not np.array_equal(other, got)


def test_row_sampler_is_uniform():
    counts = np.zeros(100)
    for seed in range(200):
        sampler = pointfiles.RowSampler(10, np.random.default_rng(seed))
        for start in range(0, 100, 7):
            sampler.add(np.arange(start, min(start + 7, 100), dtype=float)[:, None])
        counts[sampler.result()[:, 0].astype(int)] += 1
    assert counts.sum() == 2000 and counts.min() > 5 and counts.max() < 40   # expected 20 each


def test_zero_length_normals_are_ignored(tmp_path):
    points, _ = sphere_cloud(20)
    make_ply(tmp_path / "z.ply", "binary_little_endian", points, np.zeros((20, 3)))
    _, normals, notices = io.read_point_cloud(tmp_path / "z.ply")
    assert normals is None
    assert notices == ["the file's normals were ignored: 20 of 20 have zero length"]


# ----------------------------------------------------------------------- meshes


def test_mesh_round_trip_every_format(tmp_path):
    mesh = trimesh.creation.icosphere(2)
    for ext in io.MESH_WRITE_EXTS:
        io.write_mesh(tmp_path / f"m{ext}", mesh.vertices, mesh.faces, mesh.vertex_normals)
        got = io.read_mesh(tmp_path / f"m{ext}")
        triangles = np.sort(got.vertices[got.faces].reshape(-1, 9), axis=0)
        np.testing.assert_allclose(triangles, np.sort(mesh.vertices[mesh.faces].reshape(-1, 9), axis=0), atol=1e-6)
        assert io.classify(tmp_path / f"m{ext}") == "mesh"


def test_ply_mesh_exact_vertices_and_normals(tmp_path):
    mesh = trimesh.creation.icosphere(1)
    io.write_mesh(tmp_path / "m.ply", mesh.vertices, mesh.faces, mesh.vertex_normals)
    got = io.read_mesh(tmp_path / "m.ply")
    np.testing.assert_allclose(got.vertices, mesh.vertices, atol=1e-6)
    np.testing.assert_array_equal(got.faces, mesh.faces)
    header = ply.read_header(tmp_path / "m.ply")
    assert header.element("vertex").names == ["x", "y", "z", "nx", "ny", "nz"]


def test_off_and_gltf_read(tmp_path):
    mesh = trimesh.creation.box()
    (tmp_path / "b.off").write_bytes(mesh.export(file_type="off").encode())
    for name, data in mesh.export(file_type="gltf").items():
        (tmp_path / name).write_bytes(data)
    for name in ["b.off", "model.gltf"]:
        got = io.read_mesh(tmp_path / name)
        assert len(got.faces) == 12 and np.allclose(got.bounds, mesh.bounds)


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_ply_polygons_are_triangulated(tmp_path, fmt):
    points = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1]], float)
    faces = [[0, 1, 2, 3], [0, 1, 4], [1, 2, 5, 4, 0], [3, 4]]
    make_ply(tmp_path / "q.ply", fmt, points, faces=faces)
    got = io.read_mesh(tmp_path / "q.ply")
    assert len(got.faces) == 2 + 1 + 3                      # the 2-gon is dropped
    assert {tuple(f) for f in got.faces} >= {(0, 1, 2), (0, 2, 3), (0, 1, 4), (1, 2, 5), (1, 5, 4), (1, 4, 0)}


def test_scene_meshes_are_concatenated(tmp_path):
    scene = trimesh.Scene([trimesh.creation.box(), trimesh.creation.icosphere(1).apply_translation([3, 0, 0])])
    (tmp_path / "s.glb").write_bytes(scene.export(file_type="glb"))
    got = io.read_mesh(tmp_path / "s.glb")
    assert len(got.faces) == 12 + 80
    assert got.bounds[1, 0] == pytest.approx(4.0)


def test_write_mesh_keeps_far_coordinates_in_ply(tmp_path):
    mesh = trimesh.creation.icosphere(1)
    far = mesh.vertices * 0.01 + 1e9
    io.write_mesh(tmp_path / "far.ply", far, mesh.faces)
    assert ply.read_header(tmp_path / "far.ply").element("vertex").properties[0].type == "f8"
    np.testing.assert_array_equal(io.read_mesh(tmp_path / "far.ply").vertices, far)


# ------------------------------------------------------------------ load_input


@pytest.mark.parametrize("offset", [0.0, 1e9])
def test_a_mesh_spooled_in_parts_is_the_file_written_at_once(tmp_path, offset):
    """Parts added to a MeshSpool make, byte for byte, the PLY that write_mesh makes of the whole
    mesh (float32 vertices, or double when float32 would move them: coordinates near 1e9)."""
    rng = np.random.default_rng(5)
    vertices = rng.random((3000, 3)) * 7.0 + offset
    faces = rng.integers(0, 3000, (5000, 3))
    faces = faces[np.argsort(faces.max(axis=1), kind="stable")]          # parts only use vertices added so far
    io.write_mesh(tmp_path / "whole.ply", vertices, faces)
    cuts = [0, 700, 701, 2500, 3000]
    with ply.MeshSpool() as spool:
        for lo, hi in zip(cuts, cuts[1:]):
            part = faces[(faces.max(axis=1) >= lo) & (faces.max(axis=1) < hi)]
            spool.add(vertices[lo:hi], part)
        with pytest.raises(ValueError, match="not added yet"):
            spool.add(vertices[:0], [[0, 1, 3000]])
        io.write_spooled_mesh(tmp_path / "parts.ply", spool)
        assert (spool.vertex_count, spool.face_count) == (3000, 5000)
    assert (tmp_path / "parts.ply").read_bytes() == (tmp_path / "whole.ply").read_bytes()
    assert (b"property double x" in (tmp_path / "whole.ply").read_bytes()[:300]) == bool(offset)
    with ply.MeshSpool() as empty:
        with pytest.raises(InputError, match="the mesh is empty"):
            io.write_spooled_mesh(tmp_path / "empty.ply", empty)
        with pytest.raises(InputError, match="cannot write '.obj' files; use one of .ply"):
            io.write_spooled_mesh(tmp_path / "m.obj", empty)
    assert not (tmp_path / "empty.ply").exists()


def test_load_input_mesh_becomes_samples_and_unit_gt(tmp_path):
    mesh = trimesh.creation.icosphere(3, radius=5.0).apply_translation([10, -3, 2])
    io.write_mesh(tmp_path / "s.obj", mesh.vertices, mesh.faces)
    data = io.load_input(tmp_path / "s.obj", n_mesh_samples=5000)
    assert data.kind == "points" and data.points.shape == (5000, 3) and data.points.dtype == np.float32
    assert np.allclose(np.linalg.norm(data.points, axis=1), 0.5, atol=0.01)
    assert np.mean(np.sum(data.normals * data.points, axis=1) > 0) > 0.99
    np.testing.assert_allclose(np.linalg.norm(data.normals, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(data.gt_mesh.bounds, [[-0.5] * 3, [0.5] * 3], atol=1e-6)
    np.testing.assert_allclose(data.normalization.to_user(data.gt_mesh.vertices), mesh.vertices, atol=1e-9)
    again = io.load_input(tmp_path / "s.obj", n_mesh_samples=5000)
    np.testing.assert_array_equal(again.points, data.points)
    assert data.notices == ["sampled 5,000 surface points from 1,280 faces"]


def test_load_input_ply_with_and_without_faces(tmp_path):
    mesh = trimesh.creation.box()
    io.write_mesh(tmp_path / "box.ply", mesh.vertices, mesh.faces)
    io.write_point_cloud(tmp_path / "cloud.ply", mesh.vertices)
    assert io.load_input(tmp_path / "box.ply", n_mesh_samples=100).gt_mesh is not None
    cloud = io.load_input(tmp_path / "cloud.ply")
    assert cloud.gt_mesh is None and len(cloud.points) == 8
    assert io.classify(tmp_path / "box.ply") == "mesh" and io.classify(tmp_path / "cloud.ply") == "points"


def test_load_input_point_cloud_is_normalised(tmp_path):
    points, normals = sphere_cloud(500, radius=3, center=(5, 6, 7))
    io.write_point_cloud(tmp_path / "c.ply", points, normals)
    data = io.load_input(tmp_path / "c.ply")
    extent = data.points.max(axis=0) - data.points.min(axis=0)
    assert extent.max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose((data.points.max(axis=0) + data.points.min(axis=0)) / 2, 0, atol=1e-6)
    np.testing.assert_allclose(data.normalization.to_user(data.points), points, atol=1e-5)
    assert data.summary() == "500 points with normals"


def test_load_input_keeps_precision_of_far_coordinates(tmp_path):
    points, _ = sphere_cloud(300, radius=1.0, center=(1e9, -2e9, 3e9))
    np.savetxt(tmp_path / "far.xyz", points, fmt="%.17g")
    data = io.load_input(tmp_path / "far.xyz")
    expected = (points - data.normalization.center) / data.normalization.scale
    np.testing.assert_allclose(data.points, expected, atol=1e-6)   # float32 first would be off by ~0.03
    assert data.normalization.scale == pytest.approx(2.0, rel=0.05)


def test_load_input_image(tmp_path):
    Image.fromarray(RNG.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(tmp_path / "i.png")
    data = io.load_input(tmp_path / "i.png")
    assert data.kind == "image" and data.image.shape == (40, 60, 3) and data.summary() == "image 60x40"


# ---------------------------------------------------------------------- images


def _save(tmp_path, name, image, **options):
    image.save(tmp_path / name, **options)
    return io.read_image(tmp_path / name)


def test_image_modes(tmp_path):
    rgb = RNG.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_save(tmp_path, "rgb.png", Image.fromarray(rgb)), rgb)
    np.testing.assert_array_equal(_save(tmp_path, "rgb.bmp", Image.fromarray(rgb)), rgb)
    gray = rgb[:, :, 0]
    np.testing.assert_array_equal(_save(tmp_path, "g.png", Image.fromarray(gray)), np.dstack([gray] * 3))
    deep = (gray.astype(np.uint16) * 257)
    np.testing.assert_array_equal(_save(tmp_path, "g16.png", Image.fromarray(deep)), np.dstack([gray] * 3))
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    got = _save(tmp_path, "p.png", palette)
    np.testing.assert_array_equal(got, np.asarray(palette.convert("RGB")))
    smooth = np.dstack([np.tile(np.linspace(0, 255, 30, dtype=np.uint8), (20, 1))] * 3)
    jpeg = _save(tmp_path, "j.jpg", Image.fromarray(smooth), quality=95)
    assert jpeg.shape == (20, 30, 3) and np.abs(jpeg.astype(int) - smooth).mean() < 3


def _png16(array: np.ndarray, color_type: int) -> bytes:
    """A 16-bit PNG (color_type 2 = RGB, 6 = RGBA) written by hand: Pillow cannot write one."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width = array.shape[:2]
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_16_bit_colour_images(tmp_path):
    rgb = (np.arange(16 * 20 * 3).reshape(16, 20, 3) * 300 % 65536).astype(np.uint16)
    rgba = np.concatenate([rgb, np.full((16, 20, 1), 65535, np.uint16)], axis=2)
    (tmp_path / "rgb16.png").write_bytes(_png16(rgb, 2))
    (tmp_path / "rgba16.png").write_bytes(_png16(rgba, 6))
    for name in ["rgb16.png", "rgba16.png"]:
        got = io.read_image(tmp_path / name)
        assert got.dtype == np.uint8 and got.shape == (16, 20, 3)
        assert np.abs(got.astype(int) - (rgb >> 8)).max() <= 1


def test_transparency_composited_on_white(tmp_path):
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[:, :8] = [255, 0, 0, 255]        # opaque red | fully transparent black
    rgba[:, 8:12, 3] = 128                # half-transparent black
    got = _save(tmp_path, "a.png", Image.fromarray(rgba))
    assert (got[:, :8] == [255, 0, 0]).all()
    assert (got[:, 12:] == 255).all()
    assert (np.abs(got[:, 8:12].astype(int) - 127) <= 1).all()
    la = Image.fromarray(rgba[:, :, [0, 3]], mode="LA")
    assert (_save(tmp_path, "la.png", la)[:, 12:] == 255).all()


def test_large_jpeg_decoded_at_reduced_scale(tmp_path, caplog):
    Image.new("RGB", (1600, 1200), (10, 200, 30)).save(tmp_path / "big.jpg")
    got = io.read_image(tmp_path / "big.jpg", max_pixels=200_000)
    assert got.shape == (300, 400, 3)     # 1/4 scale: 1/2 would still be 480,000 pixels
    assert abs(int(got[150, 200, 1]) - 200) < 5
    data = io.load_input(tmp_path / "big.jpg")
    assert data.image.shape == (1200, 1600, 3)


# ----------------------------------------------------------------- classify & write


def test_classify_by_extension_and_content(tmp_path):
    assert io.classify(tmp_path / "none.obj") == "mesh"
    assert io.classify(tmp_path / "none.xyz") == "points"
    assert io.classify(tmp_path / "none.JPG") == "image"
    points, _ = sphere_cloud(10)
    make_ply(tmp_path / "disguised.xyz", "binary_little_endian", points)
    assert io.classify(tmp_path / "disguised.xyz") == "points"
    got, _, notices = io.read_point_cloud(tmp_path / "disguised.xyz")
    np.testing.assert_allclose(got, points, atol=1e-6)
    assert notices == ["disguised.xyz holds PLY data despite its .xyz extension; read as PLY"]
    with pytest.raises(InputError, match="unsupported file type '.docx'"):
        io.classify(tmp_path / "a.docx")
    assert set(io.SUPPORTED_POINT_EXTS) & set(io.SUPPORTED_IMAGE_EXTS) == set()


def test_write_keeps_permissions_and_leaves_no_temp_files(tmp_path):
    mesh = trimesh.creation.box()
    target = tmp_path / "out.obj"
    target.write_text("old")
    os.chmod(target, 0o640)
    io.write_mesh(target, mesh.vertices, mesh.faces)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert len(io.read_mesh(target).faces) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.obj"]


def test_xyz_writer_precision(tmp_path):
    far = np.array([[1e9 + 0.001, 2.5, -3.0]] * 8) + np.arange(8)[:, None]
    io.write_point_cloud(tmp_path / "f.xyz", far)
    assert np.loadtxt(tmp_path / "f.xyz")[0, 0] == 1e9 + 0.001
