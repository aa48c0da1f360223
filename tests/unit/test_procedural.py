"""Procedural shapes: exact labels agree with the mesh, draws are reproducible, families split."""

import numpy as np
import pytest

from implicit_studio.train.data import procedural
from implicit_studio.train.data.build import assign_split, compute_shape, BuildConfig
from implicit_studio.train.data.dataset import _unpack

RESOLUTION = 48     # coarser than the builder's, to keep the tests quick


def _inside_mesh(vertices, faces, points):
    import igl

    return igl.fast_winding_number(vertices, faces, points) > 0.5


@pytest.mark.parametrize("family", sorted(procedural.FAMILIES))
def test_exact_labels_agree_with_the_mesh_away_from_the_surface(family):
    vertices, faces, f = procedural.make_shape(family, np.random.default_rng(7), RESOLUTION)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    points = np.random.default_rng(1).uniform(lo - 0.05, hi + 0.05, (20000, 3))
    values = procedural.evaluate(f, points)
    voxel = float((hi - lo).max()) / RESOLUTION
    far = np.abs(values) > 2.0 * voxel          # beyond the meshing error of a couple of voxels
    assert far.mean() > 0.5
    inside = values < 0
    assert 0.0 < inside.mean() < 1.0
    assert np.mean(inside[far] == _inside_mesh(vertices, faces, points[far])) > 0.999


def test_primitives_have_the_right_inside():
    p = np.array([[0.0, 0.0, 0.0], [0.35, 0.0, 0.0], [0.0, 0.45, 0.0]])
    assert (procedural.sphere(0.4)(p) < 0).tolist() == [True, True, False]
    assert (procedural.torus(0.3, 0.1)(p) < 0).tolist() == [False, True, False]
    assert (procedural.cylinder(0.4, 0.4)(p) < 0).tolist() == [True, True, False]
    cut = procedural.difference(procedural.box(np.full(3, 0.5)), procedural.sphere(0.2))
    assert (cut(p) < 0).tolist() == [False, True, True]
    # a superquadric with exponents 1 is the ellipsoid
    q = np.random.default_rng(0).uniform(-0.6, 0.6, (5000, 3))
    half = np.array([0.5, 0.3, 0.2])
    assert np.array_equal(procedural.superquadric(half, 1.0, 1.0)(q) < 0, ((q / half) ** 2).sum(axis=1) < 1)


def test_a_twist_keeps_the_axis_and_turns_the_ends():
    bar = procedural.box(np.array([0.3, 0.5, 0.02]))
    twisted = procedural.twisted(bar, np.pi)            # half a turn per unit: a quarter turn at y = 0.5
    assert twisted(np.array([[0.25, 0.0, 0.0]]))[0] < 0
    assert twisted(np.array([[0.0, 0.49, 0.25]]))[0] < 0     # the end is turned by 90 degrees
    assert twisted(np.array([[0.25, 0.49, 0.0]]))[0] > 0


def test_shapes_are_reproducible_by_seed():
    a = procedural.make_shape("organic", np.random.default_rng([0, 5]), RESOLUTION)
    b = procedural.make_shape("organic", np.random.default_rng([0, 5]), RESOLUTION)
    c = procedural.make_shape("organic", np.random.default_rng([1, 5]), RESOLUTION)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[0].shape != c[0].shape or not np.array_equal(a[0], c[0])


def test_built_shape_labels_come_from_the_function():
    rng = np.random.default_rng(3)
    vertices, faces, f = procedural.make_shape("rings", rng, RESOLUTION)
    colors = np.full((len(faces), 3), 128, np.uint8)
    config = BuildConfig(n_points=4000, n_views=1, image_size=32)
    arrays = compute_shape(vertices, faces, colors, rng, config, exact=f)
    # the unit frame: bounding-box centre at 0, longest side 1
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    user = arrays["uniform_points"].astype(np.float64) * (hi - lo).max() + (lo + hi) / 2
    assert np.array_equal(_unpack(arrays["uniform_occ"], 4000), procedural.evaluate(f, user) < 0)
    # normals point outwards: a small step along them leaves the solid
    surface = arrays["surface_points"].astype(np.float64) * (hi - lo).max() + (lo + hi) / 2
    normals = arrays["surface_normals"].astype(np.float64)
    outside = procedural.evaluate(f, surface + 0.01 * normals) > 0
    assert outside.mean() > 0.95


def test_held_out_families_and_sources_go_to_the_unfamiliar_split():
    assert assign_split("procedural-gears-0001", "gears", 0, (), "procedural") == "unfamiliar"
    assert assign_split("openscad-old-example001", "Old", 0, (), "openscad") == "unfamiliar"
    splits = {assign_split(f"procedural-blocks-{i:04d}", "blocks", 0, (), "procedural") for i in range(100)}
    assert splits == {"train", "val", "test"}


def test_every_family_has_shapes_and_ids_are_unique():
    ids = procedural.shape_ids()
    assert len({i for i, _ in ids}) == len(ids)
    assert {family for _, family in ids} == set(procedural.FAMILIES)
