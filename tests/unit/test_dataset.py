"""ShapeDataset items, the synthetic data set and the renderer's camera convention."""

import numpy as np
import pytest
import torch

from implicit_studio.train.data import render
from implicit_studio.train.data.build import write_shape
from implicit_studio.train.data.dataset import ShapeDataset, load_shape, make_synthetic_dataset, read_manifest


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("synthetic"), n_shapes=6, n_points=4096)


def test_synthetic_set_has_every_split_and_analytic_labels(synthetic):
    manifest = read_manifest(synthetic)
    assert [s["split"] for s in manifest["shapes"]] == ["train"] * 4 + ["val", "test"]
    for s in manifest["shapes"]:
        shape = load_shape(synthetic / "shapes" / f"{s['id']}.npz")
        inside = shape["uniform_occ"]
        assert 0.02 < inside.mean() < 0.8
        assert np.all(np.linalg.norm(shape["surface_normals"], axis=1) > 0.99)
        if s["category"] != "torus":
            assert not inside[np.abs(shape["uniform_points"]).max(axis=1) > 0.5].any()
        for kind in ("uniform", "near"):
            agree, checked = labels_agree_with_surface(shape[f"{kind}_points"], shape[f"{kind}_occ"],
                                                       shape["surface_points"], shape["surface_normals"])
            assert checked > 100, (s["id"], kind)
            # measured 1.0 on ellipsoids and tori, 0.988 to 0.997 on boxes (beside an edge the nearest sample
            # may lie on the other face); labels flipped or at random would agree 0.01 or about 0.5
            assert agree > 0.98, (s["id"], kind, agree)


def labels_agree_with_surface(points, occ, surface, normals, margin: float = 0.03) -> tuple[float, int]:
    """How often a stored inside/outside label agrees with the side of the surface the point lies on.

    An independent oracle from the stored surface samples alone: a point farther than ``margin`` from
    every sample is inside when it lies behind its nearest sample's outward normal, (p - s) . n < 0.
    Returns (fraction that agrees, number of points checked).
    """
    from scipy.spatial import cKDTree

    distance, nearest = cKDTree(surface).query(points, workers=1)
    far = distance > margin
    behind = np.einsum("ij,ij->i", points[far] - surface[nearest[far]], normals[nearest[far]]) < 0
    return float(np.mean(behind == occ[far])), int(far.sum())


def test_items_have_the_documented_shapes(synthetic):
    ds = ShapeDataset(synthetic, "train", n_input_points=300, n_queries=512, with_images=True)
    assert len(ds) == 4
    item = ds[0]
    assert {k: tuple(v.shape) for k, v in item.items()} == {"inputs": (300, 3), "points": (512, 3), "occ": (512,),
                                                           "image": (3, 128, 128)}
    assert all(v.dtype == torch.float32 for v in item.values())
    assert set(item["occ"].unique().tolist()) <= {0.0, 1.0}
    assert 0.0 <= item["image"].min() and item["image"].max() <= 1.0
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch["points"].shape == (2, 512, 3)


def test_eval_items_are_fixed_and_training_items_follow_torch_seed(synthetic):
    ev = ShapeDataset(synthetic, "val", n_queries=256, eval=True, with_images=True)
    assert all(torch.equal(a, b) for a, b in zip(ev[0].values(), ev[0].values()))
    tr = ShapeDataset(synthetic, "train", n_queries=256)
    torch.manual_seed(1)
    first = tr[0]["points"]
    assert not torch.equal(first, tr[0]["points"])
    torch.manual_seed(1)
    assert torch.equal(first, tr[0]["points"])


def test_uniform_only_queries_are_labelled_like_the_file(synthetic):
    ds = ShapeDataset(synthetic, "test", n_queries=4096, near_fraction=0.0, eval=True)
    item = ds[0]
    shape = load_shape(ds.shape_path(0))
    order = np.lexsort(shape["uniform_points"].T)
    got = np.lexsort(item["points"].numpy().T)
    assert np.array_equal(item["points"].numpy()[got], shape["uniform_points"][order])
    assert np.array_equal(item["occ"].numpy()[got], shape["uniform_occ"][order])


def test_unknown_split_is_an_error(synthetic):
    with pytest.raises(ValueError, match="unknown split 'training'"):
        ShapeDataset(synthetic, "training")


