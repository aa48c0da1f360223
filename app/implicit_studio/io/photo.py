"""Isolate the object of a photo and frame it as the image model's training renders are framed.

The image model only saw renders of one object on a plain white background, from a camera
at a fixed distance, so the object's bounding box always sat near the middle with a similar
size. A photo is none of that. ``isolate`` finds the object without downloaded weights
(OpenCV's GrabCut started from a centred rectangle or the user's box; a photo whose border is
one plain colour is thresholded against it instead), checks that the mask is plausible, and
redraws the object on white with its bounding box centred and scaled as in the renders, and
in their look: grey, with their brightness and contrast (``as_rendered``).

The framing constants were measured on 1,158 renders of 193 training shapes
(``train/data/render.py``, 128 px images; ``tests/unit/test_photo.py`` re-measures them on
renders): the longest side of the object's bounding box has median 72 px (5th-95th
percentile 52-88), its centre median (64, 66) px (5th-95th percentile x 58.5-69.5, y 60-72).
The size a render shows carries shape information (every shape's longest side is 1, so how big
it looks says how that side lies to the camera), so ``frame`` keeps an object's size and place
when they are within those ranges (a render is left exactly as it was) and moves them to the
nearest value in range otherwise; an object cut out of a photo, whose size there is arbitrary,
is scaled to the median side. Measured on 12 test shapes with the first shipped weights:
scaling every render to the median side cost IoU 0.509 -> 0.382, clamping to the 10th-90th
percentiles 0.509 -> 0.482. The renders' look (``RENDER_GREY``) was measured on view 0 of 193
training shapes: object brightness (the mean of R, G, B) median 130 and standard deviation median
26 (0-255), colour 2.5 levels from grey on average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

FRAME_SIZE = 128                      # the side the framing is stated for (the renders' side)
OBJECT_SIDE = 72 / 128                # bounding box's longest side / image side, median of the renders
OBJECT_CENTRE = (64 / 128, 66 / 128)  # bounding box centre (x, y) / image side, median of the renders
SIDE_RANGE = (52 / 128, 88 / 128)     # 5th-95th percentile of the side: kept when inside, else clamped
CENTRE_RANGE = ((58.5 / 128, 69.5 / 128), (60 / 128, 72 / 128))   # the same for the centre's x and y
BACKGROUND = 255                      # the renders' plain white
WORK_SIDE = 256                       # GrabCut runs on the photo shrunk to at most this side
BOX_MARGIN = 1 / 16                   # the default box leaves this fraction of each side out
MIN_FRACTION = 0.002                  # a mask under this fraction of the box counts as empty
SECOND_OBJECT = 0.25                  # another component this large relative to the largest: several objects
PLAIN_TOLERANCE = 14.0                # RGB distance within which a pixel matches a plain background
RENDER_GREY = (130.0, 26.0)           # the renders' object pixels: median brightness and spread (0-255)
PLAIN_BORDER = 0.97                   # fraction of border pixels that must match for a plain background

MARK_IT = "mark the object with --box x0,y0,x1,y1 (or draw a box on the thumbnail)"


@dataclass(frozen=True)
class Isolation:
    """The object found in a photo and the image the model receives.

    mask : (H, W) bool, the object's pixels in the photo
    framed : (size, size, 3) uint8 RGB, the object on white, framed like the training renders
    framed_mask : (size, size) bool, the object's pixels in ``framed``
    box : (x0, y0, x1, y1) int pixels, the rectangle the object was looked for in
    method : "plain background", "grabcut" or "box" (the box itself, when no mask was plausible)
    problem : one line saying what was wrong with the mask and what to do, or None
    """

    mask: np.ndarray
    framed: np.ndarray
    framed_mask: np.ndarray
    box: tuple[int, int, int, int]
    method: str
    problem: str | None = None


def parse_box(text: str) -> tuple[int, int, int, int]:
    """``"x0,y0,x1,y1"`` (pixels) -> a tuple of four ints; InputError with one line otherwise."""
    try:
        values = tuple(int(round(float(v))) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise InputError(f"--box must be four pixel coordinates x0,y0,x1,y1, not {text!r}")
    return values  # type: ignore[return-value]


def check_box(box, width: int, height: int) -> tuple[int, int, int, int]:
    """Clip ``box`` (x0, y0, x1, y1) to a ``width`` x ``height`` image; InputError if too little is left."""
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if cx1 - cx0 < 8 or cy1 - cy0 < 8:
        raise InputError(f"the box {x0},{y0},{x1},{y1} leaves less than 8x8 pixels of the {width}x{height} image; "
                         "give x0,y0,x1,y1 in pixels inside the image")
    return cx0, cy0, cx1, cy1


def default_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The centred box GrabCut starts from: the image less ``BOX_MARGIN`` of each side."""
    mx, my = int(round(width * BOX_MARGIN)), int(round(height * BOX_MARGIN))
    return mx, my, width - mx, height - my


