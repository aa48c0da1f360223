"""Photo isolation (io/photo.py): the framing matches the training renders, the mask fallbacks
say what was wrong, and GrabCut finds an object on a cluttered background."""

from __future__ import annotations

import numpy as np
import pytest

from implicit_studio.errors import InputError
from implicit_studio.io import photo
from implicit_studio.train.data import render


def _renders() -> list[np.ndarray]:
    """Training-style renders (128 px) of a box, an ellipsoid and a torus from six views each."""
    import trimesh

    rng = np.random.default_rng(0)
    meshes = [trimesh.creation.box((1.0, 0.6, 0.4)), trimesh.creation.icosphere(3),
              trimesh.creation.torus(0.35, 0.15)]
    meshes[1].vertices *= np.array([0.5, 0.3, 0.4])
    images = []
    for mesh in meshes:
        v = np.asarray(mesh.vertices, dtype=np.float64)
        v = (v - (v.min(0) + v.max(0)) / 2) / np.ptp(v, axis=0).max()     # the unit frame: longest side 1
        k, rt = render.random_cameras(rng, 6)
        colours = np.tile(np.array([[150, 90, 60]], np.uint8), (len(mesh.faces), 1))
        images.extend(render.render_views(v, np.asarray(mesh.faces), colours, k, rt))
    return images


RENDERS = _renders()


