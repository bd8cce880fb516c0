"""Where the Label step's parts sit: the title and backbone choice on top, classes and suggestions
on the left, the map above the image grid in the centre, fine-tuning on the right."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from desktop.common.scroll_column import ScrollColumn

SIDE_WIDTHS = (210, 290)    # px: the side columns' widths when the window has room
CENTRE_ROOM = 470           # px: the centre's width (four thumbnails of about 90 px a row) that the sides make room for


def lay_out(page) -> None:
    """Place the widgets of ``page`` (a :class:`~desktop.label.page.LabelPage`) in its layout."""
    layout = QVBoxLayout(page)
    layout.setContentsMargins(20, 16, 20, 16)
    layout.addWidget(page.title)
    header = QHBoxLayout()
    header.addWidget(page.subtitle)
    header.addStretch(1)
    header.addWidget(page.backbone_choice.label)
    header.addWidget(page.backbone_choice)
    layout.addLayout(header)
    layout.addWidget(page.banner)
    splitter = QSplitter()
    splitter.setChildrenCollapsible(False)
    splitter.addWidget(_left_column(page.classes, page.suggestions))
    centre = QSplitter(Qt.Orientation.Vertical)
    centre.addWidget(page.map)
    centre.addWidget(page.browser)
    centre.setSizes([330, 470])     # the grid keeps a row of thumbnails in a short window
    splitter.addWidget(centre)
    splitter.addWidget(_right_column(page.finetune))
    splitter.setStretchFactor(1, 1)
    splitter.setSizes([SIDE_WIDTHS[0], 780, SIDE_WIDTHS[1]])
    page.side_fit = SidesGiveWay(splitter)
    layout.addWidget(splitter, 1)


class SidesGiveWay(QObject):
    """Keeps a three-column ``splitter``'s side columns at :data:`SIDE_WIDTHS` while the centre
    has :data:`CENTRE_ROOM`; in a narrower window they shrink first, down to their minimum widths.
    Once the user drags a handle, the widths are theirs."""

    def __init__(self, splitter: QSplitter) -> None:
        super().__init__(splitter)
        self.splitter = splitter
        self.dragged = False
        splitter.splitterMoved.connect(self._on_dragged)
        splitter.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() in (QEvent.Type.Resize, QEvent.Type.LayoutRequest) and not self.dragged:
            self.fit()
        return super().eventFilter(watched, event)

    def fit(self) -> None:
        left, _centre, right = (self.splitter.widget(i) for i in range(3))
        total = sum(self.splitter.sizes())
        lows = (left.minimumWidth(), right.minimumWidth())
        spare = max(0, total - CENTRE_ROOM - sum(lows))            # room the sides may take above their minimum
        wanted = [max(0, want - low) for want, low in zip(SIDE_WIDTHS, lows)]
        share = min(1.0, spare / sum(wanted)) if sum(wanted) else 0.0
        sides = [low + int(extra * share) for low, extra in zip(lows, wanted)]
        self.splitter.setSizes([sides[0], total - sum(sides), sides[1]])

    def _on_dragged(self, *_args) -> None:
        self.dragged = True


def _left_column(classes: QWidget, suggestions: QWidget) -> ScrollColumn:
    column = QWidget()
    layout = QVBoxLayout(column)
    layout.setContentsMargins(0, 8, 8, 0)
    layout.setSpacing(16)
    layout.addWidget(classes, 2)
    layout.addWidget(suggestions, 3)
    return ScrollColumn(column)


def _right_column(widget: QWidget) -> ScrollColumn:
    column = QWidget()
    inner = QVBoxLayout(column)
    inner.setContentsMargins(8, 8, 4, 0)
    inner.addWidget(widget)
    return ScrollColumn(column)
