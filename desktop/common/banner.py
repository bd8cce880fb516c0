"""An inline, non-modal message bar: info, success, warning or error, with actions and details.

The page keeps room for a one-line message at the banner's place whether one is shown or not; a longer
message (or its details) floats over the page below that room. So a message appearing or going away
never moves the controls under the pointer."""
from __future__ import annotations

from typing import Callable, Iterable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QToolButton, QVBoxLayout, QWidget,
)

KINDS = ("info", "success", "warning", "error")


class Banner(QWidget):
    """An anchor in the page's layout, one message line high (``reserve=True``) or zero high;
    :meth:`show_message` floats the bar over the page at the anchor's place and width.
    "Details…" reveals the technical text on demand."""

    def __init__(self, parent: QWidget | None = None, reserve: bool = True) -> None:
        super().__init__(parent)
        self._bar = QFrame(objectName="banner")    # opaque, so the page under it does not show through
        self._tint = QFrame()
        self._tint.setProperty("kind", "info")
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
        tinted = QVBoxLayout(self._tint)
        tinted.setContentsMargins(12, 8, 8, 8)
        tinted.addLayout(row)
        tinted.addWidget(self._details)
        layout = QVBoxLayout(self._bar)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._tint)
        self._bar.hide()
        self._bar.installEventFilter(self)
        self.setFixedHeight(self._one_line_height() if reserve else 0)

    def show_message(self, kind: str, text: str, details: str = "",
                     actions: Iterable[tuple[str, Callable[[], None]]] = ()) -> None:
        """Show ``text``; each action is a (button label, callback) pair that also dismisses."""
        if kind not in KINDS:
            raise ValueError(f"unknown banner kind {kind!r}")
        self._tint.setProperty("kind", kind)
        self._tint.style().unpolish(self._tint)
        self._tint.style().polish(self._tint)
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
        if self._bar.parentWidget() is not self.parentWidget():
            self._bar.setParent(self.parentWidget())
        self._bar.show()
        self._bar.raise_()
        self._place()

    def kind(self) -> str:
        return self._tint.property("kind")

    def text(self) -> str:
        """The message shown, or "" while dismissed."""
        return "" if self._bar.isHidden() else self._text.text()

    def details(self) -> str:
        return self._details.toPlainText()

    def action_buttons(self) -> list[QPushButton]:
        return [self._actions.itemAt(i).widget() for i in range(self._actions.count())]

    def bar(self) -> QFrame:
        """The floating frame that shows the message."""
        return self._bar

    def dismiss(self) -> None:
        self._bar.hide()
        self._clear_actions()

    def _clear_actions(self) -> None:
        while self._actions.count():
            widget = self._actions.takeAt(0).widget()
            widget.deleteLater()

    def _toggle_details(self, shown: bool) -> None:
        self._details.setVisible(shown)
        self._place()

    def _one_line_height(self) -> int:
        """The bar's height for a message of one line with an action button."""
        line = max(self._text.fontMetrics().lineSpacing(), QPushButton("Act").sizeHint().height(),
                   self._details_button.sizeHint().height())
        margins = self._tint.layout().contentsMargins()
        return line + margins.top() + margins.bottom() + 2

    def _place(self) -> None:
        """Lay the bar over the page: the anchor's left edge, top and width; its own height."""
        if self._bar.isHidden() or self._bar.parentWidget() is None:
            return
        layout = self._bar.layout()
        layout.activate()
        width = self.width()
        height = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else -1
        height = max(height, self.height(), self._bar.minimumSizeHint().height())
        self._bar.setGeometry(self.x(), self.y(), width, height)

    def moveEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().moveEvent(event)
        self._place()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._place()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self._bar and event.type() == QEvent.Type.LayoutRequest:
            self._place()
        return super().eventFilter(watched, event)
