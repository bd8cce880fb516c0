"""A few chosen images of the folder as a thumbnail list (nearest neighbours, a duplicate pair).

:class:`ImageSubsetModel` is a view over the shared :class:`ThumbnailModel`, so thumbnails
come from the same loader and cache; each row may carry its own caption.
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt

from desktop.common.thumbnail_grid import ThumbnailGrid, ThumbnailModel
from desktop.label.label_grid import RelPathRole


class ImageSubsetModel(QAbstractListModel):
    """Rows ``source_rows`` of ``source`` in the given order, captioned by ``captions``."""

    def __init__(self, source: ThumbnailModel, parent=None) -> None:
        super().__init__(parent)
        self.source = source
        self._rows: list[int] = []
        self._captions: list[str] = []
        source.dataChanged.connect(self._on_source_changed)
        source.modelReset.connect(lambda: self.set_rows([]))

    def set_rows(self, source_rows: list[int], captions: list[str] | None = None) -> None:
        self.beginResetModel()
        self._rows = [int(r) for r in source_rows]
        self._captions = list(captions) if captions else []
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        source_index = self.source.index(self._rows[index.row()])
        if role == Qt.ItemDataRole.DisplayRole and self._captions:
            return self._captions[index.row()]
        if role == RelPathRole:
            return self.source.records()[self._rows[index.row()]].path
        return self.source.data(source_index, role)

    def is_broken(self, index: QModelIndex) -> bool:
        return self.source.is_broken(self.source.index(self._rows[index.row()]))

    def _on_source_changed(self, top, bottom, roles=()) -> None:
        for row, source_row in enumerate(self._rows):
            if top.row() <= source_row <= bottom.row():
                self.dataChanged.emit(self.index(row), self.index(row), roles)


class ImageStrip(ThumbnailGrid):
    """A thumbnail list over an :class:`ImageSubsetModel`, single selection."""

    def __init__(self, model: ImageSubsetModel, parent=None) -> None:
        super().__init__(model, parent)
        self.setSelectionMode(ThumbnailGrid.SelectionMode.SingleSelection)

    def path_at(self, index) -> str:
        return index.data(RelPathRole)
