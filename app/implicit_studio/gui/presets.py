"""Classroom presets: JSON files in resources/presets naming an input, the views and the settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

RESOURCES = Path(__file__).resolve().parents[3] / "resources"
PRESET_DIR = RESOURCES / "presets"


@dataclass(frozen=True)
class Preset:
    """views : model names or representations ("points", "voxels", "mesh"), one viewport each
    settings : Settings fields (resolution0, levels, seconds, ...) for every view
    input : a path relative to resources/ (or absolute)
    """

    name: str
    title: str
    description: str
    input: str
    views: list[str]
    settings: dict = field(default_factory=dict)

    @property
    def input_path(self) -> Path:
        path = Path(self.input)
        return path if path.is_absolute() else RESOURCES / path


def load_presets(folder: Path = PRESET_DIR) -> dict[str, Preset]:
    """Every ``*.json`` preset in ``folder``, by name, in file-name order."""
    presets = {}
    for path in sorted(folder.glob("*.json")):
        raw = json.loads(path.read_text())
        preset = Preset(name=path.stem, title=raw["title"], description=raw.get("description", ""),
                        input=raw["input"], views=list(raw["views"]), settings=dict(raw.get("settings", {})))
        presets[preset.name] = preset
    return presets


def get_preset(name: str, folder: Path = PRESET_DIR) -> Preset:
    presets = load_presets(folder)
    if name not in presets:
        raise InputError(f"unknown preset {name!r}: choose one of {', '.join(presets) or '(none)'}")
    return presets[name]
