"""A strip of augmented view pairs, so the user sees what the model is shown."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

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
    """Shows the latest ``engine.core.events.Preview``: each image's two augmented views side by side,
    as many pairs as the width holds (the strip never makes the window wider)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
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
        self._fit()
        self.caption.setText(f"What the model sees at step {event.step:,}: two random views of the same image "
                             "must map to nearby embeddings.")

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        """Show the pairs, in order, that fit in the width; hide the rest rather than cut them."""
        used, fits = 0, True
        for index in range(self._row.count() - 1):
            frame = self._row.itemAt(index).widget()
            needed = frame.sizeHint().width() + (self._row.spacing() if index else 0)
            fits = fits and used + needed <= self.width()
            frame.setVisible(fits)
            used += needed

    def clear(self) -> None:
        while self._row.count() > 1:
            self._row.takeAt(0).widget().deleteLater()
        self.pairs_shown = 0
