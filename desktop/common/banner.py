"""An inline, non-modal message bar: info, success, warning or error, with actions and details."""
from __future__ import annotations

from typing import Callable, Iterable

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QToolButton, QVBoxLayout, QWidget,
)

KINDS = ("info", "success", "warning", "error")


class Banner(QFrame):
    """Hidden until :meth:`show_message`; "Details…" reveals the technical text on demand."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("kind", "info")
        self._text = QLabel()
        self._text.setWordWrap(True)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._actions = QHBoxLayout()
        self._details_button = QToolButton(text="Details…", checkable=True)
        self._details_button.toggled.connect(self._toggle_details)
        close = QToolButton(text="✕", autoRaise=True, toolTip="Dismiss")
        close.clicked.connect(self.dismiss)
        self._details = QPlainTextEdit(readOnly=True)
        self._details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._details.setMaximumHeight(180)
        self._details.hide()

        row = QHBoxLayout()
        row.addWidget(self._text, 1)
        row.addLayout(self._actions)
        row.addWidget(self._details_button)
        row.addWidget(close)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.addLayout(row)
        layout.addWidget(self._details)
        self.hide()

    def show_message(self, kind: str, text: str, details: str = "",
                     actions: Iterable[tuple[str, Callable[[], None]]] = ()) -> None:
        """Show ``text``; each action is a (button label, callback) pair that also dismisses."""
        if kind not in KINDS:
            raise ValueError(f"unknown banner kind {kind!r}")
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        self._text.setText(text)
        self._details.setPlainText(details)
        self._details_button.setVisible(bool(details))
        self._details_button.setChecked(False)
        self._clear_actions()
        for label, callback in actions:
            button = QPushButton(label)
            button.clicked.connect(self.dismiss)
            button.clicked.connect(callback)
            self._actions.addWidget(button)
        self.show()

    def kind(self) -> str:
        return self.property("kind")

    def text(self) -> str:
        """The message shown, or "" while dismissed."""
        return "" if self.isHidden() else self._text.text()

    def details(self) -> str:
        return self._details.toPlainText()

    def action_buttons(self) -> list[QPushButton]:
        return [self._actions.itemAt(i).widget() for i in range(self._actions.count())]

    def dismiss(self) -> None:
        self.hide()
        self._clear_actions()

    def _clear_actions(self) -> None:
        while self._actions.count():
            widget = self._actions.takeAt(0).widget()
            widget.deleteLater()

    def _toggle_details(self, shown: bool) -> None:
        self._details.setVisible(shown)
