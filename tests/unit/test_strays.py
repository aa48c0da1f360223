"""Stray points far from a cloud are left out before it is fitted to the unit box; shapes keep their tips."""

from __future__ import annotations

import warnings

import numpy as np

from implicit_studio.io import files as io
from implicit_studio.io.strays import stray_points

RNG = np.random.default_rng(11)


def ball(n: int, radius: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) points on a sphere about the origin and their normals (n, 3)."""
    normals = RNG.normal(size=(n, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return radius * normals, normals


def far_points(n: int, distance: float) -> np.ndarray:
    directions = RNG.normal(size=(n, 3))
    return distance * directions / np.linalg.norm(directions, axis=1, keepdims=True)


def test_a_few_far_points_are_left_out_and_the_box_fits_the_rest(tmp_path):
    points, normals = ball(2000)
    far = far_points(5, 10.0)
    rows = np.vstack([np.hstack([points, normals]), np.hstack([far, normals[:5]])])
    path = tmp_path / "scan.xyz"
    np.savetxt(path, rows, fmt="%.9g")
    data = io.load_input(path)
    assert len(data.points) == 2000 and len(data.normals) == 2000
    np.testing.assert_allclose(data.normals, normals, atol=1e-6)    # normals stay with their points
    assert np.ptp(data.points, axis=0).max() > 0.99                 # the ball fills the box, not a corner of it
    np.testing.assert_allclose(data.normalization.scale, np.ptp(points, axis=0).max(), rtol=1e-6)
    assert any(n.startswith("left out 5 stray points") for n in data.notices)


def test_long_spread_and_two_part_shapes_keep_every_point():
    t = RNG.uniform(-1, 1, size=(3000, 1))
    rod = np.hstack([20 * t, RNG.normal(scale=0.05, size=(3000, 2))])          # a pole, 20 long
    lollipop = np.vstack([ball(2700)[0], np.hstack([np.zeros((300, 2)), RNG.uniform(-4, -1, size=(300, 1))])])
    pair = np.vstack([ball(1000)[0] - 20.0, ball(1000)[0] + 20.0])            # two objects far apart
    in_box_noise = np.vstack([ball(2970, 0.3)[0], RNG.uniform(-0.5, 0.5, size=(30, 3))])
    for cloud in (rod, lollipop, pair, in_box_noise):
        assert not stray_points(cloud).any()


def test_small_or_degenerate_clouds_are_left_alone():
    few = np.vstack([ball(60)[0], far_points(2, 50.0)])
    assert not stray_points(few).any()                           # under MIN_POINTS: a far point may be a part
    same = np.vstack([np.zeros((990, 3)), far_points(10, 5.0)])  # the rest would have no extent
    assert not stray_points(same).any()


def test_a_clean_file_has_no_notice(tmp_path):
    points, _ = ball(500)
    path = tmp_path / "clean.xyz"
    np.savetxt(path, points)
    data = io.load_input(path)
    assert len(data.points) == 500 and not any("stray" in n for n in data.notices)


def test_coordinates_near_the_float64_limit_raise_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spread = RNG.uniform(-1e307, 1e307, size=(500, 3))
        assert not stray_points(spread).any()
        overflowing = np.vstack([ball(500)[0] * 1e307, [[1.7e308, 1.7e308, 1.7e308]]])   # its distance is inf
        assert not stray_points(overflowing)[:500].any()
        far = np.vstack([ball(500)[0], [[1e308, 0.0, 0.0]]])
        assert stray_points(far)[-1] and not stray_points(far)[:500].any()
