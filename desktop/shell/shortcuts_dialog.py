"""Help > Keyboard Shortcuts: every menu shortcut, read from the menus themselves, and the keys
that work inside the pages."""
from __future__ import annotations

import re

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QMenuBar, QTableWidget, QTableWidgetItem, QVBoxLayout,
    QWidget,
)

LABEL_PAGE = "Label & Fine-tune"


def page_keys() -> list[tuple[str, str, str]]:
    """(where, keys, what) for the keys the pages handle themselves."""
    undo = QKeySequence(QKeySequence.StandardKey.Undo).toString(QKeySequence.SequenceFormat.NativeText)
    return [
        (LABEL_PAGE, "1 – 9", "Label the selected images with that class"),
        (LABEL_PAGE, "0, Delete, Backspace", "Clear the selected images' labels"),
        (LABEL_PAGE, undo, "Undo the last labeling change"),
        (LABEL_PAGE, "Alt+Up, Alt+Down", "Move the chosen class: its number key and its place in the model"),
        (LABEL_PAGE, "Ctrl+click, Shift+click", "Select several images without labeling them"),
        ("Image grids", "Enter, double-click", "Show the image larger"),
    ]


def without_mnemonics(text: str) -> str:
    """A menu text as shown: "&Open" -> "Open", "Label && Fine-tune" -> "Label & Fine-tune"."""
    return re.sub(r"&(&?)", r"\1", text)


def menu_shortcuts(menu_bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(menu, keys, action) for every menu action that has a shortcut, in menu order."""
    rows = []

    def walk(menu, title: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), title)
            elif not action.shortcut().isEmpty():
                rows.append((title, action.shortcut().toString(QKeySequence.SequenceFormat.NativeText),
                             without_mnemonics(action.text()).rstrip("…")))

    for top in menu_bar.actions():
        if top.menu() is not None:
            walk(top.menu(), without_mnemonics(top.text()) + " menu")
    return rows


class ShortcutsDialog(QDialog):
    def __init__(self, menu_bar: QMenuBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        rows = menu_shortcuts(menu_bar) + page_keys()
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Where", "Keys", "What"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for row, cells in enumerate(rows):
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(660, 560)

    def rows(self) -> list[tuple[str, str, str]]:
        return [tuple(self.table.item(r, c).text() for c in range(3)) for r in range(self.table.rowCount())]
