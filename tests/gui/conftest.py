"""Fixtures for the window tests: a window with small settings, small inputs, and a leak check."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")


@pytest.fixture(scope="session")
def qapp_cls():
    """pytest-qt builds the studio's own QApplication (it can time rendering apart)."""
    from implicit_studio.gui.app import studio_application_class

    return studio_application_class()


@pytest.fixture(autouse=True)
def _private_settings(tmp_path_factory):
    """Recent files go to a temporary INI folder, never the user's."""
    from PySide6.QtCore import QSettings

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path_factory.mktemp("qsettings")))


@pytest.fixture
def window(qtbot):
    """The main window with test-sized settings; on teardown it must leave no worker running."""
    from implicit_studio.gui.app import qt_application
    from implicit_studio.gui.main_window import MainWindow

    qt_application()
    win = MainWindow(interactive=False)
    win.model_panel.set_model("siren")
    win.model_panel.apply({"resolution0": 16, "levels": 1, "seconds": 2})
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    assert not win.model._threads, "a worker thread outlived the window"
    assert not win.slice_view.thread.isRunning()


@pytest.fixture
def sphere_file(tmp_path):
    """A PLY of 2,000 points with normals on a sphere of radius 0.3."""
    from implicit_studio.io.files import write_point_cloud

    rng = np.random.default_rng(0)
    n = rng.normal(size=(2000, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    path = tmp_path / "sphere.ply"
    write_point_cloud(path, 0.3 * n, n)
    return path


@pytest.fixture
def box_mesh_file(tmp_path):
    """An OBJ box: a mesh input, so there is a ground truth for metrics."""
    import trimesh

    from implicit_studio.io.files import write_mesh

    box = trimesh.creation.box(extents=(0.6, 0.4, 0.5))
    path = tmp_path / "box.obj"
    write_mesh(path, box.vertices, box.faces)
    return path


def drop(window, path) -> None:
    """Simulate dropping ``path`` on the window: a QDropEvent with a URL list."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
