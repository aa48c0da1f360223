"""Side panel section: model picker with its card, meshing parameters, Reconstruct and Cancel."""

from __future__ import annotations

from contextlib import contextmanager

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QSpinBox, QVBoxLayout)

from ..engine.settings import DEFAULT_MODELS, DEFAULT_POSE, PARAMETERS, POSES, Parameter, threshold_parameter
from ..engine.registry import MODELS, default_checkpoint
from ..engine.checkpoints import default_threshold


def model_card_text(name: str) -> str:
    """The description of model ``name`` plus what its checkpoint card says (or that it has none)."""
    spec = MODELS[name]
    lines = [spec.description]
    if not spec.learned:
        lines.append("Fitted to this shape while you watch; no checkpoint needed.")
        return "\n".join(lines)
    path = default_checkpoint(name)
    if path is None:
        lines.append("No trained checkpoint yet.")
        return "\n".join(lines)
    from ..errors import CheckpointError
    from ..engine.checkpoints import read_card

    try:
        card = read_card(path)
    except CheckpointError as exc:      # a damaged card must not stop the window from opening
        lines.append(f"Checkpoint unusable: {exc}")
        return "\n".join(lines)
    metrics = card.get("metrics", {})
    parts = [f"checkpoint {path.name}"]
    features = feature_side_text(card.get("config", {}))
    if features:
        parts.append(features)
    if "steps" in card:
        parts.append(f"{card['steps']} training steps")
    if metrics.get("test_iou") is not None:
        parts.append(f"test IoU {metrics['test_iou']:.3f}")
    lines.append(", ".join(parts))
    return "\n".join(lines)


def feature_side_text(config: dict) -> str:
    """What a ConvONet card's features are held on ("40^3 grid", "3 planes of 64^2"), else ""."""
    reso = config.get("reso")
    if not isinstance(reso, int):
        return ""
    return {"grid": f"{reso}^3 grid", "3plane": f"3 planes of {reso}^2"}.get(config.get("kind"), "")


def _spin_box(param: Parameter) -> QSpinBox | QDoubleSpinBox:
    """A spin box over a declared setting's range, at its default, with its help as tooltip."""
    box = QSpinBox() if isinstance(param.default, int) else QDoubleSpinBox(decimals=param.decimals)
    box.setRange(param.low, param.high)
    box.setSingleStep(param.step)
    if param.default is not None:
        box.setValue(param.default)
    if param.unit and param.unit != "cells":
        box.setSuffix(f" {param.unit}")
    box.setToolTip(param.help[0].upper() + param.help[1:])
    return box


def default_model() -> str:
    """The model the window starts with: the first of DEFAULT_MODELS with trained weights, else SIREN."""
    return next((name for name in DEFAULT_MODELS if default_checkpoint(name)), "siren")