def _disc(size: int, centre, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[:size[0], :size[1]]
    return (xx + 0.5 - centre[0]) ** 2 + (yy + 0.5 - centre[1]) ** 2 <= radius ** 2


def test_framing_constants_are_those_of_the_renders():
    boxes = np.array([photo.bbox_of((im != render.BACKGROUND).any(axis=2)) for im in RENDERS])
    side = np.median(boxes[:, 2]) / render.IMAGE_SIZE
    assert abs(side - photo.OBJECT_SIDE) < 0.08          # these three shapes against 193 training shapes
    assert abs(np.median(boxes[:, 0]) / render.IMAGE_SIZE - photo.OBJECT_CENTRE[0]) < 0.03
    assert abs(np.median(boxes[:, 1]) / render.IMAGE_SIZE - photo.OBJECT_CENTRE[1]) < 0.04


def _in_training_framing(mask: np.ndarray, tolerance: float = 1.0) -> bool:
    cx, cy, side = photo.bbox_of(mask)
    (x_lo, x_hi), (y_lo, y_hi) = (np.array(r) * 128 for r in photo.CENTRE_RANGE)
    s_lo, s_hi = np.array(photo.SIDE_RANGE) * 128
    return (x_lo - tolerance <= cx <= x_hi + tolerance and y_lo - tolerance <= cy <= y_hi + tolerance
            and s_lo - tolerance <= side <= s_hi + tolerance)


@pytest.mark.parametrize("index", range(0, 18, 2))
def test_a_render_reframed_keeps_the_training_framing(index):
    image = RENDERS[index]
    truth = (image != render.BACKGROUND).any(axis=2)
    iso = photo.isolate(image)
    assert iso.method == "plain background" and iso.problem is None
    assert (iso.mask == truth).mean() > 0.995
    assert _in_training_framing(iso.framed_mask)
    assert iso.framed.shape == (128, 128, 3) and iso.framed.dtype == np.uint8
    if _in_training_framing(truth, tolerance=0.0):      # a render framed as most are: left exactly as it was
        assert np.array_equal(iso.framed, image)
    # outside the object the frame is the renders' plain white
    assert (iso.framed[~iso.framed_mask] >= 250).all(axis=1).mean() > 0.97


@pytest.mark.parametrize("centre, radius, expected", [
    ((600, 450), 60, (64.0, 64.0, 52.0)),            # small, centred: grown to the smallest side in range
    ((600, 450), 440, (64.0, 64.0, 88.0)),           # large: shrunk to the largest
    ((150, 150), 150, (58.5, 60.0, None)),            # near the top-left corner: moved into range
])
def test_objects_out_of_range_are_moved_to_the_nearest_framing_in_range(centre, radius, expected):
    image = np.full((900, 1200, 3), 255, np.uint8)
    image[_disc((900, 1200), centre, radius)] = (30, 90, 200)
    cx, cy, side = photo.bbox_of(photo.isolate(image).framed_mask)
    assert abs(cx - expected[0]) <= 1.0 and abs(cy - expected[1]) <= 1.0
    if expected[2] is not None:
        assert abs(side - expected[2]) <= 1.0
    assert _in_training_framing(photo.isolate(image).framed_mask)


def test_framing_is_the_same_at_any_photo_size():
    """A large photo of a disc and a small one frame to the same image."""
    big = np.full((900, 1200, 3), 255, np.uint8)
    big[_disc((900, 1200), (500, 420), 300)] = (200, 40, 40)
    small = np.full((90, 120, 3), 255, np.uint8)
    small[_disc((90, 120), (50, 42), 30)] = (200, 40, 40)
    a, b = photo.isolate(big), photo.isolate(small)
    assert np.allclose(photo.bbox_of(a.framed_mask), photo.bbox_of(b.framed_mask), atol=1.0)
    assert (a.framed_mask == b.framed_mask).mean() > 0.98


def test_grabcut_finds_an_object_on_a_cluttered_background():
    rng = np.random.default_rng(1)
    size = (240, 320)
    yy, xx = np.mgrid[:size[0], :size[1]]
    background = np.stack([100 + 60 * np.sin(xx / 7.0), 120 + 50 * np.cos(yy / 5.0), 90 + 0 * xx], axis=2)
    image = np.clip(background + rng.normal(0, 12, background.shape), 0, 255).astype(np.uint8)
    truth = _disc(size, (170, 125), 60)
    image[truth] = np.clip(np.array([230, 200, 30]) + rng.normal(0, 8, (truth.sum(), 3)), 0, 255)
    iso = photo.isolate(image)
    assert iso.method == "grabcut" and iso.problem is None
    iou = (iso.mask & truth).sum() / (iso.mask | truth).sum()
    assert iou > 0.9
    # the user's box works the same and is kept
    boxed = photo.isolate(image, box=(90, 45, 250, 205))
    assert boxed.box == (90, 45, 250, 205)
    assert (boxed.mask & truth).sum() / (boxed.mask | truth).sum() > 0.9


def test_an_empty_mask_falls_back_to_the_box_and_says_so():
    mask, problem = photo.plausible_mask(np.zeros((100, 100), bool), (6, 6, 94, 94))
    assert not mask.any() and "no object was found" in problem and "--box" in problem
    # a blank photo: nothing to find, the box itself is framed
    iso = photo.isolate(np.full((100, 120, 3), 128, np.uint8), box=(10, 10, 90, 110))
    assert iso.method == "box" and "no object was found" in iso.problem
    assert "crop the photo to one object" in iso.problem


def test_a_mask_touching_every_border_says_so():
    mask = np.ones((80, 100), bool)
    mask[30:50, 40:60] = False
    kept, problem = photo.plausible_mask(mask, (6, 5, 94, 75))
    assert not kept.any()
    assert "touches every border" in problem and "crop" in problem and "--box" in problem


def test_several_large_objects_keep_the_largest_and_say_so():
    mask = _disc((100, 200), (50, 50), 30) | _disc((100, 200), (150, 50), 25) | _disc((100, 200), (100, 90), 3)
    kept, problem = photo.plausible_mask(mask, (0, 0, 200, 100))
    assert "found 2 separate objects" in problem and "--box" in problem
    assert (kept == _disc((100, 200), (50, 50), 30)).mean() > 0.99
    # a speck beside one object is no second object
    kept, problem = photo.plausible_mask(_disc((100, 200), (50, 50), 30) | _disc((100, 200), (150, 50), 4),
                                         (0, 0, 200, 100))
    assert problem is None


def test_box_parsing_and_checking():
    assert photo.parse_box("10,20,110,220") == (10, 20, 110, 220)
    for bad in ("10,20,110", "a,b,c,d", ""):
        with pytest.raises(InputError, match="--box must be four"):
            photo.parse_box(bad)
    assert photo.check_box((120, 230, 10, 20), 100, 200) == (10, 20, 100, 200)
    with pytest.raises(InputError, match="less than 8x8"):
        photo.check_box((300, 300, 400, 400), 100, 200)


def test_an_object_cut_out_of_a_photo_takes_the_renders_look_whatever_the_lighting():
    """``as_rendered``: grey at the renders' brightness and contrast, the same for the object under
    other lighting (brighter, lower contrast, a colour cast), the background untouched."""
    image = RENDERS[3]
    mask = (image != render.BACKGROUND).any(axis=2)
    look = photo.as_rendered(image, mask)
    grey = look[mask].astype(np.float64)
    assert np.array_equal(look[~mask], image[~mask]) and np.all(grey == grey[:, :1])
    assert abs(grey.mean() - photo.RENDER_GREY[0]) < 1.0 and abs(grey[:, 0].std() - photo.RENDER_GREY[1]) < 1.0
    other = np.clip(image.astype(np.float64) * np.array([1.3, 1.1, 0.8]) * 0.7 + 40.0, 0, 255).astype(np.uint8)
    other_look = photo.as_rendered(other, mask)
    assert np.abs(other_look[mask].astype(int) - look[mask].astype(int)).max() <= 3
    framed, framed_mask = photo.frame(other, mask)            # cut out: at the renders' median size
    assert np.all(framed[[0, -1]] == render.BACKGROUND) and np.all(framed[:, [0, -1]] == render.BACKGROUND)
    assert abs(framed[framed_mask].astype(float).mean() - photo.RENDER_GREY[0]) < 6.0
    assert abs(photo.bbox_of(framed_mask)[2] - photo.OBJECT_SIDE * photo.FRAME_SIZE) <= 1.0
