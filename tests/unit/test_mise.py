import threading
import time

import numpy as np
import pytest
import trimesh

from conftest import sphere_field, torus_field
from implicit_studio.engine.meshing import dense_grid, extract_mesh, mise
from implicit_studio.engine.meshing.mise import active_voxels, upsample

SPHERE_REF = 133_813  # DESIGN.md section 6: evaluations of the official ONet implementation
TORUS_REF = 105_257   # on these fields (res0 32, 2 levels, box 1.1); evaluate/speed.py REFERENCE_EVALUATIONS


def test_sphere_counts_and_surface():
    levels = list(mise(sphere_field(0.35), resolution0=32, levels=2, threshold=0.0, box=1.1))
    assert [lv.level for lv in levels] == [0, 1, 2]
    assert levels[0].evaluations == 33 ** 3
    assert levels[-1].evaluations == SPHERE_REF     # equal: one layer of corners more or less changes it
    assert np.all(np.diff([lv.evaluations for lv in levels]) > 0)
    for lv in levels:
        mesh = trimesh.Trimesh(lv.vertices, lv.faces, process=True)
        assert mesh.is_watertight
        assert mesh.volume > 0  # outward orientation
    radius = np.linalg.norm(levels[-1].vertices, axis=1)
    assert np.abs(radius - 0.35).max() < 0.005
    assert 55_000 < len(levels[-1].faces) < 70_000


def test_torus_counts_and_watertight():
    levels = list(mise(torus_field(), resolution0=32, levels=2, threshold=0.0, box=1.1))
    assert levels[-1].evaluations == TORUS_REF
    mesh = trimesh.Trimesh(levels[-1].vertices, levels[-1].faces)
    assert mesh.is_watertight
    assert mesh.euler_number == 0  # genus one
    assert abs(mesh.volume - 2 * np.pi ** 2 * 0.3 * 0.1 ** 2) / mesh.volume < 0.01


def test_far_fewer_evaluations_than_dense():
    levels = list(mise(sphere_field()))          # the defaults are the papers': a 32^3 grid, 2 levels
    assert [lv.resolution for lv in levels] == [32, 64, 128]
    assert levels[-1].evaluations < 0.1 * 129 ** 3


def test_levels_report_resolution_counts_peak_and_times():
    started = time.perf_counter()
    levels = list(mise(sphere_field(0.35), 16, 2, threshold=0.0, box=1.1))
    elapsed = time.perf_counter() - started
    assert [lv.resolution for lv in levels] == [16, 32, 64]
    assert [lv.new_evaluations for lv in levels] == list(np.diff([0] + [lv.evaluations for lv in levels]))
    for lv in levels:
        assert lv.peak == pytest.approx(0.35)      # the grid holds the centre, where the field is largest
        assert 0.0 <= lv.field_seconds <= elapsed and 0.0 <= lv.marching_seconds <= elapsed


def ellipsoid_field(p):
    """Inside where positive: an ellipsoid centred at (0.1, -0.05, 0) with half axes 0.3, 0.2, 0.1."""
    return 1.0 - ((p[:, 0] - 0.1) / 0.3) ** 2 - ((p[:, 1] + 0.05) / 0.2) ** 2 - (p[:, 2] / 0.1) ** 2


def test_axes_keep_their_order():
    """An off-centre ellipsoid with three different axes comes out where and as long as it is."""
    final = list(mise(ellipsoid_field, 16, 2))[-1]
    lo, hi = final.vertices.min(axis=0), final.vertices.max(axis=0)
    np.testing.assert_allclose((lo + hi) / 2, [0.1, -0.05, 0.0], atol=0.01)
    np.testing.assert_allclose((hi - lo) / 2, [0.3, 0.2, 0.1], atol=0.01)


def test_field_gets_float32_points_and_may_return_a_column():
    seen = set()

    def column(p):
        seen.add(p.dtype)
        return sphere_field()(p)[:, None]       # (N, 1), as a decoder may return it
    shaped = list(mise(column, 16, 1))[-1]
    flat = list(mise(sphere_field(), 16, 1))[-1]
    assert seen == {np.dtype(np.float32)}
    np.testing.assert_array_equal(shaped.vertices, flat.vertices)
    np.testing.assert_array_equal(shaped.faces, flat.faces)


def test_corner_on_the_threshold_is_outside():
    """Inside is value > threshold: a voxel whose corners are all at or below it holds no surface."""
    values = np.zeros((2, 2, 2), np.float32)
    values[0, 0, 0] = -1.0
    evaluated = np.ones((2, 2, 2), bool)
    assert not active_voxels(values, evaluated, 0.0).any()
    values[1, 1, 1] = 0.5
    assert active_voxels(values, evaluated, 0.0).all()
    evaluated[1, 1, 1] = False                  # a corner known only by interpolation
    assert not active_voxels(values, evaluated, 0.0).any()


@pytest.mark.parametrize("resolution0, levels", [(0, 0), (4, -1)])
def test_bad_grid_is_an_error(resolution0, levels):
    with pytest.raises(ValueError, match=r"^resolution0 must be >= 1 and levels >= 0$"):
        list(mise(sphere_field(), resolution0, levels))


