"""Where the Label step's parts sit: the title and backbone choice on top, classes and suggestions
on the left, the map above the image grid in the centre, fine-tuning on the right."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from desktop.common.scroll_column import ScrollColumn


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
    splitter.addWidget(_left_column(page.classes, page.suggestions))
    centre = QSplitter(Qt.Orientation.Vertical)
    centre.addWidget(page.map)
    centre.addWidget(page.browser)
    centre.setSizes([330, 470])     # the grid keeps a row of thumbnails in a short window
    splitter.addWidget(centre)
    splitter.addWidget(_right_column(page.finetune))
    splitter.setStretchFactor(1, 1)
    splitter.setSizes([210, 780, 290])
    layout.addWidget(splitter, 1)


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
