"""The layout's rules, checked by walking the package (no hand-made list):

- nothing outside ``gui/`` imports Qt (napari's rule): every such module imports with Qt blocked;
- the engine and io never import the training wing, evaluation or the gui, and io never imports
  the engine (io -> engine -> {train, evaluate} -> gui, cli), lazy imports inside functions included;
- the parts import each other without a cycle.
"""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import implicit_studio

PACKAGE = Path(implicit_studio.__file__).parent
BLOCK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'vispy', 'pyqtgraph', 'shiboken6'):
            raise ImportError('GUI package imported outside gui/: ' + name)
sys.meta_path.insert(0, Block())
"""
# what each part may import from the package (besides itself and the root's errors/__version__)
ALLOWED = {
    "errors": set(),
    "io": set(),
    "engine": {"io"},
    "train": {"io", "engine"},
    "evaluate": {"io", "engine", "train"},
    "gui": {"io", "engine", "evaluate"},
    "cli": {"io", "engine", "evaluate", "gui"},
}


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(implicit_studio.__path__, "implicit_studio."))


def _part(module: str) -> str:
    """``implicit_studio.engine.models.onet`` -> ``engine``; the package root itself -> ``errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "errors"


def _imports(module: str) -> set[str]:
    """Every package module that ``module``'s source imports, at top level or inside functions."""
    rel = module.split(".")[1:]
    path = PACKAGE.joinpath(*rel).with_suffix(".py")
    is_package = not path.exists()
    if is_package:
        path = PACKAGE.joinpath(*rel, "__init__.py")
    here = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            names = [f"{target}.{a.name}" for a in node.names] if not node.module else [target]
            found.update(n for n in names if n.startswith("implicit_studio"))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("implicit_studio"))
    return found


def test_walk_finds_every_part():
    parts = {_part(m) for m in _modules()}
    assert {"engine", "io", "train", "evaluate", "gui", "cli", "errors"} <= parts


def test_every_module_outside_gui_imports_without_qt():
    modules = [m for m in _modules() if _part(m) != "gui"]
    assert len(modules) > 30
    code = BLOCK + "".join(f"import {m}\n" for m in modules) + "import implicit_studio.cli as c; c.build_parser()\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_parts_import_only_what_the_layout_allows():
    wrong = []
    for module in _modules():
        part = _part(module)
        for target in _imports(module):
            other = _part(target)
            if other not in (part, "errors") and target != "implicit_studio.__version__" \
                    and other not in ALLOWED[part]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_engine_and_io_load_without_training_or_evaluation():
    modules = [m for m in _modules() if _part(m) in ("engine", "io")]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "bad = [m for m in sys.modules if m.startswith(('implicit_studio.train', 'implicit_studio.evaluate', "
              "'implicit_studio.gui'))]\nassert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_import_checker_sees_lazy_and_relative_imports():
    found = _imports("implicit_studio.engine.session")
    assert "implicit_studio.engine.checkpoints" in found        # imported inside a method
    assert "implicit_studio.io.inputs" in found                 # a relative import two levels up


def test_cli_help_starts_without_torch():
    code = "import sys, implicit_studio.cli as c; c.build_parser(); assert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
