"""Training renders made to look like photos, then framed by the same pipeline a user's photo goes through.

A render (white background, hard edges, fixed lighting) becomes a photo-like view: the object's
colours and lighting jittered, drawn at a random scale and offset over a photographic or
procedural background, with ragged mask edges as a segmentation gives them, blur, sensor noise and
JPEG artefacts. The result is then isolated and framed by ``io.photo`` exactly as at test time:
either by GrabCut (``grabcut`` draws: the user's pipeline, with its mistakes) or from the ragged
mask directly (the rest).

Photographic backgrounds are the texture images of the Sweet Home 3D furniture catalogues
(wood, stone, fabric, marble...; the Debian package the shapes come from) and pybullet_data's
textures. They are split by name into "train" and "eval" banks, so the photo-background
evaluation never sees a background used in training. The gallery's photos (scikit-image's
sample photos) are never used as backgrounds.
"""

from __future__ import annotations

import hashlib
import io
import logging
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...io import photo
from . import render

log = logging.getLogger(__name__)

BACKGROUND_SIDE = 256        # backgrounds are stored at most this large
MIN_BACKGROUND_SIDE = 96     # textures smaller than this are left out
EVAL_SHARE = 5               # one background in EVAL_SHARE (by name hash) is kept for evaluation


@dataclass(frozen=True)
class PhotoAugment:
    """How photo-like a training view is made (fractions are per draw).

    photo : fraction of draws put over a background (the rest stay on white, only framed)
    photographic : of those, the fraction over a photographic texture (the rest procedural)
    grabcut : of those, the fraction isolated by GrabCut as at test time (the rest by the ragged mask)
    """

    photo: float = 0.7
    photographic: float = 0.6
    grabcut: float = 0.3


