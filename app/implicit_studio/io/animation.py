"""Animations out: frames written as an animated GIF (Pillow) or an MP4 (imageio-ffmpeg, optional).

Used by the window's turntable export. MP4 needs the ``imageio-ffmpeg`` package (``pip install
implicit-studio[video]``), whose wheel carries its own ffmpeg; GIF always works.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import InputError
from .files import check_output

ANIMATION_EXTS = (".gif", ".mp4")


def check_animation_output(path) -> str:
    """Refuse, in one line and before any work, an animation path that cannot be written; returns the
    lower-case extension (``.mp4`` also needs imageio-ffmpeg installed)."""
    ext = check_output(path, ANIMATION_EXTS)
    if ext == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise InputError(f"{path}: writing MP4 needs the imageio-ffmpeg package "
                         "(pip install 'implicit-studio[video]'); .gif works without it")
    return ext


def write_animation(path, frames: list[np.ndarray], frame_ms: int, max_width: int | None = None) -> Path:
    """Write ``frames`` (each (H, W, 3) uint8 RGB, all the same size) to ``path`` (.gif or .mp4), looping,
    ``frame_ms`` milliseconds per frame; frames wider than ``max_width`` are scaled down."""
    from PIL import Image

    ext = check_animation_output(path)
    if not frames:
        raise ValueError("no frames to write")
    images = [Image.fromarray(np.ascontiguousarray(f[..., :3])) for f in frames]
    if max_width and images[0].width > max_width:
        size = (max_width, round(images[0].height * max_width / images[0].width))
        images = [im.resize(size, Image.LANCZOS) for im in images]
    path = Path(path)
    if ext == ".gif":
        images[0].save(path, save_all=True, append_images=images[1:], duration=frame_ms, loop=0, optimize=True)
    else:
        _write_mp4(path, images, 1000.0 / frame_ms)
    return path


def _write_mp4(path: Path, images, fps: float) -> None:
    """H.264 in yuv420p (plays everywhere), so both sides are cropped to even lengths."""
    import imageio_ffmpeg

    width, height = images[0].width // 2 * 2, images[0].height // 2 * 2
    writer = imageio_ffmpeg.write_frames(str(path), (width, height), fps=fps, codec="libx264",
                                         pix_fmt_out="yuv420p", macro_block_size=1, quality=7)
    writer.send(None)
    try:
        for im in images:
            writer.send(np.ascontiguousarray(np.asarray(im)[:height, :width]))
    finally:
        writer.close()
