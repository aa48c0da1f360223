"""SIREN / ReLU fitting panel: live loss curves (total and each term), steps/s, pause/resume/stop."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

RUN_COLORS = [(214, 39, 40), (31, 119, 180), (44, 160, 44), (148, 103, 189)]
TERM_STYLES = [pg.QtCore.Qt.PenStyle.DashLine, pg.QtCore.Qt.PenStyle.DotLine,
               pg.QtCore.Qt.PenStyle.DashDotLine, pg.QtCore.Qt.PenStyle.DashDotDotLine]
TERM_GREY = (90, 90, 90)


class FitPanel(QWidget):
    """One solid curve per fitted view (total loss) and dashed ones per loss term, log scale.

    The legend names each view once (its colour) and each loss term once (its line style).
    """

    pause_requested = Signal()
    resume_requested = Signal()
    stop_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.setLogMode(y=True)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextSize="8pt", colCount=3,
                                           brush=(255, 255, 255, 210))   # models by colour, terms by line style
        self.rate = QLabel("Pick SIREN or the ReLU MLP and Reconstruct to watch the fit")
        self.rate.setWordWrap(True)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.stop_button = QPushButton("Stop fit && mesh")
        self.stop_button.setToolTip("End fitting now and extract the final mesh from the current weights")
        buttons = QHBoxLayout()
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.rate)
        layout.addLayout(buttons)
        self.pause_button.toggled.connect(self._on_pause)
        self.stop_button.clicked.connect(self.stop_requested)
        self.curves: dict[tuple[int, str], pg.PlotDataItem] = {}
        self.data: dict[tuple[int, str], tuple[list, list]] = {}
        self.styled_terms: set[str] = set()
        self.names: dict[int, str] = {}
        self.rates: dict[int, str] = {}
        self.set_active(False)

    def start(self, names: dict[int, str]) -> None:
        """Clear the plot for the fitted views ``names`` (view index -> model name)."""
        self.plot.clear()
        self.legend.clear()
        self.curves.clear()
        self.styled_terms.clear()
        self.data.clear()
        self.rates.clear()
        self.names = dict(names)
        self.pause_button.setChecked(False)
        self.set_active(bool(names))
        self.rate.setText("fitting ..." if names else "no fitted model in this run")

    def set_active(self, active: bool) -> None:
        self.pause_button.setEnabled(active)
        self.stop_button.setEnabled(active)
        if not active:
            self.pause_button.setChecked(False)

    def _on_pause(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        (self.pause_requested if paused else self.resume_requested).emit()

    def add(self, index: int, event) -> None:
        """Append a FitProgress of view ``index`` to its curves."""
        if index not in self.names:
            return
        values = {"total": event.total, **event.terms}
        for k, (term, value) in enumerate(values.items()):
            key = (index, term)
            if key not in self.curves:
                color = RUN_COLORS[index % len(RUN_COLORS)]
                style = None if term == "total" else TERM_STYLES[(k - 1) % len(TERM_STYLES)]
                pen = pg.mkPen(color, width=2 if term == "total" else 1, style=style or pg.QtCore.Qt.PenStyle.SolidLine)
                self.curves[key] = self.plot.plot(pen=pen, name=self.names[index] if term == "total" else None)
                self.data[key] = ([], [])
                if style is not None and term not in self.styled_terms:     # one grey legend entry per term
                    self.styled_terms.add(term)
                    self.legend.addItem(pg.PlotDataItem(pen=pg.mkPen(TERM_GREY, style=style)), term)
            xs, ys = self.data[key]
            xs.append(event.step)
            ys.append(max(float(value), 1e-8))
            self.curves[key].setData(xs, ys)
        self.rates[index] = f"{self.names[index]}: step {event.step}, loss {event.total:.4g}, {event.steps_per_s:.1f} steps/s"
        self.rate.setText("\n".join(self.rates[i] for i in sorted(self.rates)))

    def totals(self, index: int) -> list[float]:
        """The total-loss values of view ``index`` so far."""
        return list(self.data.get((index, "total"), ([], []))[1])
