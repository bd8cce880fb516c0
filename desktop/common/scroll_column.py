"""A side column that scrolls instead of clipping: as wide as its content needs, as tall as its pane
(or, fitted, as its content)."""
from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSize, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QScrollArea, QSizePolicy, QStyle, QWidget

FIELDS = (QAbstractSpinBox, QComboBox)     # the inputs that change their value on the wheel


class ScrollColumn(QScrollArea):
    """Holds ``widget`` with a vertical scroll bar when the pane is too short. Its minimum width
    follows the content's minimum width (plus room for the scroll bar), also when a section of the
    content opens later, so the column is never narrower than what it holds.

    The wheel scrolls the column, also over its spin boxes and combo boxes: they take the wheel only
    once clicked or tabbed into, so scrolling past a setting never changes it.

    With ``fit_height`` it is no taller than its content: what follows it in the pane comes right
    after the content, and it scrolls only when the pane is shorter than that."""

    def __init__(self, widget: QWidget, parent: QWidget | None = None, fit_height: bool = False) -> None:
        super().__init__(parent)
        self._fit_height = fit_height
        if fit_height:
            self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(widget)
        widget.installEventFilter(self)
        for field in (field for kind in FIELDS for field in widget.findChildren(kind)):
            field.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            field.installEventFilter(self)
        self._fit_width()

    def _fit_width(self) -> None:
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self)
        self.setMinimumWidth(self.widget().minimumSizeHint().width() + bar + 2)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        hint = super().sizeHint()
        if self._fit_height:      # the whole content at this width (wrapped text), not QScrollArea's 24 lines
            content, width = self.widget(), self.width() - 2 * self.frameWidth()
            height = content.heightForWidth(width) if content.hasHeightForWidth() and width > 0 else -1
            hint.setHeight((height if height >= 0 else content.sizeHint().height()) + 2 * self.frameWidth())
        return hint

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self._fit_height and event.size().width() != event.oldSize().width():
            self.updateGeometry()     # wrapped text takes another height at another width

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        least = super().minimumSizeHint()
        if self._fit_height:      # an empty or short content takes no more room than it needs
            least.setHeight(min(least.height(), self.sizeHint().height()))
        return least

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self._fit_width()
            if self._fit_height:    # the pane lays out again for the content's new height
                self.updateGeometry()
        elif event.type() == QEvent.Type.Wheel and isinstance(watched, FIELDS) and not watched.hasFocus():
            QCoreApplication.sendEvent(self.verticalScrollBar(), event)
            return True
        return super().eventFilter(watched, event)
