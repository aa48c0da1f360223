"""Side panel section: one row per view, with a bar for fitting/encoding and one per MISE level."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QProgressBar, QWidget

from ..engine.events import Encoded, Finished, FitProgress, LevelMesh, Started, TileMesh


def _show(bar: QProgressBar, maximum: int, value: int | None = None, text: str | None = None) -> None:
    """Set a bar's range 0..maximum (0: busy), value and text with one asynchronous repaint.

    ``QProgressBar.setValue`` repaints synchronously; in a window holding OpenGL views that
    means compositing the whole window on the spot (hundreds of ms under a software
    renderer). With updates off the changes only schedule an ordinary update.
    """
    bar.setUpdatesEnabled(False)
    try:
        bar.setRange(0, maximum)
        if value is not None:
            bar.setValue(value)
        if text is not None:
            bar.setFormat(text)
    finally:
        bar.setUpdatesEnabled(True)
        bar.update()


def _bar(text: str) -> QProgressBar:
    bar = QProgressBar()
    bar.setRange(0, 100)
    bar.setValue(0)
    bar.setFormat(text)
    bar.setTextVisible(True)
    bar.setMaximumHeight(18)
    bar.setMinimumWidth(36)     # the style's hint fits the whole text; five of them overflowed the side panel
    return bar


class ProgressPanel(QGroupBox):
    """Rows of bars: ``prepare`` (load/encode or the fit's seconds) then level 0..L (busy while running)."""

    def __init__(self, parent=None):
        super().__init__("Progress", parent)
        self._grid = QGridLayout(self)
        self._grid.setSpacing(3)
        self.rows: list[dict] = []

    def start(self, names: list[str], levels: int, fit_seconds: dict[int, float],
              plain: frozenset[int] = frozenset(), refine_seconds: dict[int, float] | None = None) -> None:
        """New rows for the views ``names``; ``fit_seconds[i]`` is set for fitted models, and
        ``refine_seconds[i]`` for learned ones refined after their levels (a last "refine" bar).

        Rows in ``plain`` (classroom views of the input: points, voxels, ground truth) get one
        bar across the level columns: they are built in one go, not meshed level by level.
        """
        while self._grid.count():
            item = self._grid.takeAt(0)
            if isinstance(item.widget(), QWidget):
                item.widget().deleteLater()
        self.rows = []
        for i, name in enumerate(names):
            label = QLabel(name)
            self._grid.addWidget(label, i, 0)
            if i in plain:
                prepare = _bar("building the view")
                _show(prepare, 0)
                self._grid.addWidget(prepare, i, 1, 1, levels + 2)
                self.rows.append({"prepare": prepare, "levels": [], "fit": None})
                continue
            prepare = _bar("fit %p%" if i in fit_seconds else "encode")
            bars = [_bar(f"L{k}") for k in range(levels + 1)]
            self._grid.addWidget(prepare, i, 1)
            for k, bar in enumerate(bars):
                self._grid.addWidget(bar, i, 2 + k)
            refine = (refine_seconds or {}).get(i)
            refine_bar = _bar("refine %p%") if refine else None
            if refine_bar is not None:
                self._grid.addWidget(refine_bar, i, 3 + levels)
            self.rows.append({"prepare": prepare, "levels": bars, "fit": fit_seconds.get(i),
                              "refine": refine, "refine_bar": refine_bar})

    def on_event(self, index: int, event) -> None:
        """Advance row ``index`` for a session event (LevelMesh arrives unwrapped)."""
        if index >= len(self.rows):
            return
        row = self.rows[index]
        if isinstance(event, Started):
            _show(row["prepare"], 0 if row["fit"] is None else 100)
        elif isinstance(event, Encoded) and row["fit"] is None:
            self._complete(row["prepare"])
            self._busy(row["levels"], 0)
        elif isinstance(event, FitProgress) and event.stage == "refine" and row.get("refine"):
            _show(row["refine_bar"], 100, min(100, int(100 * event.seconds / row["refine"])))
        elif isinstance(event, FitProgress) and row["fit"]:
            _show(row["prepare"], 100, min(100, int(100 * event.seconds / row["fit"])))
        elif isinstance(event, TileMesh) and row["levels"]:
            self._complete(row["prepare"])
            _show(row["levels"][0], event.total, event.done, f"tiles {event.done}/{event.total}")
        elif isinstance(event, LevelMesh) and not event.preview:
            self._complete(row["prepare"])
            if row.get("refine_bar") is not None and event.fit_step is not None:   # the refined levels
                self._complete(row["refine_bar"])
            if event.level < len(row["levels"]):
                _show(row["levels"][event.level], 100, 100, f"L{event.level} {event.resolution}^3")
            self._busy(row["levels"], event.level + 1)
        elif isinstance(event, Finished) and not row["levels"]:
            _show(row["prepare"], 100, 0 if event.cancelled else 100, "cancelled" if event.cancelled else "shown")
        elif isinstance(event, Finished):
            for bar in [row["prepare"], *row["levels"], *([row["refine_bar"]] if row.get("refine_bar") else [])]:
                if bar.maximum() == 0:
                    _show(bar, 100, 0, "cancelled" if event.cancelled else None)

    def on_failed(self, index: int) -> None:
        if index < len(self.rows):
            for bar in [self.rows[index]["prepare"], *self.rows[index]["levels"]]:
                _show(bar, 100, text="failed")

    @staticmethod
    def _complete(bar: QProgressBar) -> None:
        _show(bar, 100, 100)

    @staticmethod
    def _busy(bars: list[QProgressBar], k: int) -> None:
        if k < len(bars):
            _show(bars[k], 0)
