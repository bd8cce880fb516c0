"""The embedding map during pretraining: a fixed sample of images, redrawn every few epochs."""
from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop.common.map_colours import ColourGroup
from desktop.common.map_view import MapView
from desktop.common.theme import ACCENT


class LiveMap(QWidget):
    """Shows the latest ``engine.core.events.MapSnapshot``; hidden until the first one arrives."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel(wordWrap=True)
        self.caption.setProperty("role", "muted")
        self.view = MapView()
        self.view.setFixedHeight(240)
        self.epoch = -1
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.view, 1)
        self.hide()

    def show_snapshot(self, event) -> None:
        self.epoch = event.epoch
        self.view.set_points(event.xy)
        self.view.set_groups([ColourGroup("images", ACCENT.name(), np.arange(len(event.paths)))])
        self.caption.setText(f"Embedding map after epoch {event.epoch + 1}: {len(event.paths):,} images laid out by "
                             "similarity. Groups form as the model learns; the Label step maps every image.")
        self.show()

    def clear(self) -> None:
        self.epoch = -1
        self.hide()
