"""The core never imports Qt (napari's rule): importing it with Qt blocked must work."""

import subprocess
import sys

CORE = ["implicit_studio.core.session", "implicit_studio.models.onet", "implicit_studio.models.convonet",
        "implicit_studio.models.siren", "implicit_studio.meshing", "implicit_studio.metrics",
        "implicit_studio.train.checkpoint", "implicit_studio.train.siren_fit", "implicit_studio.data.inputs",
        "implicit_studio.cli"]

BLOCK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'vispy', 'pyqtgraph', 'shiboken6'):
            raise ImportError('GUI package imported by the core: ' + name)
sys.meta_path.insert(0, Block())
"""


def test_core_imports_without_gui_packages():
    code = BLOCK + "".join(f"import {m}\n" for m in CORE) + "import implicit_studio.cli as c; c.build_parser()\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_cli_help_starts_without_torch():
    code = "import sys, implicit_studio.cli as c; c.build_parser(); assert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
