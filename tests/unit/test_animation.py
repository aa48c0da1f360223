"""Animations out (the turntable's files): GIF always, MP4 with imageio-ffmpeg, bad paths refused first."""

import numpy as np
import pytest
from PIL import Image

from implicit_studio.errors import InputError
from implicit_studio.io.animation import check_animation_output, write_animation


def frames(n: int = 6, size: tuple[int, int] = (41, 90)) -> list[np.ndarray]:
    """A bright square sliding left to right over a dark background: (H, W, 3) uint8 each."""
    out = []
    for k in range(n):
        frame = np.full((*size, 3), 30, np.uint8)
        frame[10:30, 10 * k:10 * k + 20] = (250, 200, 40)
        out.append(frame)
    return out


def test_gif_has_every_frame_loops_and_is_scaled_down(tmp_path):
    path = write_animation(tmp_path / "orbit.gif", frames(), frame_ms=60, max_width=45)
    with Image.open(path) as gif:
        assert gif.n_frames == 6 and gif.info["loop"] == 0 and gif.info["duration"] == 60
        assert gif.size == (45, 20)                              # 90 x 41 halved, aspect kept
        gif.seek(5)
        last = np.asarray(gif.convert("RGB"))
    assert last[10, 26:34].mean() > 150 and last[10, :20].mean() < 60   # the square moved right (x 50-70, halved)


def test_mp4_when_imageio_ffmpeg_is_installed(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    path = write_animation(tmp_path / "orbit.mp4", frames(12), frame_ms=50)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = reader.__next__()
    decoded = list(reader)
    assert meta["size"] == (90, 40) and len(decoded) == 12     # an odd height is cropped to even for yuv420p
    assert meta["fps"] == pytest.approx(20.0)


def test_bad_animation_paths_are_refused_before_any_work(tmp_path, monkeypatch):
    with pytest.raises(InputError, match=r"use one of \.gif, \.mp4"):
        check_animation_output(tmp_path / "orbit.avi")
    with pytest.raises(InputError, match="does not exist"):
        check_animation_output(tmp_path / "missing" / "orbit.gif")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(InputError, match="imageio-ffmpeg"):
        check_animation_output(tmp_path / "orbit.mp4")
    assert check_animation_output(tmp_path / "orbit.GIF") == ".gif"
