"""Photo-like training views (train/data/photos.py): shapes, framing, background banks."""

from __future__ import annotations

import numpy as np

from implicit_studio.io import photo
from implicit_studio.train.data import photos, render


def _render() -> np.ndarray:
    import trimesh

    mesh = trimesh.creation.box((1.0, 0.5, 0.6))
    k, rt = render.orbit_cameras(np.array([0.6]), np.array([0.4]))
    colours = np.tile(np.array([[90, 140, 200]], np.uint8), (len(mesh.faces), 1))
    return render.render_views(np.asarray(mesh.vertices), np.asarray(mesh.faces), colours, k, rt)[0]


def test_plain_views_are_what_a_users_render_on_white_becomes():
    """A plain draw goes through the user's pipeline: a render on white keeps its pixels (neither
    made grey nor rescaled as a photo's cut-out is), so training sees renders as they are shown."""
    image = _render()
    view = photos.photo_view(image, np.random.default_rng(0), [], photos.PhotoAugment(photo=0.0))
    assert np.array_equal(view, photo.isolate(image).framed)
    assert np.array_equal(view, image)


def test_photo_views_are_framed_like_a_users_photo():
    image = _render()
    rng = np.random.default_rng(1)
    texture = np.random.default_rng(2).integers(0, 255, (150, 200, 3)).astype(np.uint8)
    for i in range(6):
        augment = photos.PhotoAugment(photo=1.0, photographic=i % 2, grabcut=float(i >= 4))
        view = photos.photo_view(image, rng, [texture], augment)
        assert view.shape == (128, 128, 3) and view.dtype == np.uint8
        # framed on white: the corners are the renders' background
        assert (view[:4, :4] >= 250).all() and (view[-4:, -4:] >= 250).all()


def test_composite_keeps_the_object_inside_the_default_box():
    image = _render()
    rng = np.random.default_rng(3)
    for _ in range(10):
        scene, mask = photos.composite(image, photos.render_mask(image), rng, [])
        h, w = mask.shape
        x0, y0, x1, y1 = photo.default_box(w, h)
        ys, xs = np.nonzero(mask)
        assert xs.min() >= x0 and ys.min() >= y0 and xs.max() < x1 + 2 and ys.max() < y1 + 2
        assert scene.shape == (h, w, 3) and scene.dtype == np.uint8


def test_background_banks_are_split_by_name():
    names = [f"texture-{i}.jpg" for i in range(200)]
    split = [photos.bank_split(n) for n in names]
    assert split == [photos.bank_split(n) for n in names]          # stable
    assert 20 <= split.count("eval") <= 60                          # about one in five


def test_procedural_backgrounds_vary():
    rng = np.random.default_rng(4)
    backs = [photos.procedural_background(rng, 40, 60) for _ in range(8)]
    assert all(b.shape == (40, 60, 3) and b.dtype == np.uint8 for b in backs)
    assert len({int(b.mean()) for b in backs}) > 3


def test_evaluation_scenes_are_fixed_by_their_seed(monkeypatch):
    texture = np.random.default_rng(5).integers(0, 255, (150, 200, 3)).astype(np.uint8)
    monkeypatch.setattr(photos, "photo_backgrounds", lambda split="train", cache_dir=None: (texture,))
    image = _render()
    a, b, c = photos.photo_scene(image, 3), photos.photo_scene(image, 3), photos.photo_scene(image, 4)
    assert np.array_equal(a, b) and (a.shape != c.shape or not np.array_equal(a, c))
    assert photo.isolate(a).framed.shape == (128, 128, 3)
