"""A strip of augmented view pairs, so the user sees what the model is shown."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from desktop.common.thumbnails import to_qimage

VIEW_PIXELS = 72


def view_pixmap(view: np.ndarray, pixels: int = VIEW_PIXELS) -> QPixmap:
    """An (H, W, C) uint8 view, scaled to ``pixels`` (pixelated when enlarged a lot, as it is)."""
    view = view if view.ndim == 3 else view[:, :, None]
    image = to_qimage(view)
    mode = (Qt.TransformationMode.FastTransformation if image.width() * 2 <= pixels
            else Qt.TransformationMode.SmoothTransformation)
    return QPixmap.fromImage(image.scaled(pixels, pixels, Qt.AspectRatioMode.KeepAspectRatio, mode))


class ViewPairs(QWidget):
    """Shows the latest ``engine.core.events.Preview``: each image's two augmented views side by side."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel("Augmented views appear here when training starts.")
        self.caption.setProperty("role", "muted")
        self.caption.setWordWrap(True)
        self._row = QHBoxLayout()
        self._row.setSpacing(12)
        self._row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addLayout(self._row)
        self.pairs_shown = 0

    def show_preview(self, event) -> None:
        self.clear()
        for view_a, view_b in event.pairs:
            frame = QFrame()
            frame.setProperty("role", "card")
            pair = QHBoxLayout(frame)
            pair.setContentsMargins(6, 6, 6, 6)
            pair.setSpacing(4)
            for view in (view_a, view_b):
                label = QLabel()
                label.setPixmap(view_pixmap(view))
                pair.addWidget(label)
            self._row.insertWidget(self._row.count() - 1, frame)
        self.pairs_shown = len(event.pairs)
        self.caption.setText(f"What the model sees at step {event.step:,}: two random views of the same image "
                             "must map to nearby embeddings.")

    def clear(self) -> None:
        while self._row.count() > 1:
            self._row.takeAt(0).widget().deleteLater()
        self.pairs_shown = 0
