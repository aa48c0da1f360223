import threading

import numpy as np
import pytest
import trimesh

from conftest import sphere_field, torus_field
from implicit_studio.engine.meshing import dense_grid, extract_mesh, mise
from implicit_studio.engine.meshing.mise import upsample

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
    final = list(mise(sphere_field(), 32, 2))[-1]
    assert final.evaluations < 0.1 * 129 ** 3


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


def test_dense_grid_matches_mise_at_level_zero():
    dense = dense_grid(sphere_field(), 16)
    v, f = extract_mesh(dense, 0.0, 1.1)
    first = next(mise(sphere_field(), 16, 0))
    assert np.allclose(v, first.vertices) and np.array_equal(f, first.faces)