def isolate(image: np.ndarray, box=None, size: int = FRAME_SIZE, iterations: int = 5) -> Isolation:
    """Find the object of ``image`` and frame it for the image model.

    image : (H, W, 3) uint8 RGB
    box : (x0, y0, x1, y1) pixels containing the object, or None (a plain background is
        thresholded; otherwise GrabCut starts from the centred ``default_box``)
    size : side of the framed image in pixels
    Returns an ``Isolation``; an implausible mask (empty, touching every border, several
    objects) falls back as ``problem`` says instead of failing.
    """
    image = np.ascontiguousarray(np.asarray(image)[..., :3], dtype=np.uint8)
    height, width = image.shape[:2]
    user_box = box is not None
    box = check_box(box, width, height) if user_box else default_box(width, height)
    mask, method = (None, "grabcut") if user_box else (plain_background_mask(image), "plain background")
    if mask is None:
        mask, method = grabcut_mask(image, box, iterations), "grabcut"
    mask, problem = plausible_mask(mask, box, user_box)
    if problem is not None and not mask.any():
        mask, method = box_mask(box, width, height), "box"
    # on a white backdrop (a render, a product shot) the pixels are kept as they are: a mask that
    # misses a few near-white pixels of the object must not whiten them
    white = method == "plain background" and bool(np.all(image[[0, -1]] >= BACKGROUND - PLAIN_TOLERANCE))
    framed, framed_mask = frame(image, mask, size, cut_out=not white)
    return Isolation(mask, framed, framed_mask, box, method, problem)


def plain_background_mask(image: np.ndarray) -> np.ndarray | None:
    """Pixels unlike a plain border colour, or None when the border is not one plain colour.

    image : (H, W, 3) uint8. The border (2 px wide) must match its median colour within
    ``PLAIN_TOLERANCE`` at ``PLAIN_BORDER`` of its pixels, as in the training renders and
    product shots. Returns (H, W) bool.
    """
    img = image.astype(np.float32)
    border = np.concatenate([img[:2].reshape(-1, 3), img[-2:].reshape(-1, 3),
                             img[:, :2].reshape(-1, 3), img[:, -2:].reshape(-1, 3)])
    colour = np.median(border, axis=0)
    if np.mean(np.linalg.norm(border - colour, axis=1) <= PLAIN_TOLERANCE) < PLAIN_BORDER:
        return None
    return np.linalg.norm(img - colour, axis=2) > PLAIN_TOLERANCE


def grabcut_mask(image: np.ndarray, box, iterations: int = 5) -> np.ndarray:
    """GrabCut's foreground inside ``box`` (x0, y0, x1, y1), on the image shrunk to ``WORK_SIDE``.

    image : (H, W, 3) uint8 RGB. Returns (H, W) bool.
    """
    import cv2

    height, width = image.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    small = image if scale == 1.0 else cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                                                  interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    x0, y0, x1, y1 = box
    rect = (int(x0 * scale), int(y0 * scale), max(1, int((x1 - x0) * scale)), max(1, int((y1 - y0) * scale)))
    rect = (rect[0], rect[1], min(rect[2], sw - rect[0]), min(rect[3], sh - rect[1]))
    labels = np.zeros((sh, sw), np.uint8)
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), labels, rect, np.zeros((1, 65), np.float64),
                    np.zeros((1, 65), np.float64), iterations, cv2.GC_INIT_WITH_RECT)
    except cv2.error:      # a box GrabCut cannot model (e.g. one colour everywhere): nothing found
        return np.zeros((height, width), bool)
    fg = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
    if scale != 1.0:
        fg = cv2.resize(fg, (width, height), interpolation=cv2.INTER_NEAREST)
    return fg.astype(bool)


