""""What should I label next?": the suggested images, each with its thumbnail and the reason it was picked."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from desktop.common.thumbnail_grid import ThumbnailModel
from desktop.jobs import LatestJob
from desktop.label.jobs import compute_suggestions
from engine.core.events import Stage

IDLE_TEXT = "Images that cover the data (and, once a model exists, the ones it is unsure of) appear here."
ICON_SIZE = 56
CLUSTER_ROLE = Qt.ItemDataRole.UserRole + 1     # a suggestion's cluster (frozenset of paths), empty when none


class SuggestionList(QWidget):
    """``picked(path)`` when a suggestion is clicked; ``refresh_requested`` from the button.
    Thumbnails come from ``thumbnails``, the folder's grid model, which loads them once.
    :meth:`start` computes suggestions in an :class:`EngineJob`; ``failed`` reports an error."""

    picked = Signal(str)
    refresh_requested = Signal()
    failed = Signal(str, str)

    def __init__(self, thumbnails: ThumbnailModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails        # the folder's grid model: it makes and keeps the thumbnails
        self._thumbnail_rows: Optional[dict[str, int]] = None     # relative path -> row of ``thumbnails``
        thumbnails.modelReset.connect(self._forget_thumbnail_rows)
        thumbnails.dataChanged.connect(self._on_thumbnails_changed)
        self.jobs = LatestJob(self)
        self.jobs.progress.connect(self._on_progress)
        self.jobs.succeeded.connect(lambda picks: self.set_suggestions(picks, self.labeled))
        self.jobs.failed.connect(self._on_failed)
        self.jobs.ended.connect(lambda: self.refresh_button.setEnabled(not self.jobs.busy()))
        self.labeled: set[str] = set()
        heading = QLabel("What should I label next?", wordWrap=True)
        heading.setProperty("role", "heading")
        self.refresh_button = QPushButton("Suggest")
        self.refresh_button.setToolTip("Pick the images whose labels would teach the model the most")
        self.refresh_button.clicked.connect(self.refresh_requested)
        self.status = QLabel(IDLE_TEXT, wordWrap=True)
        self.status.setProperty("role", "muted")
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setMinimumHeight(140)
        self.list.setAlternatingRowColors(True)
        self.list.setSpacing(1)
        self.list.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.list.itemClicked.connect(lambda item: self.picked.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.list.itemActivated.connect(lambda item: self.picked.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.list.hide()
        top = QHBoxLayout()
        top.addWidget(heading, 1)
        top.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(self.list, 1)

    def start(self, pretrain_run: str, root: str, labeled: set[str], predictions: list, cache_dir: str,
              scan=None) -> bool:
        """Suggest images of ``root`` with the backbone of ``pretrain_run`` (and the model's
        predictions); ``scan``: the session's scan of ``root``."""
        if self.jobs.busy():
            return False
        self.labeled = set(labeled)
        self.set_busy("Finding the images worth labeling…")
        self.jobs.start(compute_suggestions, pretrain_run, root, sorted(labeled), predictions, cache_dir=cache_dir,
                        scan=scan)
        return True


    def discard(self) -> None:
        """Forget the suggestions (another folder): a running job is cancelled and its answer ignored."""
        self.jobs.discard()
        self.list.clear()
        self.list.hide()
        self.status.setText(IDLE_TEXT)
        self.refresh_button.setEnabled(True)

    def _on_progress(self, event) -> None:
        if event.total and event.stage is Stage.EMBED:
            self.status.setText(f"Reading the embeddings… {event.step:,} of {event.total:,}")

    def _on_failed(self, message: str, details: str) -> None:
        self.status.setText("No suggestions: see the message above.")
        self.failed.emit(message, details)

    def set_busy(self, text: str) -> None:
        self.refresh_button.setEnabled(False)
        self.status.setText(text)
        self.status.show()

    def set_available(self, available: bool) -> None:
        self.refresh_button.setEnabled(available and not self.jobs.busy())

    def set_suggestions(self, suggestions: list, labeled: set[str]) -> None:
        """Show ``engine.maps.suggest.Suggestion`` rows; already labeled ones are left out."""
        self.list.clear()
        for suggestion in suggestions:
            if suggestion.path in labeled:
                continue
            if suggestion.cluster & labeled:
                continue
            item = QListWidgetItem(f"{suggestion.path}\n{suggestion.reason}")
            item.setData(Qt.ItemDataRole.UserRole, suggestion.path)
            item.setData(CLUSTER_ROLE, suggestion.cluster)
            item.setToolTip(f"{suggestion.path}\n{suggestion.kind}: {suggestion.reason}")
            self.list.addItem(item)
            self._show_thumbnail(item)
        count = self.list.count()
        self.list.setVisible(count > 0)
        self.status.setText(f"{count} images worth labeling, the most useful first. Click one to find it."
                            if count else "Nothing left to suggest: every image has a label.")

    def drop(self, paths: set[str]) -> None:
        """Remove the suggestions that got a label, and those whose reason was a cluster not
        yet labeled when ``paths`` label that cluster (its reason no longer holds)."""
        for row in reversed(range(self.list.count())):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) in paths or item.data(CLUSTER_ROLE) & paths:
                self.list.takeItem(row)

    def following(self, paths: list[str]) -> Optional[str]:
        """The suggestion after ``paths`` when they are exactly the current suggestion, else None."""
        item = self.list.currentItem()
        if item is None or paths != [item.data(Qt.ItemDataRole.UserRole)]:
            return None
        row = self.list.row(item)
        return self.list.item(row + 1).data(Qt.ItemDataRole.UserRole) if row + 1 < self.list.count() else None

    def set_current(self, path: str) -> None:
        row = self._list_row(path)
        if row is not None:
            self.list.setCurrentRow(row)

    def _list_row(self, path: str) -> Optional[int]:
        return next((row for row in range(self.list.count())
                     if self.list.item(row).data(Qt.ItemDataRole.UserRole) == path), None)

    def paths(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def _show_thumbnail(self, item: QListWidgetItem) -> None:
        """The item's thumbnail from the folder's grid model; it asks the loader when not made yet."""
        row = self._row_of(item.data(Qt.ItemDataRole.UserRole))
        if row is None:
            return
        pixmap = self.thumbnails.data(self.thumbnails.index(row), Qt.ItemDataRole.DecorationRole)
        if pixmap is not None:
            item.setIcon(QIcon(pixmap))

    def _row_of(self, path: str) -> Optional[int]:
        if self._thumbnail_rows is None:
            self._thumbnail_rows = {record.path: row for row, record in enumerate(self.thumbnails.records())}
        return self._thumbnail_rows.get(path)

    def _forget_thumbnail_rows(self) -> None:
        self._thumbnail_rows = None

    def _on_thumbnails_changed(self, top: QModelIndex, bottom: QModelIndex, _roles=()) -> None:
        records = self.thumbnails.records()
        changed = {records[row].path for row in range(top.row(), bottom.row() + 1)}
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) in changed:
                self._show_thumbnail(item)
