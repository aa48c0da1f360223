"""Error colours: the colour map every view shares, its clamp, and the labelled colour bar under the views.

A mesh's vertices are coloured by their distance to a reference (``evaluate.distances``),
from a cool near-white (0) to dark red (the clamp and beyond). The map is declared once, here, and
used both by the viewports (a vispy colormap, applied on the GPU) and by the colour bar.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSizePolicy, QWidget

# (position in [0, 1], RGB): from a cool near-white (unlike the plain mesh colour, so a good surface
# still reads as coloured) through yellow and orange to dark red, bright against the dark viewports
STOPS = ((0.0, (0.90, 0.94, 1.0)), (0.25, (1.0, 0.88, 0.45)), (0.5, (0.99, 0.55, 0.24)),
         (0.75, (0.89, 0.10, 0.11)), (1.0, (0.60, 0.0, 0.15)))
DEFAULT_CLAMP = 0.02     # the F-score@2% distance of the metrics, until measured distances say otherwise


def vispy_colormap():
    """The error colour map as a vispy ``Colormap`` (for ``MeshVisual.cmap``)."""
    from vispy.color import Colormap

    return Colormap([rgb for _, rgb in STOPS], controls=[pos for pos, _ in STOPS])


NICE_STEPS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def nice_ceiling(value: float) -> float:
    """The smallest of ``NICE_STEPS`` times a power of ten that is >= ``value`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(round(m * power, 12) for m in NICE_STEPS if m * power >= value * (1 - 1e-9))


def auto_clamp(p95s: list[float]) -> float:
    """The clamp shown when the user set none: the largest 95th percentile of the views, rounded up."""
    positive = [p for p in p95s if p is not None and p > 0]
    return nice_ceiling(max(positive)) if positive else DEFAULT_CLAMP


def format_summary(summary: dict, kind: str) -> str:
    """One line under a view: mean and 95th percentile of its vertices' distances."""
    if summary.get("mean") is None:
        return f"no surface to measure against the {kind}"
    return f"to the {kind}: mean {summary['mean']:.4f}, 95% {summary['p95']:.4f} (unit box)"


class GradientBar(QWidget):
    """The colour map drawn left to right with its labels: 0, half the clamp, the clamp (and beyond)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.clamp = DEFAULT_CLAMP
        self.setMinimumSize(220, 30)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_clamp(self, clamp: float) -> None:
        self.clamp = clamp
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        bar = QRectF(4, 2, self.width() - 8, 12)
        gradient = QLinearGradient(bar.left(), 0, bar.right(), 0)
        for pos, rgb in STOPS:
            gradient.setColorAt(pos, QColor.fromRgbF(*rgb))
        painter.fillRect(bar, gradient)
        painter.setPen(QColor("#444"))
        painter.drawRect(bar)
        labels = ((0.0, "0", Qt.AlignmentFlag.AlignLeft), (0.5, f"{self.clamp / 2:g}", Qt.AlignmentFlag.AlignHCenter),
                  (1.0, f"{self.clamp:g} and more", Qt.AlignmentFlag.AlignRight))
        for pos, text, align in labels:
            x = bar.left() + pos * bar.width()
            painter.drawLine(int(x), int(bar.bottom()), int(x), int(bar.bottom()) + 3)
            box = QRectF(x - 80 if 0 < pos < 1 else x, bar.bottom() + 2, 160, 14)
            if pos == 1.0:
                box.moveRight(x)
            painter.drawText(box, align | Qt.AlignmentFlag.AlignTop, text)
        painter.end()


class ErrorBar(QWidget):
    """The shared colour bar of the error colours: which reference, the map with its labels, the clamp.

    ``reference_changed(kind)`` and ``clamp_changed(value)`` (0 means automatic) fire on user edits.
    """

    reference_changed = Signal(str)
    clamp_changed = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.reference = QComboBox()
        self.reference.setToolTip("What each vertex's distance is measured to")
        self.bar = GradientBar()
        self.clamp = QDoubleSpinBox()
        self.clamp.setDecimals(4)
        self.clamp.setRange(0.0, 0.5)
        self.clamp.setSingleStep(0.005)
        self.clamp.setSpecialValueText("auto")
        self.clamp.setKeyboardTracking(False)
        self.clamp.setToolTip("Distance shown in the last colour (auto: the largest 95th percentile of the views)")
        policy = self.sizePolicy()
        policy.setRetainSizeWhenHidden(True)      # showing the bar must not resize the views (see Viewport)
        self.setSizePolicy(policy)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(QLabel("Error colours: distance to"))
        layout.addWidget(self.reference)
        layout.addWidget(self.bar, 1)
        layout.addWidget(QLabel("clamp"))
        layout.addWidget(self.clamp)
        self.reference.currentTextChanged.connect(lambda text: text and self.reference_changed.emit(text))
        self.clamp.valueChanged.connect(self.clamp_changed)

    def set_references(self, kinds: list[str]) -> None:
        """Offer ``kinds`` (best first) and select the first, without emitting ``reference_changed``."""
        self.reference.blockSignals(True)
        self.reference.clear()
        self.reference.addItems(kinds)
        self.reference.blockSignals(False)

    @property
    def kind(self) -> str | None:
        return self.reference.currentText() or None

    @property
    def user_clamp(self) -> float | None:
        """The clamp the user set, or None for automatic."""
        return self.clamp.value() or None

    def show_clamp(self, clamp: float) -> None:
        """Label the bar with the clamp in effect."""
        self.bar.set_clamp(clamp)
