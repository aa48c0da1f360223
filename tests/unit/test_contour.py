"""Marching squares: iso-lines lie on the level set, close up, and handle saddles and NaNs."""

import numpy as np

from implicit_studio.engine.meshing.contour import iso_segments


def circle_field(n=64):
    xs = np.linspace(-1, 1, n)
    u, v = np.meshgrid(xs, xs, indexing="ij")
    return xs, 0.5 - np.sqrt(u ** 2 + v ** 2)


def test_circle_segments_lie_on_the_circle_and_close():
    xs, values = circle_field()
    segs = iso_segments(values, 0.0, xs, xs)
    assert segs.shape[1:] == (2, 2) and len(segs) > 50
    radius = np.linalg.norm(segs.reshape(-1, 2), axis=1)
    assert np.abs(radius - 0.5).max() < 0.01
    # a closed curve: every end point is shared by exactly two segments
    ends, counts = np.unique(np.round(segs.reshape(-1, 2), 6), axis=0, return_counts=True)
    assert (counts == 2).all()
    length = np.linalg.norm(segs[:, 0] - segs[:, 1], axis=1).sum()
    assert abs(length - 2 * np.pi * 0.5) < 0.02


def test_default_coordinates_are_indices_and_straight_edge_interpolates():
    values = np.array([[0.0, 0.0], [1.0, 1.0]])   # crosses 0.25 a quarter of the way along axis 0
    segs = iso_segments(values, 0.25)
    assert segs.shape == (1, 2, 2)
    assert np.allclose(np.sort(segs[0, :, 1]), [0.0, 1.0])
    assert np.allclose(segs[0, :, 0], 0.25)


def test_saddle_gives_two_segments_split_by_the_centre():
    values = np.array([[1.0, -1.0], [-1.0, 1.0]])
    assert len(iso_segments(values, 0.5)) == 2
    assert len(iso_segments(values, -0.5)) == 2


def test_flat_tiny_and_nan_inputs():
    assert iso_segments(np.zeros((8, 8)), 0.5).shape == (0, 2, 2)
    assert iso_segments(np.zeros((1, 8)), 0.5).shape == (0, 2, 2)
    xs, values = circle_field(32)
    values[:, :4] = np.nan
    segs = iso_segments(values, 0.0, xs, xs)
    assert np.isfinite(segs).all() and len(segs) > 0
