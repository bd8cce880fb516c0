"""A side column that scrolls instead of clipping: as wide as its content needs, as tall as its pane."""
from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QScrollArea, QStyle, QWidget

FIELDS = (QAbstractSpinBox, QComboBox)     # the inputs that change their value on the wheel


class ScrollColumn(QScrollArea):
    """Holds ``widget`` with a vertical scroll bar when the pane is too short. Its minimum width
    follows the content's minimum width (plus room for the scroll bar), also when a section of the
    content opens later, so the column is never narrower than what it holds.

    The wheel scrolls the column, also over its spin boxes and combo boxes: they take the wheel only
    once clicked or tabbed into, so scrolling past a setting never changes it."""

    def __init__(self, widget: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self._fit_width()
        elif event.type() == QEvent.Type.Wheel and isinstance(watched, FIELDS) and not watched.hasFocus():
            QCoreApplication.sendEvent(self.verticalScrollBar(), event)
            return True
        return super().eventFilter(watched, event)