class ModelPanel(QGroupBox):
    """Emits ``reconstruct_requested`` / ``cancel_requested``; ``values()`` gives the chosen settings.

    ``threshold_edited(value)`` fires when the user changes the threshold (arrows, wheel, or a
    typed value confirmed), never when the panel sets it (a model's default, a preset).
    """

    reconstruct_requested = Signal()
    cancel_requested = Signal()
    threshold_edited = Signal(float)

    def __init__(self, parent=None):
        super().__init__("Model", parent)
        self.combo = QComboBox()
        for spec in MODELS.values():
            self.combo.addItem(spec.title, spec.name)
        self.card = QLabel()
        self.card.setWordWrap(True)
        self.card.setStyleSheet("color: #555;")
        self.resolution0 = _spin_box(PARAMETERS["resolution0"])
        self.levels = _spin_box(PARAMETERS["levels"])
        self.threshold = QDoubleSpinBox()
        self.threshold.setKeyboardTracking(False)      # typing "0.35" re-meshes once, not at "0", "0.3"
        self._setting_threshold = False
        self.seconds = _spin_box(PARAMETERS["seconds"])
        self.refine = _spin_box(PARAMETERS["refine"])
        self.voxel = _spin_box(PARAMETERS["voxel"])
        self.trim = _spin_box(PARAMETERS["trim"])
        self.ensemble = _spin_box(PARAMETERS["ensemble"])
        self.ensemble.setSpecialValueText("off")
        self.units = QComboBox()
        for units, title in (("m", "metres"), ("cm", "centimetres"), ("mm", "millimetres")):
            self.units.addItem(title, units)
        self.units.setToolTip("What the scan's coordinates are in (scene model)")
        self.pose = QComboBox()
        for pose, title in zip(POSES, ("as loaded", "straighten", "find pose")):
            self.pose.addItem(title, pose)
        self.pose.setCurrentIndex(POSES.index(DEFAULT_POSE))
        self.pose.setToolTip("as loaded: the file's axes\n"
                             "straighten: the scan turned to the axes of its tightest box when it is clearly off "
                             "them (instant)\n"
                             "find pose: the scan tried in 25 poses (as it is and the quarter turns of its tightest "
                             "box), the one the\nmodel's coarse mesh fits best kept (the scan as loaded is shown at "
                             "once, the mesh in the pose found\na few seconds later)\n"
                             "Meshes stay in the file's axes.")
        form = QFormLayout()
        form.addRow("Resolution", self.resolution0)
        form.addRow("Levels", self.levels)
        form.addRow("Threshold", self.threshold)
        form.addRow("Fit time", self.seconds)
        form.addRow("Refine", self.refine)
        form.addRow("Pose", self.pose)
        form.addRow("Ensemble", self.ensemble)
        form.addRow("Voxel", self.voxel)
        form.addRow("Trim", self.trim)
        form.addRow("Units", self.units)
        self._scene_rows = (self.voxel, self.trim, self.units)
        self.run_button = QPushButton("Reconstruct")
        self.run_button.setToolTip("Reconstruct (Ctrl+R)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel (Esc)")
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.combo)
        layout.addWidget(self.card)
        layout.addLayout(form)
        layout.addLayout(buttons)
        self.combo.currentIndexChanged.connect(self._on_model)
        self.threshold.valueChanged.connect(self._on_threshold)
        self.run_button.clicked.connect(self.reconstruct_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.set_model(default_model())
        self._on_model()

    @property
    def model(self) -> str:
        return self.combo.currentData()

    def set_model(self, name: str) -> None:
        self.combo.setCurrentIndex(self.combo.findData(name))

    def _on_model(self) -> None:
        spec = MODELS[self.model]
        self.card.setText(model_card_text(spec.name))
        param = threshold_parameter(spec.learned)
        margin = 10.0 ** -param.decimals if param.open_ends else 0.0   # (0, 1): 0.001..0.999
        self.threshold.setToolTip(param.help[0].upper() + param.help[1:] + "; changing it re-meshes the "
                                  "views at once, without encoding or fitting again")
        with self._quiet_threshold():         # a new range may clamp the old value: not the user's edit
            self.threshold.setRange(param.low + margin, param.high - margin)
            self.threshold.setDecimals(param.decimals)
            self.threshold.setSingleStep(param.step)
            self.threshold.setValue(default_threshold(spec.name))
        self.seconds.setEnabled(not spec.learned)
        self.refine.setEnabled(spec.learned and spec.input_kind == "points")     # the scene model: per tile
        self.pose.setEnabled(spec.learned and spec.input_kind == "points" and not spec.metric)
        self.ensemble.setEnabled(self.pose.isEnabled())
        for box in self._scene_rows:
            box.setEnabled(spec.metric)
        self.resolution0.setEnabled(not spec.metric)
        self.levels.setEnabled(not spec.metric)
        self.refine.setValue(spec.refine_seconds)

    @contextmanager
    def _quiet_threshold(self):
        """Changes to the threshold inside the block do not emit ``threshold_edited``."""
        self._setting_threshold = True
        try:
            yield
        finally:
            self._setting_threshold = False

    def _on_threshold(self, value: float) -> None:
        if not self._setting_threshold:
            self.threshold_edited.emit(value)

    @property
    def learned(self) -> bool:
        """Whether the chosen model's threshold is an occupancy probability (else a signed distance)."""
        return MODELS[self.model].learned

    def values(self) -> dict:
        """The Settings fields this panel controls."""
        return {"model": self.model, "resolution0": self.resolution0.value(), "levels": self.levels.value(),
                "threshold": self.threshold.value(), "seconds": self.seconds.value(), "refine": self.refine.value(),
                "pose": self.pose.currentData(), "ensemble": self.ensemble.value(),
                "voxel": self.voxel.value(), "trim": self.trim.value(), "units": self.units.currentData()}

    def apply(self, values: dict) -> None:
        """Set the controls from a preset or the command line (unknown keys are ignored)."""
        if "model" in values:
            self.set_model(values["model"])
        for key in ("resolution0", "levels", "seconds", "refine", "voxel", "trim", "ensemble"):
            if key in values:
                getattr(self, key).setValue(values[key])
        if "pose" in values:
            self.pose.setCurrentIndex(max(0, self.pose.findData(values["pose"])))
        if "units" in values:
            self.units.setCurrentIndex(max(0, self.units.findData(values["units"])))
        if "threshold" in values:
            with self._quiet_threshold():
                self.threshold.setValue(values["threshold"])

    def set_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
