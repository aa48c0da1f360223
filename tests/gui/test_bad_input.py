"""Bad input in the window: a dialog with one line, and the scene, settings and input unchanged."""

from __future__ import annotations

import dataclasses
import os
import pickle

import pytest

from conftest import random_checkpoint
from .conftest import drop

pytestmark = pytest.mark.gui
RUN_TIMEOUT_MS = 60_000


class Payload:
    """Unpickling this creates PWNED_BY_PICKLE in the working folder."""

    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def error_dialog(window) -> str:
    """The text of the open error box, which is closed and detached from the window."""
    from PySide6.QtWidgets import QMessageBox

    box = window.findChild(QMessageBox, "error-dialog")
    assert box is not None and box.isVisible()
    text = box.text()
    box.done(0)
    box.setParent(None)                   # the next findChild must not see this one
    return text


def state(window) -> dict:
    """What a bad file must not change: input, scene, settings, runs."""
    return {"path": window.model.path, "data": window.model.data, "runs": list(window.model.runs),
            "faces": window.grid.views[0].n_faces, "points": window.grid.views[0].n_points,
            "panel": window.model_panel.values(), "settings": dataclasses.asdict(window.model.settings),
            "name": window.input_panel.name.text()}


def test_bad_drops_show_a_dialog_and_change_nothing(window, qtbot, sphere_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with qtbot.waitSignal(window.idle, timeout=RUN_TIMEOUT_MS):
        drop(window, sphere_file)
    window.interactive = True             # real (non-blocking) dialogs from here on
    window.model_panel.apply({"resolution0": 24, "levels": 2})   # settings chosen but not yet run
    before = state(window)
    bad = {
        "broken.ply": b"ply\nformat ascii 1.0\nelement vertex 99999\nproperty float x\nend_header\n1 2\n",
        "empty.xyz": b"",
        "pickle.npy": pickle.dumps(Payload()),
        "evil.pt": pickle.dumps(Payload()),
        "notes.docx": b"PK\x03\x04 not a point cloud",
    }
    for name, content in bad.items():
        path = tmp_path / name
        path.write_bytes(content)
        with qtbot.waitSignal(window.error_shown, timeout=10_000) as blocker:
            drop(window, path)
        message = blocker.args[0]
        assert name in message and "\n" not in message and "Internal error" not in message
        assert message in error_dialog(window)
        assert state(window) == before, name
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


@pytest.fixture
def tampered_checkpoints(tmp_path, monkeypatch):
    """A checkpoints folder whose ConvONet weights were replaced by a pickle payload (card intact)."""
    folder = tmp_path / "checkpoints"
    weights = random_checkpoint(folder / "convonet-3plane.safetensors")
    weights.write_bytes(pickle.dumps(Payload()))
    monkeypatch.setenv("IMPLICIT_STUDIO_CHECKPOINTS", str(folder))
    monkeypatch.chdir(tmp_path)
    return weights


def test_tampered_checkpoint_is_refused_with_a_dialog(tampered_checkpoints, window, qtbot, sphere_file,
                                                      tmp_path):
    """The window cannot pick a checkpoint file; its shipped one is the way in: refused, never unpickled."""
    window.interactive = True
    window.model_panel.set_model("convonet-3plane")
    with qtbot.waitSignal(window.error_shown, timeout=RUN_TIMEOUT_MS) as blocker:
        drop(window, sphere_file)
    message = blocker.args[0]
    assert message.startswith(str(tampered_checkpoints)) and "corrupt or truncated safetensors" in message
    assert message in error_dialog(window)
    qtbot.waitUntil(lambda: not window.model.busy, timeout=10_000)
    assert window.grid.views[0].n_faces == 0 and window.grid.views[0].n_points == 2000
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


@pytest.fixture
def broken_card(tmp_path, monkeypatch):
    """A checkpoints folder whose ConvONet card is not JSON."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "convonet-3plane.safetensors").write_bytes(b"\0" * 64)
    (folder / "convonet-3plane.json").write_text("{not json")
    monkeypatch.setenv("IMPLICIT_STUDIO_CHECKPOINTS", str(folder))


def test_broken_checkpoint_card_does_not_stop_the_window(broken_card, window):
    window.model_panel.set_model("convonet-3plane")
    assert "Checkpoint unusable" in window.model_panel.card.text()
    assert "not valid JSON" in window.model_panel.card.text()
