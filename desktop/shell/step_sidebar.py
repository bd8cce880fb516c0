"""The sidebar of workflow steps. In a narrow window it becomes a rail: each step's icon over
its title, wrapped, in a column a third as wide, so the pages keep the width they need."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QListView, QListWidget, QWidget

RAIL_BELOW = 1200                  # window width (px) under which the sidebar is a rail
LIST_WIDTH, RAIL_WIDTH = 220, 86   # px
RAIL_ITEM = QSize(RAIL_WIDTH - 18, 62)     # the sidebar's padding and border (style.qss) take the rest


class StepSidebar(QListWidget):
    """The step list (``objectName`` "sidebar", styled in resources/style.qss); :meth:`fit_window`
    picks the list or the rail for a window ``width`` px wide."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="sidebar")
        self.setIconSize(QSize(20, 20))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.rail = None
        self.set_rail(False)

    def fit_window(self, width: int) -> None:
        self.set_rail(width < RAIL_BELOW)

    def set_rail(self, rail: bool) -> None:
        if rail == self.rail:
            return
        self.rail = rail
        self.setProperty("rail", rail)          # the style sheet's font and item padding differ
        self.style().unpolish(self)
        self.style().polish(self)
        self.setViewMode(QListView.ViewMode.IconMode if rail else QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.TopToBottom)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setWordWrap(rail)
        self.setFixedWidth(RAIL_WIDTH if rail else LIST_WIDTH)
        for row in range(self.count()):
            item = self.item(row)
            item.setSizeHint(RAIL_ITEM if rail else QSize())
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop if rail else
                                  Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
