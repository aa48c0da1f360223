"""Dialogs: error messages (non-blocking), keyboard shortcuts, about box."""

from __future__ import annotations

import platform

from PySide6.QtWidgets import QMessageBox, QWidget

SHORTCUTS = [
    ("Ctrl+O", "Open a point cloud, mesh or image"),
    ("Ctrl+R", "Reconstruct with the chosen model"),
    ("Esc", "Cancel the running reconstruction"),
    ("Ctrl+E", "Export the mesh (PLY, OBJ, STL, GLB)"),
    ("Ctrl+S", "Save a screenshot of the window (PNG)"),
    ("Ctrl+T", "Save a turntable of the views (GIF, or MP4 with imageio-ffmpeg)"),
    ("Ctrl+Shift+C / Ctrl+Shift+V", "Copy / paste the camera (JSON on the clipboard)"),
    ("W", "Toggle wireframe"),
    ("B", "Toggle bounding box"),
    ("P", "Toggle input points"),
    ("E", "Toggle error colours (distance to the ground truth or the input points)"),
    ("S", "Toggle the slice plane in the 3D views"),
    ("X", "Toggle cutting the meshes away between you and the slice plane"),
    ("R or double click", "Reset the view"),
    ("Left drag / right or Shift drag / wheel", "Orbit / pan / zoom"),
    ("F1", "This list"),
]


def show_error(parent: QWidget, title: str, message: str) -> QMessageBox:
    """A warning box that does not block the event loop (the window keeps running)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("error-dialog")
    box.open()
    return box


def shortcuts_html() -> str:
    rows = "".join(f"<tr><td><b>{keys}</b></td><td>&nbsp;&nbsp;{what}</td></tr>" for keys, what in SHORTCUTS)
    return f"<table>{rows}</table>"


def show_shortcuts(parent: QWidget) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts", shortcuts_html(),
                      QMessageBox.StandardButton.Ok, parent)
    box.open()
    return box


def about_text(device: str) -> str:
    """Versions of the application and the libraries it stands on, and the compute device."""
    import PySide6
    import pyqtgraph
    import torch
    import vispy

    from .. import __version__

    return (f"<b>Implicit Studio {__version__}</b><br>Neural implicit 3D reconstruction: "
            f"Occupancy Networks, Convolutional ONet, SIREN.<br><br>"
            f"Python {platform.python_version()}<br>PySide6 {PySide6.__version__}<br>vispy {vispy.__version__}"
            f"<br>pyqtgraph {pyqtgraph.__version__}<br>torch {torch.__version__}<br>device: {device}")


def show_about(parent: QWidget, device: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.NoIcon, "About Implicit Studio", about_text(device),
                      QMessageBox.StandardButton.Ok, parent)
    box.open()
    return box
