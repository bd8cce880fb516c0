"""The empty state: what to do first, a drop zone, the sample dataset and recent folders."""
from __future__ import annotations

import os

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget,
)

from desktop.common.theme import themed_icon


class OneClickList(QListWidget):
    """A list whose item opens with one click, or Enter on the current item (``chosen``)."""

    chosen = Signal(QListWidgetItem)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.itemClicked.connect(self.chosen)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentItem() is not None:
            self.chosen.emit(self.currentItem())
        else:
            super().keyPressEvent(event)


class WelcomeView(QWidget):
    """Signals what the user picked; the page decides what to do with it."""

    open_requested = Signal()
    sample_requested = Signal()
    recent_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("Start with a folder of images")
        title.setProperty("role", "title")
        subtitle = QLabel("No labels needed. Pretext Studio checks every file, then teaches a model "
                          "what your images look like.")
        subtitle.setProperty("role", "muted")
        subtitle.setWordWrap(True)

        self.drop_zone = QFrame(objectName="dropZone")
        self.drop_zone.setMinimumHeight(220)
        self._icon = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        hint = QLabel("Drag a folder here", alignment=Qt.AlignmentFlag.AlignCenter)
        hint.setProperty("role", "heading")
        sub_hint = QLabel("Sub-folders are included. JPEG, PNG, BMP, GIF, TIFF and WebP.",
                          alignment=Qt.AlignmentFlag.AlignCenter)
        sub_hint.setProperty("role", "muted")
        self.open_button = QPushButton("Open Folder…")
        self.open_button.setProperty("role", "primary")
        self.open_button.clicked.connect(self.open_requested)
        self.sample_button = QPushButton("Try the Sample Dataset")
        self.sample_button.setToolTip("1,500 Fashion-MNIST images (28 × 28, grayscale) bundled with the app")
        self.sample_button.clicked.connect(self.sample_requested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.sample_button)
        buttons.addStretch(1)
        zone = QVBoxLayout(self.drop_zone)
        zone.setSpacing(10)
        zone.addStretch(1)
        zone.addWidget(self._icon)
        zone.addWidget(hint)
        zone.addWidget(sub_hint)
        zone.addSpacing(8)
        zone.addLayout(buttons)
        zone.addStretch(1)

        self.recent_title = QLabel("Recent folders")
        self.recent_title.setProperty("role", "heading")
        self.recent = OneClickList()
        self.recent.setToolTip("Click a folder to open it")
        self.recent.chosen.connect(lambda item: self.recent_requested.emit(item.data(Qt.ItemDataRole.UserRole)))

        column = QVBoxLayout()
        column.setSpacing(12)
        column.addStretch(1)
        column.addWidget(title)
        column.addWidget(subtitle)
        column.addSpacing(8)
        column.addWidget(self.drop_zone)
        column.addSpacing(8)
        column.addWidget(self.recent_title)
        column.addWidget(self.recent)
        column.addStretch(2)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(column, 6)
        outer.addStretch(1)
        self._refresh_icon()

    def set_recent(self, folders: list[str]) -> None:
        self.recent.clear()
        icon = themed_icon("folder", self.palette())
        for path in folders:
            item = QListWidgetItem(icon, f"{os.path.basename(path) or path}    —    {path}")
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            self.recent.addItem(item)
        self.recent_title.setVisible(bool(folders))
        self.recent.setVisible(bool(folders))
        if folders:   # fit the list to its rows, up to six
            rows = min(len(folders), 6) * self.recent.sizeHintForRow(0)
            self.recent.setFixedHeight(rows + 2 * self.recent.frameWidth() + 4)

    def set_drop_active(self, active: bool) -> None:
        self.drop_zone.setProperty("active", active)
        self.drop_zone.style().unpolish(self.drop_zone)
        self.drop_zone.style().polish(self.drop_zone)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().changeEvent(event)
        if event.type() == event.Type.PaletteChange:
            self._refresh_icon()

    def _refresh_icon(self) -> None:
        self._icon.setPixmap(themed_icon("folder", self.palette()).pixmap(QSize(48, 48)))
