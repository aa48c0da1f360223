"""Scan-like inputs and random poses: visibility, uneven subsets, labels that follow the pose."""

import numpy as np
import pytest
import torch
from scipy.spatial import Delaunay

from implicit_studio.io.normalize import BOX_HALF
from implicit_studio.train.data import scans
from implicit_studio.train.data.dataset import ShapeDataset, make_synthetic_dataset


def _sphere(n, radius=0.4, seed=0):
    p = np.random.default_rng(seed).normal(size=(n, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    return p * radius, p


def test_a_sphere_seen_from_one_side_is_a_hemisphere():
    points, normals = _sphere(20000)
    for eye in (np.array([0.0, 0.0, 3.0]), np.array([2.0, -1.0, 0.5])):
        seen = scans.visible(points, normals, eye)
        facing = points @ (eye / np.linalg.norm(eye))       # height towards the camera
        assert not seen[facing < -0.02].any()                # nothing of the far side
        assert seen[facing > 0.05].all()                     # all of the near cap
        assert 0.42 < seen.mean() < 0.52


def test_a_near_surface_hides_what_is_behind_it():
    rng = np.random.default_rng(0)
    front = np.column_stack([rng.uniform(-0.3, 0.3, (8000, 2)), np.full(8000, 0.2)])
    back = np.column_stack([rng.uniform(-0.5, 0.5, (8000, 2)), np.full(8000, -0.2)])
    points = np.vstack([front, back])
    normals = np.tile([0.0, 0.0, 1.0], (len(points), 1))
    seen = scans.visible(points, normals, np.array([0.0, 0.0, 4.0]))
    assert seen[:8000].all()
    shadow = np.abs(back[:, :2]).max(axis=1) < 0.25          # behind the front plate (perspective aside)
    assert not seen[8000:][shadow].any()
    assert seen[8000:][np.abs(back[:, :2]).max(axis=1) > 0.4].mean() > 0.95


def test_weighted_subset_is_distinct_and_follows_the_weights():
    rng = np.random.default_rng(0)
    weights = np.r_[np.full(1000, 10.0), np.full(1000, 1.0)]
    picked = scans.weighted_subset(weights, 500, rng)
    assert len(np.unique(picked)) == 500
    assert (picked < 1000).mean() > 0.8
    assert sorted(scans.weighted_subset(weights, 5000, rng)) == list(range(2000))


def test_scan_clouds_have_the_drawn_counts_and_noise_and_outliers():
    points, normals = _sphere(30000)
    kinds = scans.InputKinds(partial=1.0, counts=(1000, 20000), uneven=1.0, noise=(0.0, 0.0), outliers=0.05)
    rng = np.random.default_rng(1)
    for _ in range(5):
        cloud = scans.scan_cloud(points, normals, kinds, 3000, rng)
        assert 10 <= len(cloud) <= scans.SCAN_CANDIDATES
        assert np.allclose(np.linalg.norm(cloud, axis=1), 0.4)
        out = scans.noise_and_outliers(scans.encoder_subset(cloud, 3000, rng), kinds, 0.005, rng)
        assert out.shape == (3000, 3)
        off = np.abs(np.linalg.norm(out, axis=1) - 0.4) > 1e-4
        assert off.mean() <= 0.05 + 1e-9 and np.abs(out).max() <= BOX_HALF


@pytest.mark.parametrize("rotate", ["yaw", "any"])
def test_posed_queries_keep_their_labels_and_fill_the_box(rotate):
    rng = np.random.default_rng(2)
    half = np.array([0.5, 0.3, 0.15])
    inside = lambda p: (np.abs(p) <= half).all(axis=1)          # noqa: E731 - a box, in its own frame
    uniform = rng.uniform(-BOX_HALF, BOX_HALF, (100000, 3))
    cloud = rng.uniform(-half, half, (3000, 3))
    kinds = scans.InputKinds(rotate=rotate, scale=0.3)
    for _ in range(5):
        pose = scans.random_pose(cloud, kinds, rng)
        moved = pose.apply(cloud)
        assert np.isclose(np.ptp(moved, axis=0).max(), 1.0)
        points, labels = scans.posed_uniform_queries(uniform, inside(uniform), 4096, pose, rng)
        assert np.abs(points).max() <= BOX_HALF + 1e-9
        assert np.array_equal(labels, inside(pose.invert(points)))
        assert abs(points.mean()) < 0.05 and points.std() > 0.25     # uniform in the box, not clumped


def test_random_rotations_are_rotations():
    rng = np.random.default_rng(3)
    for kind in ("yaw", "any"):
        r = scans.random_rotation(rng, kind)
        assert np.allclose(r @ r.T, np.eye(3)) and np.isclose(np.linalg.det(r), 1.0)
    assert np.allclose(scans.random_rotation(rng, "yaw")[1], [0.0, 1.0, 0.0])


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("synthetic"), n_shapes=6, n_points=20000,
                                  n_views=1, image_size=32)


def test_rotated_items_keep_inputs_and_labels_together(synthetic):
    """The ellipsoids and boxes are convex: occupied queries lie in the hull of the noiseless
    surface samples, whatever the pose, and free ones mostly do not."""
    kinds = scans.InputKinds(rotate="any", scale=0.25, noise=(0.0, 0.0), partial=0.0)
    ds = ShapeDataset(synthetic, "all", n_input_points=3000, n_queries=4096, near_fraction=0.0, kinds=kinds)
    torch.manual_seed(0)
    for index in (0, 1, 3, 4):        # ellipsoid, box, ellipsoid, box
        item = ds[index]
        hull = Delaunay(item["inputs"].numpy())
        in_hull = hull.find_simplex(item["points"].numpy()) >= 0
        occ = item["occ"].numpy() > 0.5
        assert 0.02 < occ.mean() < 0.9
        assert in_hull[occ].mean() > 0.97
        assert in_hull[~occ].mean() < 0.05


def test_scan_like_items_have_the_usual_shapes(synthetic):
    kinds = scans.InputKinds(partial=0.5, counts=(1000, 20000), uneven=0.5, noise=(0.0, 0.011), outliers=0.01,
                             rotate="any", scale=0.2)
    ds = ShapeDataset(synthetic, "train", n_input_points=3000, n_queries=512, kinds=kinds)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch["inputs"].shape == (2, 3000, 3) and batch["points"].shape == (2, 512, 3)
    with pytest.raises(ValueError):
        ShapeDataset(synthetic, "train", with_images=True, kinds=kinds)
    with pytest.raises(ValueError):
        scans.InputKinds(rotate="sideways")