def test_shape_file_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    occ = rng.random(1003) < 0.3
    arrays = {"uniform_points": rng.uniform(-0.55, 0.55, (1003, 3)).astype(np.float16),
              "uniform_occ": np.packbits(occ), "near_points": np.zeros((1003, 3), np.float16),
              "near_occ": np.packbits(~occ), "surface_points": np.zeros((5, 3), np.float16),
              "surface_normals": np.ones((5, 3), np.float16), "images": np.zeros((2, 8, 8, 3), np.uint8),
              "cam_K": np.zeros((2, 3, 3), np.float32), "cam_Rt": np.zeros((2, 3, 4), np.float32)}
    write_shape(tmp_path / "s.npz", arrays)
    shape = load_shape(tmp_path / "s.npz")
    assert np.array_equal(shape["uniform_occ"], occ) and np.array_equal(shape["near_occ"], ~occ)
    assert shape["uniform_points"].dtype == np.float32
    assert np.array_equal(shape["uniform_points"], arrays["uniform_points"].astype(np.float32))


def test_cameras_look_at_the_origin_with_y_up():
    k, rt = render.orbit_cameras(np.radians([0.0, 90.0]), np.radians([0.0, 30.0]), size=64)
    for cam_k, cam_rt in zip(k, rt):
        assert np.allclose(cam_rt[:, :3] @ cam_rt[:, :3].T, np.eye(3), atol=1e-6)
        origin = cam_k @ cam_rt[:, 3]
        assert np.allclose(origin[:2] / origin[2], [32, 32])
        top = cam_k @ (cam_rt[:, :3] @ [0, 0.3, 0] + cam_rt[:, 3])
        assert top[1] / top[2] < 32  # up in the world is up in the image (smaller row)


def test_render_draws_the_mesh_over_white():
    import trimesh

    mesh = trimesh.creation.icosphere(2, radius=0.4)
    k, rt = render.orbit_cameras(np.zeros(1), np.zeros(1), size=32)
    colors = np.tile([200, 0, 0], (len(mesh.faces), 1)).astype(np.uint8)
    image = render.render_views(mesh.vertices, mesh.faces, colors, k, rt, size=32)[0]
    assert (image[16, 16] != 255).any() and image[16, 16, 1] == 0
    assert (image[0, 0] == 255).all()
    lit = (image != 255).any(axis=2).mean()
    assert lit == pytest.approx(np.pi * (0.4 / 2.0 * render.FOCAL_PER_PIXEL * 2) ** 2 / 4, rel=0.15)


def test_mirror_flips_x_of_inputs_and_queries_and_the_image_in_about_half_the_draws(synthetic):
    plain = ShapeDataset(synthetic, "train", n_input_points=64, n_queries=128, with_images=True)
    mirrored = ShapeDataset(synthetic, "train", n_input_points=64, n_queries=128, with_images=True, mirror=True)
    flips = 0
    for draw in range(40):
        torch.manual_seed(draw)
        a = plain[draw % 4]
        torch.manual_seed(draw)
        b = mirrored[draw % 4]
        flip = bool(b["points"][0, 0] == -a["points"][0, 0] and a["points"][0, 0] != 0)
        sign = torch.tensor([-1.0 if flip else 1.0, 1.0, 1.0])
        assert torch.equal(b["points"], a["points"] * sign) and torch.equal(b["inputs"], a["inputs"] * sign)
        assert torch.equal(b["occ"], a["occ"])   # same samples, same labels: only the frame is mirrored
        assert torch.equal(b["image"], a["image"].flip(2) if flip else a["image"])
        flips += flip
    assert 8 <= flips <= 32


def test_mirror_never_touches_eval_items(synthetic):
    ev_plain = ShapeDataset(synthetic, "val", n_queries=256, eval=True, with_images=True)[0]
    ev_mirror = ShapeDataset(synthetic, "val", n_queries=256, eval=True, with_images=True, mirror=True)[0]
    assert all(torch.equal(ev_plain[k], ev_mirror[k]) for k in ev_plain)


def test_a_flipped_view_is_the_mirrored_shape_seen_from_the_mirrored_camera():
    """What makes mirroring images sound: silhouettes agree pixel for pixel (the light may not)."""
    import trimesh

    parts = [trimesh.creation.box((0.5, 0.3, 0.2)), trimesh.creation.icosphere(2, 0.15)]
    parts[1].apply_translation((0.3, 0.2, 0.1))             # off to one side: not mirror-symmetric
    mesh = trimesh.util.concatenate(parts)
    mirrored = mesh.vertices * [-1.0, 1.0, 1.0]
    az, el = np.array([0.7]), np.array([0.4])
    size = 64
    colors = np.full((len(mesh.faces), 3), 128, np.uint8)
    view = render.render_views(mesh.vertices, mesh.faces, colors, *render.orbit_cameras(az, el, size), size)[0]
    mirror_view = render.render_views(mirrored, mesh.faces, colors, *render.orbit_cameras(-az, el, size), size)[0]
    silhouette = (view < render.BACKGROUND).any(axis=2)
    assert silhouette.sum() > 200 and not np.array_equal(silhouette, silhouette[:, ::-1])
    assert np.array_equal((mirror_view < render.BACKGROUND).any(axis=2), silhouette[:, ::-1])
