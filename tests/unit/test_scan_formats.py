"""LAS and PCD scans: files written here by our own writers read back exactly (to the LAS
scale), with normals where the file has them, NaN points dropped, in bounded memory."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from implicit_studio.errors import InputError
from implicit_studio.io import files as io, las, pcd
from implicit_studio.io.orientation import current_up, reorient
from implicit_studio.io.pointfiles import RowSampler
from scan_writers import las_bytes, lzf_compress, lzf_literals, pcd_binary, pcd_header, scaled

UTM = (500000.0, 4000000.0, 100.0)


def cloud(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, 3) on a unit sphere and their normals (n, 3), float32."""
    normals = np.random.default_rng(seed).normal(size=(n, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return normals.astype(np.float32) * 2, normals.astype(np.float32)


def read_rows(reader, path: Path) -> np.ndarray:
    """All rows a module reader streams, unsampled: (n, 3) or (n, 6) float64."""
    sampler = RowSampler(10**7, np.random.default_rng(0))
    assert reader(path, sampler) == []
    return sampler.result()


# -------------------------------------------------------------------------------- LAS


@pytest.mark.parametrize("fmt, version, extra", [(0, (1, 2), 0), (1, (1, 2), 0), (3, (1, 3), 0), (6, (1, 4), 0),
                                                 (1, (1, 2), 7), (6, (1, 4), 12)])
def test_las_reads_back_to_the_scale(tmp_path, fmt, version, extra):
    ints = np.random.default_rng(fmt).integers(-2**31, 2**31 - 1, (50, 3), dtype=np.int64) // 1000
    path = tmp_path / "scan.las"
    path.write_bytes(las_bytes(ints, fmt, version, offset=UTM, extra=extra))
    np.testing.assert_array_equal(read_rows(las.read_las_points, path), scaled(ints, offset=UTM))


def test_las_with_utm_offsets_loads_in_float64(tmp_path):
    """A 40 m scan at UTM coordinates with millimetre steps: normalised in float64, its
    millimetres survive the unit frame."""
    ints = np.random.default_rng(1).integers(0, 40_000, (2000, 3))
    path = tmp_path / "utm.las"
    path.write_bytes(las_bytes(ints, 1, offset=UTM))
    data = io.load_input(path)
    assert data.normals is None
    back = data.normalization.to_user(data.points.astype(np.float64))
    np.testing.assert_allclose(back, scaled(ints, offset=UTM), rtol=0, atol=1e-5)
    assert io.classify(path) == "points"


def test_las_comes_turned_z_up_and_says_so(tmp_path):
    """A LAS cloud's z is its height: load_input stands it up for the models (file z along +y)
    and records the turn, so ``reorient`` can still put any other axis up."""
    ints = np.stack(np.meshgrid(np.arange(10), np.arange(20), np.arange(40)), -1).reshape(-1, 3) * 100
    path = tmp_path / "tall.las"
    path.write_bytes(las_bytes(ints, 1, offset=UTM))
    data = io.load_input(path)
    assert current_up(data) == "+z"
    assert data.notices == ["LAS heights are z: turned so that +z is up (the Up axis box or --up changes it)"]
    np.testing.assert_allclose(np.ptp(data.points, axis=0), [9 / 39, 1.0, 19 / 39], atol=1e-6)   # x, z, y of the file
    as_file = reorient(data, "+y")
    assert current_up(as_file) == "+y"
    np.testing.assert_allclose(np.ptp(as_file.points, axis=0), [9 / 39, 19 / 39, 1.0], atol=1e-6)


def test_las_named_otherwise_is_sniffed(tmp_path):
    path = tmp_path / "scan.xyz"
    path.write_bytes(las_bytes(np.arange(30).reshape(10, 3)))
    points, _, notices = io.read_point_cloud(path)
    assert len(points) == 10
    assert notices == ["scan.xyz holds LAS data despite its .xyz extension; read as LAS"]


def test_ten_million_point_las_is_sampled_in_bounded_memory(tmp_path):
    """200 MB of format-0 records: viewed through a memory map in blocks; the Python heap
    stays around one block plus the kept sample."""
    path = tmp_path / "ten_million.las"
    block = np.random.default_rng(0).integers(0, 10**6, (1_000_000, 3))
    head = las_bytes(block[:0], count=10_000_000, offset=UTM)
    records = np.zeros((len(block), 20), np.uint8)
    records[:, :12] = block.astype("<i4").view(np.uint8).reshape(-1, 12)
    with open(path, "wb") as f:
        f.write(head)
        for _ in range(10):
            f.write(records.tobytes())
    check_ten_million_sampled(path)


def check_ten_million_sampled(path: Path) -> None:
    """Reading the 10,000,000 points of ``path`` keeps 100,000 with a Python heap peak
    under 150 MB (about one block plus the kept sample)."""
    tracemalloc.start()
    start = time.perf_counter()
    points, _, notices = io.read_point_cloud(path, max_points=100_000)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert points.shape == (100_000, 3)
    assert notices == ["downsampled from 10,000,000 to 100,000 points (uniform random)"]
    assert peak < 150e6, f"peak {peak / 1e6:.0f} MB"
    assert elapsed < 30.0   # ~1.5 s idle; a sanity bound only (benchmarks measure speed)


def test_laz_is_refused_with_a_hint(tmp_path):
    ints = np.arange(30).reshape(10, 3)
    for name, fmt in (("a.laz", 1), ("b.las", 0x80 | 1), ("c.las", 0x40 | 3)):
        path = tmp_path / name
        path.write_bytes(las_bytes(ints, fmt))
        with pytest.raises(InputError, match=r"compressed LAZ is not supported; decompress it to LAS first"):
            io.load_input(path)


# -------------------------------------------------------------------------------- PCD


def test_pcd_ascii_with_normals_and_extra_fields(tmp_path):
    points, normals = cloud(20)
    table = np.hstack([points, np.full((20, 1), 7.0), normals, np.ones((20, 2))])
    text = "".join(" ".join(f"{v:.9g}" for v in row) + "\n" for row in table.astype(np.float32))
    path = tmp_path / "a.pcd"
    path.write_bytes(pcd_header("x y z rgb normal_x normal_y normal_z curvature", 20, "ascii",
                                counts="1 1 1 1 1 1 1 2") + text.encode())
    got, got_normals, notices = io.read_point_cloud(path)
    np.testing.assert_array_equal(got, points)
    np.testing.assert_allclose(got_normals, normals, atol=1e-6)
    assert notices == []


def test_pcd_binary_mixed_types_and_padding(tmp_path):
    """x, y, z float32 around an int16 and a 3-byte padding field; double z is read too."""
    points, _ = cloud(15, seed=3)
    dtype = np.dtype([("x", "<f4"), ("label", "<i2"), ("y", "<f4"), ("_", "u1", (3,)), ("z", "<f8")])
    records = np.zeros(15, dtype)
    records["x"], records["y"], records["z"] = points.T
    path = tmp_path / "b.pcd"
    path.write_bytes(pcd_header("x label y _ z", 15, "binary", sizes="4 2 4 1 8", types="F I F U F",
                                counts="1 1 1 3 1") + records.tobytes())
    np.testing.assert_array_equal(read_rows(pcd.read_pcd_points, path), points.astype(np.float64))


@pytest.mark.parametrize("compress", [lzf_literals, lzf_compress], ids=["literals", "back-references"])
def test_pcd_binary_compressed(tmp_path, compress):
    points, normals = cloud(500, seed=4)
    points[::5] = points[0]                 # repeats for the back-references
    table = np.hstack([points, normals])
    path = tmp_path / "c.pcd"
    path.write_bytes(pcd_binary(table, "x y z normal_x normal_y normal_z", compress))
    np.testing.assert_array_equal(read_rows(pcd.read_pcd_points, path), table.astype(np.float64))


def test_lzf_overlapping_back_reference():
    """A back-reference longer than its distance repeats the bytes it copies (a run)."""
    stream = bytes([1]) + b"ab" + bytes([(7 << 5), 3, 1])    # "ab", then 12 bytes from 2 back
    assert pcd.lzf_decompress(stream, 14) == b"ab" * 7
    zeros = lzf_compress(b"\x00" * 1000)
    assert len(zeros) < 20 and pcd.lzf_decompress(zeros, 1000) == b"\x00" * 1000


@pytest.mark.parametrize("stream, size, message", [
    (bytes([0x20, 0]), 1, "points before the start of the output"),
    (bytes([2]) + b"ab", 3, "goes past the end of the stream"),
    (bytes([1]) + b"ab" + bytes([0xE0]), 20, "goes past the end of the stream"),
    (bytes([3]) + b"abcd", 2, "longer than the declared 2 bytes"),
    (bytes([3]) + b"abcd", 9, "shorter than the declared 9"),
])
def test_lzf_refuses_corrupt_streams(stream, size, message):
    with pytest.raises(ValueError, match=message):
        pcd.lzf_decompress(stream, size)


def test_organised_pcd_drops_nan_points_with_the_notice(tmp_path):
    """A 4 x 5 depth-camera cloud with 6 NaN pixels, binary and binary_compressed."""
    points, _ = cloud(20, seed=5)
    points[[0, 3, 7, 8, 12, 19]] = np.nan
    for name, compress in (("o.pcd", None), ("oc.pcd", lzf_compress)):
        path = tmp_path / name
        path.write_bytes(pcd_binary(points, compress=compress, width=5, height=4))
        got, _, notices = io.read_point_cloud(path)
        np.testing.assert_array_equal(got, points[np.isfinite(points).all(axis=1)])
        assert notices == ["dropped 6 of 20 points with NaN or Inf values"]


def test_old_pcd_header_defaults(tmp_path):
    """COLUMNS instead of FIELDS, no SIZE/TYPE/COUNT (float32) and no WIDTH/HEIGHT."""
    points, _ = cloud(10, seed=6)
    text = "".join(" ".join(f"{v:.9g}" for v in row) + "\n" for row in points)
    path = tmp_path / "old.pcd"
    path.write_text("VERSION .5\nCOLUMNS x y z\nPOINTS 10\nDATA ascii\n" + text)
    np.testing.assert_array_equal(io.read_point_cloud(path)[0], points)