def render_mask(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 render -> (H, W) bool, its object pixels (not the renders' white)."""
    return (image != render.BACKGROUND).any(axis=2)


def photo_view(image: np.ndarray, rng: np.random.Generator, backgrounds: list[np.ndarray],
               augment: PhotoAugment = PhotoAugment(), size: int = render.IMAGE_SIZE) -> np.ndarray:
    """One training view of a render, framed as the model will see a photo.

    image : (S, S, 3) uint8 render on white; backgrounds : photographic (h, w, 3) uint8 images
    Returns (size, size, 3) uint8.
    """
    mask = render_mask(image)
    if not mask.any():
        return image
    if rng.random() >= augment.photo:     # a render on white, as a user's render is: framed, never re-lit
        return photo.isolate(image, size=size).framed
    scene, scene_mask = composite(image, mask, rng, backgrounds if rng.random() < augment.photographic else [])
    if rng.random() < augment.grabcut:
        return photo.isolate(scene, size=size).framed
    mask, _ = photo.plausible_mask(ragged(scene_mask, rng), photo.default_box(*scene.shape[1::-1]))
    return photo.frame(scene, mask if mask.any() else scene_mask, size)[0]


def photo_scene(image: np.ndarray, seed: int) -> np.ndarray:
    """A render (S, S, 3) uint8 as a photo for evaluation: re-lit, scaled and placed over a
    background of the "eval" bank (photographic when there is one), degraded; fixed by ``seed``.
    Returns (h, w, 3) uint8, to be isolated by ``io.photo`` as a user's photo is."""
    rng = np.random.default_rng([seed, 3])
    return composite(image, render_mask(image), rng, list(photo_backgrounds("eval")))[0]


def composite(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
              backgrounds: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The object of a render, re-lit, scaled and placed over a background, degraded like a photo.

    image : (S, S, 3) uint8; mask : (S, S) bool; backgrounds : photographic images, or [] for a
    procedural background. Returns the scene (h, w, 3) uint8 and the object's mask (h, w) bool.
    """
    import cv2

    obj = relit(image, rng)
    ys, xs = np.nonzero(mask)
    crop = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    obj, obj_mask = obj[crop], mask[crop].astype(np.float32)
    height = int(rng.integers(112, 224))
    width = int(np.clip(height * rng.uniform(0.75, 1.5), 112, 288))
    # the object's longest side as a fraction of the shorter image side, kept inside the default box
    side = rng.uniform(0.35, 0.8) * min(height, width)
    scale = side / max(obj.shape[:2])
    oh, ow = max(2, round(obj.shape[0] * scale)), max(2, round(obj.shape[1] * scale))
    obj = cv2.resize(obj, (ow, oh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    obj_mask = cv2.resize(obj_mask, (ow, oh), interpolation=cv2.INTER_LINEAR)
    margin_x, margin_y = width * photo.BOX_MARGIN + 2, height * photo.BOX_MARGIN + 2
    x0 = int(rng.uniform(margin_x, max(margin_x, width - margin_x - ow)))
    y0 = int(rng.uniform(margin_y, max(margin_y, height - margin_y - oh)))
    ow, oh = min(ow, width - x0), min(oh, height - y0)
    scene = background(rng, height, width, backgrounds).astype(np.float32)
    alpha = np.zeros((height, width), np.float32)
    alpha[y0:y0 + oh, x0:x0 + ow] = obj_mask[:oh, :ow]
    placed = np.zeros_like(scene)
    placed[y0:y0 + oh, x0:x0 + ow] = obj[:oh, :ow]
    scene = scene * (1 - alpha[..., None]) + placed * alpha[..., None]
    return degraded(scene, rng), alpha >= 0.5


def relit(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lighting and colour jitter of an image (H, W, 3) uint8: brightness, contrast, per-channel
    gain, gamma and a linear shading ramp. Returns (H, W, 3) uint8."""
    img = image.astype(np.float32) / 255.0
    img = img ** rng.uniform(0.7, 1.4)
    img = (img - 0.5) * rng.uniform(0.7, 1.3) + 0.5
    img = img * rng.uniform(0.6, 1.3) * rng.uniform(0.85, 1.15, 3)
    h, w = img.shape[:2]
    direction = rng.normal(size=2)
    yy, xx = np.mgrid[:h, :w]
    ramp = ((xx / max(w, 1) - 0.5) * direction[0] + (yy / max(h, 1) - 0.5) * direction[1]) * rng.uniform(0, 0.5)
    img = img * (1.0 + ramp[..., None])
    return np.clip(img * 255.0, 0, 255).astype(np.uint8)


def background(rng: np.random.Generator, height: int, width: int, photos: list[np.ndarray]) -> np.ndarray:
    """A (height, width, 3) uint8 background: a crop of a photographic texture (or two, as a table
    before a wall) when ``photos`` is not empty, else a procedural one (smooth noise, gradient,
    stripes or checks, or a plain colour)."""
    import cv2

    def texture() -> np.ndarray:
        if photos:
            src = photos[int(rng.integers(len(photos)))]
            zoom = rng.uniform(1.0, 2.5)
            ch, cw = max(8, int(src.shape[0] / zoom)), max(8, int(src.shape[1] / zoom))
            y, x = int(rng.integers(0, src.shape[0] - ch + 1)), int(rng.integers(0, src.shape[1] - cw + 1))
            tile = src[y:y + ch, x:x + cw]
            if rng.random() < 0.5:
                tile = tile[:, ::-1]
            return cv2.resize(np.ascontiguousarray(tile), (width, height), interpolation=cv2.INTER_LINEAR)
        return procedural_background(rng, height, width)

    out = texture()
    if rng.random() < 0.4:           # a table top below a wall: two surfaces and a horizon
        horizon = int(height * rng.uniform(0.35, 0.75))
        out = out.copy()
        out[horizon:] = texture()[horizon:]
    if rng.random() < 0.5:           # depth of field
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 2.5))
    return out


def procedural_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(height, width, 3) uint8: smooth coloured noise, a gradient, stripes/checks or a plain colour."""
    import cv2

    kind = rng.integers(4)
    colours = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    if kind == 0:
        cells = int(rng.integers(2, 12))
        noise = rng.uniform(0, 1, (cells, cells, 3)).astype(np.float32)
        t = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
        out = colours[0] * (1 - t) + colours[1] * t
    elif kind == 1:
        angle = rng.uniform(0, np.pi)
        t = ((xx * np.cos(angle) + yy * np.sin(angle)) / max(height, width))[..., None]
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
        out = colours[0] * (1 - t) + colours[1] * t
    elif kind == 2:
        period = rng.uniform(6, 40)
        t = ((np.floor(xx / period) + (np.floor(yy / period) if rng.random() < 0.5 else 0)) % 2)[..., None]
        out = colours[0] * (1 - t) + colours[1] * t
    else:
        out = np.broadcast_to(colours[0], (height, width, 3))
    out = out + rng.normal(0, rng.uniform(0, 10), (height, width, 1))
    return np.clip(out, 0, 255).astype(np.uint8)


def ragged(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A mask (H, W) bool with edges as a segmentation leaves them: grown or shrunk by up to
    2 px, with noisy boundaries. Returns (H, W) bool (the input when everything would vanish)."""
    import cv2

    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), rng.uniform(0.8, 2.0))
    noise = cv2.resize(rng.normal(0, 1, (max(2, mask.shape[0] // 6), max(2, mask.shape[1] // 6))).astype(np.float32),
                       (mask.shape[1], mask.shape[0]), interpolation=cv2.INTER_LINEAR)
    out = soft + 0.15 * noise > rng.uniform(0.3, 0.7)
    return out if out.any() else mask


def degraded(scene: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur, sensor noise and JPEG artefacts on a scene (H, W, 3) float 0-255 -> uint8."""
    import cv2

    if rng.random() < 0.5:
        scene = cv2.GaussianBlur(scene, (0, 0), rng.uniform(0.3, 1.2))
    scene = scene + rng.normal(0, rng.uniform(0, 8), scene.shape)
    img = np.clip(scene, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        ok, data = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 95))])
        if ok:
            img = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(img)


# --------------------------------------------------------------------------- background bank


def bank_split(name: str) -> str:
    """"train" or "eval" for a background by a hash of its name (one in ``EVAL_SHARE`` is "eval")."""
    return "eval" if int(hashlib.sha1(name.encode()).hexdigest(), 16) % EVAL_SHARE == 0 else "train"


@lru_cache(maxsize=4)
def photo_backgrounds(split: str = "train", cache_dir: str | None = None) -> tuple[np.ndarray, ...]:
    """The photographic backgrounds of one bank ("train" or "eval"), each (h, w, 3) uint8 with
    sides at most ``BACKGROUND_SIDE``: texture images of the Sweet Home 3D furniture catalogues
    (from the data builder's cache, fetched when missing) and of pybullet_data. Empty when
    neither can be had (then only procedural backgrounds are used)."""
    images = []
    for name, data in _texture_files(cache_dir):
        if bank_split(name) != split:
            continue
        image = _decoded(data)
        if image is not None:
            images.append(image)
    if not images:
        log.warning("no photographic backgrounds found; photo augmentation uses procedural ones only")
    return tuple(images)


def _texture_files(cache_dir: str | None):
    """(name, bytes) of every JPEG/PNG texture found, each content once, in a fixed order."""
    from .sources import FURNITURE_PACKAGES, SourceUnavailable, default_cache_dir, fetch_debian_package, \
        pybullet_data_dir

    seen = set()
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    for package in FURNITURE_PACKAGES:
        try:
            root = fetch_debian_package(package, cache)
        except SourceUnavailable as exc:
            log.warning("%s", exc)
            continue
        for path in sorted(root.rglob("*.sh3f")):
            with zipfile.ZipFile(path) as archive:
                for info in sorted(archive.infolist(), key=lambda i: i.filename):
                    if info.filename.lower().endswith((".jpg", ".jpeg", ".png")) and info.file_size > 8000:
                        data = archive.read(info)
                        digest = hashlib.sha1(data).hexdigest()
                        if digest not in seen:
                            seen.add(digest)
                            yield f"{path.name}/{info.filename}", data
    try:
        root = pybullet_data_dir()
    except SourceUnavailable:
        return
    for path in sorted(root.rglob("*.jpg")) + sorted(root.rglob("*.png")):
        data = path.read_bytes()
        digest = hashlib.sha1(data).hexdigest()
        if len(data) > 8000 and digest not in seen:
            seen.add(digest)
            yield f"pybullet_data/{path.relative_to(root)}", data


def _decoded(data: bytes) -> np.ndarray | None:
    """Texture bytes -> (h, w, 3) uint8 at most ``BACKGROUND_SIDE`` a side, or None when unusable
    (unreadable, too small, or nearly one colour)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (BACKGROUND_SIDE, BACKGROUND_SIDE))
            img = img.convert("RGB")
            if min(img.size) < MIN_BACKGROUND_SIDE:
                return None
            img.thumbnail((BACKGROUND_SIDE, BACKGROUND_SIDE))
            array = np.asarray(img, dtype=np.uint8).copy()
    except Exception:  # noqa: BLE001 - a broken texture is skipped, not fatal
        return None
    return array if array.std() > 8 else None
