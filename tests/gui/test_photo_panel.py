"""The input panel for photos: mask and box on the thumbnail, the framed input, the reason a photo
could not be reconstructed, and a box dragged on the thumbnail."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt

from implicit_studio.engine.events import Isolated
from implicit_studio.gui.input_panel import BOX_COLOUR, InputPanel, isolation_overlay
from implicit_studio.io.inputs import InputData


def _image():
    image = np.full((200, 300, 3), 120, np.uint8)
    image[50:150, 100:200] = (200, 40, 40)
    return image


def test_overlay_dims_the_background_and_outlines_the_box():
    image = _image()
    mask = np.zeros((200, 300), bool)
    mask[50:150, 100:200] = True
    out = isolation_overlay(image, mask, (90, 40, 210, 160), side=300)
    assert out.shape == (200, 300, 3)
    assert (out[100, 150] == (200, 40, 40)).all()                  # the object as it is
    assert out[10, 10].max() < 120                                  # the background dimmed
    assert (out[40, 150] == BOX_COLOUR).all() and (out[100, 90] == BOX_COLOUR).all()


def test_panel_shows_the_isolation_and_the_problem(qtbot):
    panel = InputPanel()
    qtbot.addWidget(panel)
    panel.show()
    image = _image()
    panel.show_input("photo.png", InputData("photo.png", "image", image=image))
    assert panel.isolation_row.isHidden() and panel.problem.isHidden()
    mask = np.zeros((200, 300), bool)
    mask[50:150, 100:200] = True
    framed = np.full((128, 128, 3), 255, np.uint8)
    problem = "found 2 separate objects and kept the largest; crop the photo to one object"
    panel.show_isolation(Isolated(mask, framed, framed[..., 0] < 255, (19, 12, 281, 188), "grabcut", problem))
    assert not panel.isolation_row.isHidden() and not panel.framed.pixmap().isNull()
    assert "grabcut" in panel.isolation.text() and "19,12,281,188" in panel.isolation.text()
    assert panel.problem.text() == problem and not panel.problem.isHidden()
    panel.show_input("next.png", InputData("next.png", "image", image=image))
    assert panel.problem.isHidden()


def test_a_box_dragged_on_the_thumbnail_is_in_image_pixels(qtbot):
    panel = InputPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.show_input("photo.png", InputData("photo.png", "image", image=_image()))
    label = panel.thumbnail
    qtbot.waitExposed(panel)
    shown = label._pixmap_rect()
    scale = 300 / shown.width()
    start = shown.topLeft() + QPoint(round(100 / scale), round(50 / scale))
    end = shown.topLeft() + QPoint(round(200 / scale) - 1, round(150 / scale) - 1)
    with qtbot.waitSignal(panel.box_drawn) as blocker:
        qtbot.mousePress(label, Qt.MouseButton.LeftButton, pos=start)
        qtbot.mouseMove(label, end)
        qtbot.mouseRelease(label, Qt.MouseButton.LeftButton, pos=end)
    x0, y0, x1, y1 = blocker.args[0]
    assert abs(x0 - 100) <= 3 and abs(y0 - 50) <= 3 and abs(x1 - 200) <= 3 and abs(y1 - 150) <= 3


def test_a_photo_the_model_cannot_read_shows_the_reason_not_a_cube(window, qtbot, tmp_path):
    import torch
    from PIL import Image

    from implicit_studio.engine.checkpoints import save_checkpoint
    from implicit_studio.engine.registry import get_spec

    from .conftest import drop

    cfg = get_spec("onet-image").config("cpu")
    model = cfg.build()
    with torch.no_grad():
        model.decoder.fc_out.weight.zero_()
        model.decoder.fc_out.bias.fill_(8.0)          # occupied everywhere: a box-filling solid
    ckpt = tmp_path / "full.safetensors"
    save_checkpoint(ckpt, "onet-image", model, cfg)
    rng = np.random.default_rng(0)
    photo = np.clip(rng.normal(110, 25, (90, 120, 3)), 0, 255).astype(np.uint8)
    photo[30:60, 40:80] = (220, 30, 30)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    window.model_panel.set_model("onet-image")
    window.model.settings.checkpoint = str(ckpt)
    with qtbot.waitSignal(window.idle, timeout=60_000):
        drop(window, tmp_path / "photo.png")
    view = window.grid.views[0]
    assert view.n_faces == 0
    assert "filled 100% of the box instead of finding one object" in view.caption.text()
    assert "--box" in window.input_panel.problem.text() and not window.input_panel.problem.isHidden()
    assert not window.input_panel.isolation_row.isHidden()
