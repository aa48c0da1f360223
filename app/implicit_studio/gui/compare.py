"""Several viewports side by side with linked cameras, and the metrics table that compares them."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QTableWidget, QTableWidgetItem, QWidget

from .viewport import Viewport

METRIC_COLUMNS = [("iou", "IoU"), ("chamfer_l1", "Chamfer-L1"), ("normal_consistency", "NC"),
                  ("fscore_1pct", "F@1%")]


class ViewGrid(QWidget):
    """1 to 4 viewports in a grid; every camera is linked to the first, so all move together."""

    MAX_VIEWS = 4

    def __init__(self, parent=None):
        super().__init__(parent)
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.views: list[Viewport] = []
        self.set_count(1)

    def set_count(self, n: int) -> list[Viewport]:
        """Show ``n`` viewports (reusing existing ones), keep their cameras linked, return them."""
        n = max(1, min(self.MAX_VIEWS, n))
        while len(self.views) < n:
            view = Viewport()
            if self.views:
                view.set_camera_state(self.views[0].camera_state())
                self.views[0].link_camera(view)     # a star: links in a cycle would recurse
            self.views.append(view)
        cols = 1 if n == 1 else 2
        for i, view in enumerate(self.views):
            self._layout.removeWidget(view.widget)
            if i < n:
                self._layout.addWidget(view.widget, i // cols, i % cols)
                view.widget.show()
            else:
                view.widget.hide()
                view.clear()
        self.count = n
        return self.views[:n]

    def active(self) -> list[Viewport]:
        return self.views[: self.count]

    def close(self) -> None:
        for view in self.views:
            view.close()


class MetricsTable(QTableWidget):
    """One row per view: model, timings, and the mesh metrics when a ground truth is known."""

    def __init__(self, parent=None):
        headers = ["view", "first mesh s", "final s", "faces"] + [title for _k, title in METRIC_COLUMNS]
        super().__init__(0, len(headers), parent)
        self.setHorizontalHeaderLabels(headers)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setStretchLastSection(True)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

    def start(self, names: list[str], tooltips: list[str] | None = None) -> None:
        """One empty row per view, named ``names`` (``tooltips``: their full titles)."""
        self.setRowCount(len(names))
        for row, name in enumerate(names):
            self._set(row, 0, name)
            if tooltips:
                self.item(row, 0).setToolTip(tooltips[row])
            for col in range(1, self.columnCount()):
                self._set(row, col, "")
        self.resizeColumnToContents(0)

    def set_timing(self, row: int, first_s: float | None, final_s: float | None, faces: int | None) -> None:
        """A view's first mesh (kept once set: a refined model's later levels are not its first mesh),
        latest final mesh time and face count."""
        item = self.item(row, 1)
        if first_s is not None and (item is None or not item.text()):
            self._set(row, 1, f"{first_s:.2f}")
        if final_s is not None:
            self._set(row, 2, f"{final_s:.2f}")
        if faces is not None:
            self._set(row, 3, f"{faces:,}")

    def set_metrics(self, row: int, metrics: dict) -> None:
        if "error" in metrics:
            self._set(row, 4, metrics["error"])
            return
        for k, (key, _title) in enumerate(METRIC_COLUMNS):
            value = metrics.get(key)
            self._set(row, 4 + k, "missing" if value is None else f"{value:.4f}")

    def set_note(self, row: int, text: str) -> None:
        self._set(row, 4, text)

    def _set(self, row: int, col: int, text: str) -> None:
        if row < self.rowCount():
            self.setItem(row, col, QTableWidgetItem(text))
