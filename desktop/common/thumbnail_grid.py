"""A grid of image thumbnails that stays smooth at 100k images.

The model answers from memory only: a thumbnail it lacks is requested from the
:class:`~desktop.common.thumbnails.ThumbnailLoader` and a placeholder is drawn meanwhile.
Every cell has the same size, so the view lays out 100k rows without measuring them.
"""
from __future__ import annotations

import os
from collections import OrderedDict

from PySide6.QtCore import (
    QAbstractListModel, QItemSelection, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal,
)
from PySide6.QtGui import QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from desktop.common.thumbnails import THUMB_SIZE, Request, ThumbnailLoader
from engine.core.user_cache import human_size
from engine.data import imageio

MEMORY_THUMBNAILS = 4000   # pixmaps kept in memory (about 150 MB at most)
PathRole = Qt.ItemDataRole.UserRole + 1
RecordRole = Qt.ItemDataRole.UserRole + 2


class ThumbnailModel(QAbstractListModel):
    """One row per scanned image (an ``engine.data.scan.ImageRecord``)."""

    def __init__(self, loader: ThumbnailLoader, parent=None) -> None:
        super().__init__(parent)
        self._loader = loader
        self._root = ""
        self._records: list = []
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._broken: set[str] = set()
        self._rows: dict[str, int] = {}
        loader.ready.connect(self._on_ready)
        loader.failed.connect(self._on_failed)

    def set_images(self, root: str, records: list) -> None:
        self.beginResetModel()
        self._loader.clear()
        self._root, self._records = root, list(records)
        self._pixmaps.clear()
        self._broken.clear()
        self._rows.clear()
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self._records)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        record = self._records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return record.path.rsplit("/", 1)[-1]
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(index.row(), record)
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"{record.path}\n{record.width} × {record.height} px · {record.mode} · "
                    f"{human_size(record.size)}")
        if role == PathRole:
            return self.absolute_path(record)
        if role == RecordRole:
            return record
        return None

    def records(self) -> list:
        """The ``engine.data.scan.ImageRecord`` of every row (do not modify)."""
        return self._records

    def absolute_path(self, record) -> str:
        return os.path.join(self._root, *record.path.split("/"))

    def request_for(self, record, pixels: int, square: bool) -> Request:
        channels = 1 if imageio.is_grayscale_mode(record.mode) else 3
        return Request(self.absolute_path(record), record.size, record.mtime, channels, pixels, square)

    def is_broken(self, index: QModelIndex) -> bool:
        return self.absolute_path(self._records[index.row()]) in self._broken

    def loaded_count(self) -> int:
        return len(self._pixmaps)

    def _thumbnail(self, row: int, record):
        key = self.absolute_path(record)
        pixmap = self._pixmaps.get(key)
        if pixmap is not None:
            self._pixmaps.move_to_end(key)
            return pixmap
        if key not in self._broken:
            self._rows[key] = row
            self._loader.request(key, self.request_for(record, THUMB_SIZE, square=True))
        return None

    def _on_ready(self, key: str, image: QImage) -> None:
        row = self._rows.pop(key, None)
        if row is None:
            return  # a preview, or a folder that is no longer shown
        self._pixmaps[key] = QPixmap.fromImage(image)
        while len(self._pixmaps) > MEMORY_THUMBNAILS:
            self._pixmaps.popitem(last=False)
        index = self.index(row)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def _on_failed(self, key: str, _reason: str) -> None:
        row = self._rows.pop(key, None)
        if row is not None:
            self._broken.add(key)
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints a square thumbnail (or a placeholder) over the file name. ``edge``: the side of the
    painted picture in px (the cached thumbnail is scaled to it; at most :data:`THUMB_SIZE`)."""

    PADDING = 6
    TEXT_HEIGHT = 18

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.edge = THUMB_SIZE

    def image_rect(self, cell: QRect) -> QRect:
        """Where the picture sits in ``cell``, an item's rectangle."""
        return QRect(cell.x() + self.PADDING, cell.y() + self.PADDING, self.edge, self.edge)

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 - Qt API
        return QSize(self.edge + 2 * self.PADDING, self.edge + self.TEXT_HEIGHT + 2 * self.PADDING)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        palette = option.palette
        cell = option.rect.adjusted(2, 2, -2, -2)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(cell, 8, 8)
        elif option.state & QStyle.StateFlag.State_MouseOver:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.AlternateBase))
            painter.drawRoundedRect(cell, 8, 8)
        image_rect = self.image_rect(option.rect)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pixmap, QPixmap):
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            target = pixmap.size().scaled(image_rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
            painter.drawPixmap(QRect(image_rect.topLeft(), target).translated(
                (image_rect.width() - target.width()) // 2, (image_rect.height() - target.height()) // 2), pixmap)
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Midlight))
            painter.drawRoundedRect(image_rect, 6, 6)
            if index.model().is_broken(index):
                painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
                painter.drawText(image_rect, Qt.AlignmentFlag.AlignCenter, "cannot\nshow")
        text_rect = QRect(option.rect.x() + 2, image_rect.bottom() + 3, option.rect.width() - 4, self.TEXT_HEIGHT)
        selected = option.state & QStyle.StateFlag.State_Selected
        painter.setPen(palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text))
        name = option.fontMetrics.elidedText(index.data(), Qt.TextElideMode.ElideMiddle, text_rect.width())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter, name)
        painter.restore()


class ThumbnailGrid(QListView):
    """The grid view; ``preview_requested(index)`` fires on double-click or Enter (``activated``)."""

    preview_requested = Signal(QPersistentModelIndex)

    def __init__(self, model: ThumbnailModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("thumbnails")
        self.setModel(model)
        self.setItemDelegate(ThumbnailDelegate(self))
        self.setViewMode(QListView.ViewMode.ListMode)   # list mode + wrapping lays out 100k rows fast
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setSpacing(2)
        self.setMouseTracking(True)
        self.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.activated.connect(lambda index: self.preview_requested.emit(QPersistentModelIndex(index)))

    def setSelection(self, rect: QRect, command) -> None:  # noqa: N802 - Qt API
        """Shift-click and shift-arrow select the rows between the two items, in reading order.

        QListView's own range selection in a wrapping left-to-right list takes whole lines:
        a shift-click on the same line as the anchor also selects the line's start.
        """
        first, last = self.indexAt(rect.topLeft()), self.indexAt(rect.bottomRight())
        if self.state() == QListView.State.DragSelectingState or not (first.isValid() and last.isValid()):
            super().setSelection(rect, command)
            return
        low, high = sorted((first.row(), last.row()))
        self.selectionModel().select(QItemSelection(self.model().index(low, 0), self.model().index(high, 0)), command)
