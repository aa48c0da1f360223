"""Images (PNG, JPEG, BMP) decoded to (H, W, 3) uint8 RGB with Pillow, defensively.

The size in the header is checked before any pixel is decoded: JPEGs above the pixel
budget are decoded at 1/2, 1/4 or 1/8 scale (Pillow's ``draft``, which scales in the DCT
and never builds the full-size image), other formats above it are refused, and Pillow's
own decompression-bomb limit stays in force. Grayscale, 16-bit, palette and transparent
images are all converted; transparency is composited on white.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError
from .chunks import check_chunk_lengths


MIN_IMAGE_SIDE = 16
DEFAULT_MAX_PIXELS = 64_000_000   # decoded pixels accepted (~190 MB as RGB)
_FORMATS = ("PNG", "JPEG", "BMP")
_DRAFT_SCALES = (2, 4, 8)
BLOCK_ROWS = 256                  # rows converted at a time (16-bit gray, transparency)


def decode_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, list[str]]:
    """Decode ``path`` into (H, W, 3) uint8 RGB; returns the array and notices."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                notices = _check_header(img, path, max_pixels)
                img.load()
                return _to_rgb(_upright(img)), notices
    except InputError:
        raise
    except Image.DecompressionBombError:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise InputError(f"{path}: image has more than {limit:,} pixels; refused as a possible decompression bomb") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not a readable PNG, JPEG or BMP image") from None
    except MemoryError:
        raise InputError(f"{path}: not enough memory to decode this image") from None
    except Exception as exc:  # Pillow signals corrupt data with OSError, SyntaxError, ValueError, zlib.error...
        raise InputError(f"{path}: corrupt or truncated image ({_first_line(exc)})") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0][:120] if text else type(exc).__name__)


def _check_header(img, path: Path, max_pixels: int) -> list[str]:
    """Refuse the wrong format and bad sizes from the header; arm JPEG draft decoding."""
    if img.format not in _FORMATS:
        raise InputError(f"{path}: {img.format} images are not supported; use PNG, JPEG or BMP")
    if img.format == "PNG":
        check_chunk_lengths(path, "PNG", 8, ">I4s", trailer=4, last=b"IEND", named=True)
    width, height = img.size
    if min(width, height) < MIN_IMAGE_SIDE:
        raise InputError(
            f"{path}: image is {width}x{height} pixels; the minimum is {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}"
        )
    if width * height <= max_pixels:
        return []
    scale = next((s for s in _DRAFT_SCALES if _reduced(width, s) * _reduced(height, s) <= max_pixels), None)
    if img.format != "JPEG" or scale is None:
        raise InputError(
            f"{path}: image is {width}x{height} ({width * height / 1e6:.0f} Mpx), over the "
            f"{max_pixels / 1e6:.0f} Mpx limit; downscale it first"
        )
    img.draft(img.mode if img.mode in ("RGB", "L") else "RGB", (_reduced(width, scale), _reduced(height, scale)))
    if img.size[0] * img.size[1] > max_pixels:
        raise InputError(f"{path}: image is {width}x{height}; it cannot be reduced under {max_pixels:,} pixels")
    return [f"image decoded at 1/{scale} scale: {width}x{height} -> {img.size[0]}x{img.size[1]}"]


def _reduced(side: int, scale: int) -> int:
    return math.ceil(side / scale)


def _upright(img):
    """Apply the EXIF orientation of camera photos (a no-op for other images)."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(img) if img.format == "JPEG" else img


def _to_rgb(img) -> np.ndarray:
    """Any Pillow mode -> (H, W, 3) uint8 RGB; 16-bit scaled, alpha composited on white."""
    if img.mode.startswith("I"):  # 16-bit (or 32-bit) grayscale
        return _by_rows(np.asarray(img), _gray16_rows)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        return _by_rows(np.asarray(img.convert("RGBA")), _over_white_rows)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def _by_rows(pixels: np.ndarray, convert) -> np.ndarray:
    """(H, W, 3) uint8 from ``convert`` applied to ``pixels`` BLOCK_ROWS rows at a time, so that
    its float temporaries stay small (whole-image ones cost ~50 bytes a pixel: 3 GB at 64 Mpx)."""
    out = np.empty(pixels.shape[:2] + (3,), np.uint8)
    for top in range(0, len(pixels), BLOCK_ROWS):
        out[top : top + BLOCK_ROWS] = convert(pixels[top : top + BLOCK_ROWS])
    return out


def _gray16_rows(gray: np.ndarray) -> np.ndarray:
    """(h, w) 16-bit gray -> (h, w, 1) values 0-255 (broadcast to the three channels)."""
    return np.clip(np.rint(gray.astype(np.float64) / 257.0), 0, 255)[:, :, None]


def _over_white_rows(rgba: np.ndarray) -> np.ndarray:
    """(h, w, 4) uint8 RGBA -> (h, w, 3) values 0-255 composited on white."""
    rgba = rgba.astype(np.float32)
    alpha = rgba[:, :, 3:4] / 255.0
    return np.clip(np.rint(rgba[:, :, :3] * alpha + 255.0 * (1.0 - alpha)), 0, 255)
