"""A room in the window: the scene model's tiles build up, then the welded scene and its slices."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import NearestPointModel

from .conftest import drop

pytestmark = pytest.mark.gui
RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def scene_model(monkeypatch, tmp_path):
    """A convonet-scene checkpoint to find, and the stand-in model (a shell around the points) loaded for it."""
    from implicit_studio.engine.checkpoints import save_checkpoint
    from implicit_studio.engine.registry import get_spec
    from implicit_studio.engine.session import ModelStore

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    model = get_spec("convonet-scene").config("cpu").build()
    save_checkpoint(folder / "convonet-scene.safetensors", "convonet-scene", model, model.cfg, steps=0,
                    val_threshold=0.5)
    monkeypatch.setenv("IMPLICIT_STUDIO_CHECKPOINTS", str(folder))
    monkeypatch.setattr(ModelStore, "get", lambda self, path, name, device: (NearestPointModel(), {"val_threshold": 0.5}))


@pytest.fixture
def room_cm(tmp_path):
    """A 2.4 x 1.5 x 1.9 m box room written in centimetres (points on its six faces)."""
    from implicit_studio.io.files import write_point_cloud

    rng = np.random.default_rng(0)
    size = np.array([240.0, 150.0, 190.0])
    pts = rng.random((15_000, 3)) * size
    face = rng.integers(0, 6, len(pts))
    pts[np.arange(len(pts)), face // 2] = np.where(face % 2 == 0, 0.0, size[face // 2])
    path = tmp_path / "room_cm.ply"
    write_point_cloud(path, pts)
    return path


def test_a_room_builds_up_tile_by_tile_then_slices_in_metres(window, qtbot, scene_model, room_cm):
    from implicit_studio.engine.events import LevelMesh, TileMesh
    from implicit_studio.gui.workers import MeshPayload

    shown = []
    window.model.run_event.connect(lambda i, e: shown.append(e.event) if isinstance(e, MeshPayload) else None)
    window.model_panel.set_model("convonet-scene")
    window.model_panel.apply({"units": "cm", "voxel": 0.05})
    assert not window.model_panel.resolution0.isEnabled() and window.model_panel.units.isEnabled()
    assert window.model_panel.refine.isEnabled() and window.model_panel.refine.value() == 0   # per tile, off
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, room_cm)
    tiles = [e for e in shown if isinstance(e, TileMesh)]
    final = [e for e in shown if isinstance(e, LevelMesh)]
    assert tiles and len(final) == 1 and final[0].final
    assert [len(t.faces) for t in tiles] == sorted(len(t.faces) for t in tiles)    # the scene so far grows
    view = window.grid.views[0]
    assert view.n_faces == len(final[0].faces) and view.caption.text().startswith("scene done")
    # the view shows the scene in the window's frame, over the input points (the unit box)
    assert np.abs(final[0].vertices).max() < 0.55 + 0.05
    session = window.model.runs[0].session
    assert session.frame_scale == pytest.approx(2.4)            # metres per unit of the window's frame
    qtbot.waitUntil(lambda: window.slice_view.latest is not None, timeout=RUN_TIMEOUT_MS)
    assert " m;" in window.slice_view.info.text()
    values = window.slice_view.latest.values
    assert values.min() < 0.5 < values.max()                   # the slice crosses the walls
    # the plot spans the room in metres (2.4 m across), and the slider reads metres too
    (x0, x1), (y0, y1) = window.slice_view.plot.getViewBox().viewRange()
    assert x0 < -1.2 and x1 > 1.2 and y0 < -1.2 and y1 > 1.2 and min(x1 - x0, y1 - y0) < 2 * 2.4 * 0.55 * 1.2
    assert window.slice_view.position_label.text().endswith(" m")
    qtbot.waitUntil(lambda: window.slice_view.thread.idle, timeout=RUN_TIMEOUT_MS)


def test_a_room_sized_cloud_suggests_the_scene_model(window, qtbot, scene_model, tmp_path):
    from implicit_studio.io.files import write_point_cloud

    rng = np.random.default_rng(1)
    path = tmp_path / "hall.ply"
    write_point_cloud(path, rng.random((3000, 3)) * np.array([6.0, 2.5, 4.0]))
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, path)
    assert any("6.0 units across: if this is a room scan in metres, choose 'Convolutional ONet (scenes, metric)'"
               in m for m in messages)
