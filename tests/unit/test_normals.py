"""PCA normals with MST orientation: accuracy, outward orientation, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from implicit_studio.io.normals import estimate_normals

RNG = np.random.default_rng(3)


def sphere(n, radius=1.0, center=(0.0, 0.0, 0.0)):
    """Points (n, 3) on a sphere and their outward normals (n, 3)."""
    out = RNG.normal(size=(n, 3))
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return np.asarray(center) + radius * out, out


def torus(n, big=0.3, small=0.1):
    """Points (n, 3) on a torus around z and their outward normals (n, 3)."""
    u, v = RNG.random((2, n)) * 2 * np.pi
    ring = big + small * np.cos(v)
    points = np.column_stack([ring * np.cos(u), ring * np.sin(u), small * np.sin(v)])
    normals = np.column_stack([np.cos(v) * np.cos(u), np.cos(v) * np.sin(u), np.sin(v)])
    return points, normals


def outward_fraction(estimated, truth):
    return float(np.mean(np.sum(estimated * truth, axis=1) > 0))


def test_sphere_normals_point_outward_and_are_accurate():
    points, truth = sphere(5000)
    normals = estimate_normals(points)
    assert normals.shape == (5000, 3) and normals.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    assert outward_fraction(normals, truth) > 0.98
    assert np.median(np.abs(np.sum(normals * truth, axis=1))) > 0.99


def test_torus_normals_point_outward():
    points, truth = torus(8000)
    assert outward_fraction(estimate_normals(points), truth) > 0.98


def test_noisy_sphere():
    points, truth = sphere(5000)
    points += RNG.normal(scale=0.005, size=points.shape)
    assert outward_fraction(estimate_normals(points, k=24), truth) > 0.98


def test_separate_components_each_seeded():
    a, na = sphere(3000, 0.3)
    b, nb = sphere(3000, 0.2, center=(2.0, 0.5, 0.0))
    c, nc = torus(4000)
    c = c + [-2.0, 0.0, 0.0]
    normals = estimate_normals(np.concatenate([a, b, c]))
    assert outward_fraction(normals, np.concatenate([na, nb, nc])) > 0.98


def test_20k_points_in_sane_time():
    """CPU time, best of three: wall time on the shared 2-core machine varies 3x with load
    (0.3 s CPU = 0.3 s wall when idle)."""
    points, truth = sphere(20_000)
    timings = []
    for _ in range(3):
        start = time.process_time()
        normals = estimate_normals(points)
        timings.append(time.process_time() - start)
    assert min(timings) < 10.0  # ~0.3 s CPU idle; a sanity bound only
    assert outward_fraction(normals, truth) > 0.98


def test_small_and_duplicate_inputs():
    plane = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], float)
    normals = estimate_normals(plane)
    np.testing.assert_allclose(np.abs(normals[:, 2]), 1.0, atol=1e-6)
    points, _ = sphere(200)
    doubled = estimate_normals(np.concatenate([points, points]))
    assert np.isfinite(doubled).all()
    with pytest.raises(ValueError, match=r"N >= 3, got \(2, 3\)"):
        estimate_normals(np.zeros((2, 3)))