def test_one_voxel_grid():
    only = list(mise(sphere_field(0.5), 1, 0))
    assert len(only) == 1 and only[0].evaluations == 8


def test_shape_touching_box_is_closed():
    # A sphere larger than the box: the padding closes it at the box faces.
    final = list(mise(sphere_field(0.7), 16, 1))[-1]
    mesh = trimesh.Trimesh(final.vertices, final.faces)
    assert mesh.is_watertight
    assert np.abs(final.vertices).max() <= 0.55 + 0.01 * 1.1 / 32


def test_empty_field_gives_empty_mesh():
    levels = list(mise(lambda p: -np.ones(len(p)), 16, 2))
    assert all(len(lv.faces) == 0 for lv in levels)
    # nothing is active, so no new points after the first grid
    assert levels[-1].evaluations == 17 ** 3


def test_batches_and_cancel_between_batches():
    calls = []
    flag = threading.Event()

    def field(p):
        calls.append(len(p))
        if len(calls) == 3:
            flag.set()
        return sphere_field()(p)

    levels = list(mise(field, 32, 2, batch_size=5000, cancel=flag))
    assert max(calls) <= 5000
    assert levels == []  # cancelled inside the first level
    assert len(calls) == 3


def test_cancel_callable_stops_after_first_level():
    seen = []
    for level in mise(sphere_field(), 16, 2, cancel=lambda: len(seen) > 0):
        seen.append(level)
    assert len(seen) == 1


def test_field_with_wrong_output_size_is_an_error():
    with pytest.raises(ValueError, match="field returned 3 values for 729 points"):
        list(mise(lambda p: np.zeros(3), 8, 0))


def test_upsample_is_exact_on_linear_fields():
    n = 5
    grid = np.stack(np.meshgrid(*(np.arange(n, dtype=np.float64),) * 3, indexing="ij"), -1)
    lin = grid @ np.array([1.0, -2.0, 0.5])
    fine = upsample(lin)
    grid2 = np.stack(np.meshgrid(*(np.arange(2 * n - 1) / 2.0,) * 3, indexing="ij"), -1)
    assert np.allclose(fine, grid2 @ np.array([1.0, -2.0, 0.5]))
    assert upsample(lin.astype(np.float32)).dtype == np.float32     # fine grids stay half the size of float64


def test_dense_grid_matches_mise_at_level_zero():
    dense = dense_grid(sphere_field(), 16)
    v, f = extract_mesh(dense, 0.0, 1.1)
    first = next(mise(sphere_field(), 16, 0))
    assert np.allclose(v, first.vertices) and np.array_equal(f, first.faces)


def test_dense_grid_axes_dtype_and_cancel():
    def field(p):
        return p[:, 0] + 10 * p[:, 1] + 100 * p[:, 2]
    grid = dense_grid(field, 4, box=1.0)
    assert grid.dtype == np.float32 and grid.shape == (5, 5, 5)
    ticks = np.linspace(-0.5, 0.5, 5)
    np.testing.assert_allclose(grid, ticks[:, None, None] + 10 * ticks[None, :, None] + 100 * ticks[None, None, :],
                               atol=1e-4)
    cancelled = threading.Event()
    cancelled.set()
    assert dense_grid(field, 4, cancel=cancelled) is None


def test_known_first_grid_is_reused_and_evaluates_nothing_at_level_zero():
    """``coarse`` (an earlier level 0's ``grid`` of the same field) replaces the first grid's evaluations:
    the same meshes at every level, and only the refinement's corners are evaluated, so the count ends at
    the official reference minus the 33^3 corners of the first grid."""
    first = list(mise(sphere_field(0.35), resolution0=32, levels=2, threshold=0.0, box=1.1))
    np.testing.assert_array_equal(first[0].grid, dense_grid(sphere_field(0.35), 32, 1.1))   # grid: level 0's values
    calls = []

    def counted(points):
        calls.append(len(points))
        return sphere_field(0.35)(points)

    again = mise(counted, resolution0=32, levels=2, threshold=0.0, box=1.1, coarse=first[0].grid)
    level0 = next(again)
    assert calls == [] and level0.evaluations == 0 and level0.new_evaluations == 0
    rest = list(again)
    assert rest[-1].evaluations == SPHERE_REF - 33 ** 3 == sum(calls)
    for old, new in zip(first, [level0] + rest):
        assert (new.level, new.resolution) == (old.level, old.resolution)
        np.testing.assert_array_equal(new.vertices, old.vertices)
        np.testing.assert_array_equal(new.faces, old.faces)
    np.testing.assert_array_equal(first[0].grid, dense_grid(sphere_field(0.35), 32, 1.1))   # never modified


def test_known_first_grid_of_another_size_is_an_error():
    """A ``coarse`` grid must have the first level's (resolution0 + 1)^3 corners."""
    with pytest.raises(ValueError, match=r"^coarse values must have shape \(17, 17, 17\), not \(9, 9, 9\)$"):
        next(mise(sphere_field(), 16, 1, coarse=np.zeros((9, 9, 9), np.float32)))