def box_mask(box, width: int, height: int) -> np.ndarray:
    """(height, width) bool, True inside ``box`` (x0, y0, x1, y1)."""
    mask = np.zeros((height, width), bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask


def plausible_mask(mask: np.ndarray, box, user_box: bool = False) -> tuple[np.ndarray, str | None]:
    """Clean a foreground mask and say what is wrong with it, if anything.

    mask : (H, W) bool; box : (x0, y0, x1, y1) the object was looked for in; ``user_box``:
    the user drew it (then the advice is to crop instead of to mark).
    Returns the mask to use, (H, W) bool (all False when nothing usable is left: the caller
    falls back to the box), and None or one line: what was wrong and what to do.
    """
    import cv2

    mask = np.asarray(mask, dtype=bool)
    height, width = mask.shape
    x0, y0, x1, y1 = box
    box_area = max(1, (x1 - x0) * (y1 - y0))
    clean = _open_close(mask, max(1, round(max(height, width) / 256)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(clean.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    what_to_do = "crop the photo to one object" if user_box else f"crop the photo to one object or {MARK_IT}"
    if count <= 1 or areas.max() < MIN_FRACTION * box_area:
        return np.zeros_like(mask), f"no object was found in the photo: {what_to_do}"
    largest = int(np.argmax(areas)) + 1
    keep = labels == largest
    ys, xs = np.nonzero(keep)
    touches = (ys.min() == 0, xs.min() == 0, ys.max() == height - 1, xs.max() == width - 1)
    if all(touches) and keep.mean() > 0.5:
        return np.zeros_like(mask), ("the object found fills the whole photo (its mask touches every border), so it "
                                     f"cannot be told from the background: {what_to_do}")
    others = int(np.sum(areas >= SECOND_OBJECT * areas.max())) - 1
    if others > 0:
        return keep, (f"found {others + 1} separate objects and kept the largest; if that is the wrong one, "
                      f"{what_to_do}")
    return keep, None


def _open_close(mask: np.ndarray, radius: int) -> np.ndarray:
    """Remove specks and fill pinholes of ``mask`` (H, W) bool with a (2 radius + 1) square."""
    import cv2

    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    out = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    return cv2.morphologyEx(out, cv2.MORPH_CLOSE, kernel).astype(bool)


def frame(image: np.ndarray, mask: np.ndarray, size: int = FRAME_SIZE,
          cut_out: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The masked object on white, framed as the training renders frame their objects.

    The image is seen as centred in a square of side max(H, W) shown at ``size`` pixels; the
    object's bounding box keeps its size and centre there when they lie in ``SIDE_RANGE`` and
    ``CENTRE_RANGE`` (a render stays exactly as it was) and is scaled and moved to the nearest
    value in range otherwise; an object cut out of a photo is scaled to ``OBJECT_SIDE``.

    image : (H, W, 3) uint8 RGB; mask : (H, W) bool with at least one pixel set
    cut_out : put what lies outside the mask on white, the object in the renders' look
        (``as_rendered``) at their median size; False: the image is a render on white already
    Returns framed (size, size, 3) uint8 and its mask (size, size) bool.
    """
    import cv2

    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    bx0, bx1, by0, by1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    longest = max(bx1 - bx0, by1 - by0)
    square = max(height, width)
    # the box's side in the frame: a render's is kept within range (it says how the shape lies); an
    # object cut out of a photo takes the renders' median (its size in the photo says nothing of the shape)
    side = np.clip(longest / square, *(SIDE_RANGE if not cut_out else (OBJECT_SIDE, OBJECT_SIDE))) * size
    scale = side / longest
    centre = [np.clip(((b0 + b1) / 2 - extent / 2) / square + 0.5, *bounds) * size
              for b0, b1, extent, bounds in ((bx0, bx1, width, CENTRE_RANGE[0]), (by0, by1, height, CENTRE_RANGE[1]))]
    composite = np.where(mask[..., None], as_rendered(image, mask), np.uint8(BACKGROUND)) if cut_out else image
    alpha = mask.astype(np.float32)
    sx = sy = 1.0
    if scale < 0.999:   # shrink with area averaging first, so that fine texture does not alias
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        composite = cv2.resize(composite, (new_w, new_h), interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, (new_w, new_h), interpolation=cv2.INTER_AREA)
        sx, sy = new_w / width, new_h / height
    # the box centre in the (possibly shrunk) image, mapped onto its place in the frame
    cx, cy = (bx0 + bx1) / 2 * sx, (by0 + by1) / 2 * sy
    ax, ay = scale / sx, scale / sy
    matrix = np.array([[ax, 0.0, centre[0] - ax * cx], [0.0, ay, centre[1] - ay * cy]])
    # pixel centres: x_pixel = x_continuous - 0.5 on both sides of the map
    matrix[:, 2] += 0.5 * matrix[:, :2].sum(axis=1) - 0.5
    if np.allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-6) and composite.shape[:2] == (size, size):
        return composite, mask.copy()               # already framed as a render: left as it is
    framed = cv2.warpAffine(composite, matrix, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(BACKGROUND,) * 3)
    framed_alpha = cv2.warpAffine(alpha, matrix, (size, size), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return framed, framed_alpha >= 0.5


def as_rendered(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The object's pixels in the look of the training renders: grey, with the renders' median
    brightness and spread (``RENDER_GREY``). The renders' objects are shaded grey almost
    everywhere, and a photo's lighting, white balance and colours otherwise mislead the model.

    image : (H, W, 3) uint8 RGB; mask : (H, W) bool, the object's pixels
    Returns (H, W, 3) uint8, the pixels outside ``mask`` unchanged.
    """
    out = image.copy()
    if not mask.any():
        return out
    luma = image[mask].astype(np.float32).mean(axis=1)
    grey = (luma - luma.mean()) / max(float(luma.std()), 1.0) * RENDER_GREY[1] + RENDER_GREY[0]
    out[mask] = np.clip(np.round(grey), 0, 255).astype(np.uint8)[:, None]
    return out


def bbox_of(mask: np.ndarray) -> tuple[float, float, float]:
    """(centre x, centre y, longest side) in pixels of the bounding box of ``mask`` (H, W) bool."""
    ys, xs = np.nonzero(mask)
    return (xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2, float(max(np.ptp(xs), np.ptp(ys)) + 1)
