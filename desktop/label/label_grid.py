"""The labeling grid: the Data step's thumbnails, filtered and sorted, with each image's label
(a border and badge in its class colour) and the model's prediction.

:class:`LabelModel` is a view over the shared :class:`ThumbnailModel` (thumbnails are made
once); its row order is a numpy array of source rows, so filtering and sorting 100k images
is a few vectorised operations, not a Python call per row.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QRect, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from desktop.common.thumbnail_grid import ThumbnailDelegate, ThumbnailGrid, ThumbnailModel
from desktop.common.thumbnails import THUMB_SIZE

LabelRole = Qt.ItemDataRole.UserRole + 10        # LabelInfo or None
PredictionRole = Qt.ItemDataRole.UserRole + 11   # engine.finetune.run.Prediction or None
RelPathRole = Qt.ItemDataRole.UserRole + 12      # the path relative to the image root
FILTERS = ("all", "labeled", "unlabeled", "disagrees", "map")   # plus "class:<name>"; "map": the map's selection
SMALLEST_EDGE, TARGET_EDGE = 72, 92     # px: a narrow pane shows more, smaller thumbnails (at most THUMB_SIZE)


@dataclass(frozen=True)
class LabelInfo:
    name: str
    colour: str
    accepted: bool       # an accepted prediction rather than a click


class LabelModel(QAbstractListModel):
    """The rows of ``source`` that pass the filter, in the chosen order."""

    def __init__(self, source: ThumbnailModel, parent=None) -> None:
        super().__init__(parent)
        self.source = source
        self.labels: dict[str, LabelInfo] = {}
        self.predictions: dict = {}
        self.filter = "all"
        self.map_selection: list[str] = []      # the paths the "map" filter shows
        self.sort_by_confidence = False
        self._rows = np.arange(0)
        self._position = np.zeros(0, dtype=np.int64)   # source row -> our row, -1 when hidden
        self._source_rows: dict[str, int] = {}
        source.modelReset.connect(self._on_source_reset)
        source.dataChanged.connect(self._on_source_changed)
        self._on_source_reset()

    # --- state ---------------------------------------------------------------------------------
    def set_labels(self, labels: dict[str, LabelInfo]) -> None:
        self.labels = labels
        self._refresh()

    def set_predictions(self, predictions: dict) -> None:
        self.predictions = predictions
        self._refresh()

    def set_filter(self, name: str) -> None:
        self.filter = name
        self._rebuild()

    def set_map_selection(self, paths: list[str]) -> None:
        """The images the "map" filter shows (a lasso or box selection on the map)."""
        self.map_selection = list(paths)
        if self.filter == "map":
            self._rebuild()

    def set_sort_by_confidence(self, on: bool) -> None:
        self.sort_by_confidence = on
        self._rebuild()

    def paths(self) -> list[str]:
        """Relative paths of the rows shown, in order."""
        records = self.source.records()
        return [records[int(r)].path for r in self._rows]

    def row_of(self, rel_path: str) -> Optional[int]:
        """Our row of ``rel_path``, or None when it is filtered out or unknown."""
        source_row = self._source_rows.get(rel_path)
        if source_row is None or self._position[source_row] < 0:
            return None
        return int(self._position[source_row])

    # --- Qt model ------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        source_row = int(self._rows[index.row()])
        source_index = self.source.index(source_row)
        if role in (LabelRole, PredictionRole, RelPathRole, Qt.ItemDataRole.ToolTipRole):
            path = self.source.records()[source_row].path
            if role == RelPathRole:
                return path
            if role == LabelRole:
                return self.labels.get(path)
            if role == PredictionRole:
                return self.predictions.get(path)
            return self._tooltip(source_index, path)
        return self.source.data(source_index, role)

    def is_broken(self, index: QModelIndex) -> bool:
        return self.source.is_broken(self.source.index(int(self._rows[index.row()])))

    def _tooltip(self, source_index, path: str) -> str:
        lines = [self.source.data(source_index, Qt.ItemDataRole.ToolTipRole)]
        label = self.labels.get(path)
        if label:
            lines.append(f"Label: {label.name}" + (" (accepted prediction)" if label.accepted else ""))
        prediction = self.predictions.get(path)
        if prediction:
            lines.append(f"Prediction: {prediction.prediction} {prediction.confidence:.0%} "
                         f"(then {prediction.runner_up} {prediction.runner_up_confidence:.0%})")
        return "\n".join(lines)

    # --- filtering and order -------------------------------------------------------------------
    def _order(self) -> np.ndarray:
        paths = [record.path for record in self.source.records()]
        keep = np.ones(len(paths), dtype=bool)
        if self.filter == "map":
            keep[:] = False
            keep[[self._source_rows[p] for p in self.map_selection if p in self._source_rows]] = True
        elif self.filter != "all":
            keep = np.fromiter((self._passes(path) for path in paths), dtype=bool, count=len(paths))
        rows = np.nonzero(keep)[0]
        if self.sort_by_confidence and self.predictions:
            confidence = np.array([getattr(self.predictions.get(paths[r]), "confidence", 2.0) for r in rows])
            rows = rows[np.argsort(confidence, kind="stable")]
        return rows

    def _passes(self, path: str) -> bool:
        label = self.labels.get(path)
        if self.filter == "labeled":
            return label is not None
        if self.filter == "unlabeled":
            return label is None
        if self.filter == "disagrees":
            prediction = self.predictions.get(path)
            return label is not None and prediction is not None and prediction.prediction != label.name
        if self.filter.startswith("class:"):
            return label is not None and label.name == self.filter[6:]
        return True

    def _on_source_reset(self) -> None:
        self._source_rows = {record.path: row for row, record in enumerate(self.source.records())}
        self._rebuild()

    def _rebuild(self) -> None:
        self.beginResetModel()
        self._rows = self._order()
        self._position = np.full(self.source.rowCount(), -1, dtype=np.int64)
        self._position[self._rows] = np.arange(len(self._rows))
        self.endResetModel()

    def _refresh(self) -> None:
        """New labels or predictions: rebuild when the rows change, else repaint in place."""
        rows = self._order()
        if len(rows) != len(self._rows) or not np.array_equal(rows, self._rows):
            self._rebuild()
        elif len(rows):
            self.dataChanged.emit(self.index(0), self.index(len(rows) - 1))

    def _on_source_changed(self, top, bottom, roles=()) -> None:
        for source_row in range(top.row(), bottom.row() + 1):
            if source_row < len(self._position) and self._position[source_row] >= 0:
                index = self.index(int(self._position[source_row]))
                self.dataChanged.emit(index, index, roles)


class LabelDelegate(ThumbnailDelegate):
    """The thumbnail with a class-colour border and name badge (dashed for accepted predictions)
    and, when a model exists, its prediction in a strip at the bottom of the picture."""

    def paint(self, painter: QPainter, option, index) -> None:
        super().paint(painter, option, index)
        label, prediction = index.data(LabelRole), index.data(PredictionRole)
        image = self.image_rect(option.rect)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = painter.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        if label is not None:
            colour = QColor(label.colour)
            pen = QPen(colour, 3, Qt.PenStyle.DashLine if label.accepted else Qt.PenStyle.SolidLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(image.adjusted(-2, -2, 2, 2), 6, 6)
            text = ("≈ " if label.accepted else "") + label.name
            text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, image.width() - 12)
            badge = QRect(image.x() + 3, image.y() + 3, metrics.horizontalAdvance(text) + 10, metrics.height() + 2)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(badge, 4, 4)
            painter.setPen(QColor("#000000") if colour.lightnessF() > 0.6 else QColor("#ffffff"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
        if prediction is not None:
            disagrees = label is not None and label.name != prediction.prediction
            text = f"{'≠ ' if disagrees else ''}{prediction.prediction} {prediction.confidence:.0%}"
            text = metrics.elidedText(text, Qt.TextElideMode.ElideMiddle, image.width() - 8)
            strip = QRect(image.x(), image.bottom() - metrics.height() - 3, image.width(), metrics.height() + 4)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(180, 30, 45, 215) if disagrees else QColor(0, 0, 0, 150))
            painter.drawRect(strip)
            painter.setPen(QColor("#ffffff"))
            painter.drawText(strip, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()


def label_key(event) -> Optional[int]:
    """The label key of a key press: 1–9 for a class, 0 for clearing (0, Delete, Backspace), else None."""
    if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier != Qt.KeyboardModifier.NoModifier:
        return None
    key = event.key()
    if Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
        return key - Qt.Key.Key_0
    if key in (Qt.Key.Key_0, Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
        return 0
    return None


def fitted_edge(width: int, padding: int, spacing: int) -> int:
    """The thumbnail edge (px) for a grid ``width`` px wide whose cells add ``padding`` and
    ``spacing`` on each side: as many columns as thumbnails of about ``TARGET_EDGE`` px take,
    then each thumbnail grown or shrunk to fill the row, within ``SMALLEST_EDGE``–``THUMB_SIZE``."""
    around = 2 * (padding + spacing)
    columns = max(1, min(round(width / (TARGET_EDGE + around)), width // (SMALLEST_EDGE + around)))
    return max(SMALLEST_EDGE, min(THUMB_SIZE, width // columns - around))


class LabelGrid(ThumbnailGrid):
    """Emits ``painted(row)`` on a plain left click (the page labels it when a class is chosen),
    ``number_pressed(n)`` for keys 1–9, ``clear_pressed`` for Delete, Backspace and 0, and
    ``escape_pressed`` for Esc.
    Its thumbnails are sized to fill the rows of its width (:func:`fitted_edge`)."""

    painted = Signal(int)
    number_pressed = Signal(int)
    clear_pressed = Signal()
    escape_pressed = Signal()

    def __init__(self, model: LabelModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.setItemDelegate(LabelDelegate(self))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        """Fit the thumbnails to the width left beside a scroll bar (shown or not, so that the bar
        coming or going never changes the layout)."""
        super().resizeEvent(event)
        width = self.maximumViewportSize().width() - self.verticalScrollBar().sizeHint().width()
        delegate = self.itemDelegate()
        edge = fitted_edge(width, delegate.PADDING, self.spacing())
        if edge != delegate.edge:
            delegate.edge = edge
            delegate.sizeHintChanged.emit(QModelIndex())

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt API
        index = self.indexAt(event.position().toPoint())
        plain = event.modifiers() == Qt.KeyboardModifier.NoModifier
        super().mouseReleaseEvent(event)
        if index.isValid() and plain and event.button() == Qt.MouseButton.LeftButton:
            self.painted.emit(index.row())

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        number = label_key(event)
        if event.key() == Qt.Key.Key_Escape and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self.escape_pressed.emit()
        elif number is None:
            super().keyPressEvent(event)
        elif number:
            self.number_pressed.emit(number)
        else:
            self.clear_pressed.emit()

    def selected_paths(self) -> list[str]:
        rows = sorted(index.row() for index in self.selectionModel().selectedIndexes())
        return [self.model().index(row).data(RelPathRole) for row in rows]

    def select_path(self, rel_path: str) -> bool:
        row = self.model().row_of(rel_path)
        if row is None:
            return False
        index = self.model().index(row)
        self.setCurrentIndex(index)
        self.scrollTo(index)
        return True

