"""A larger view of one image, decoded off the GUI thread."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QSizePolicy, QVBoxLayout, QWidget

from desktop.common.thumbnail_grid import ThumbnailModel
from desktop.common.thumbnails import ThumbnailLoader
from engine.core.user_cache import human_size

PREVIEW_PIXELS = 1600


class ImagePreview(QDialog):
    """Shows ``record`` (an ``engine.data.scan.ImageRecord``) fitted to the window, never upscaled blurrily."""

    def __init__(self, model: ThumbnailModel, loader: ThumbnailLoader, record, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(record.path)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(720, 640)
        self._pixmap: QPixmap | None = None
        self._key = f"preview:{model.absolute_path(record)}"
        self._image = QLabel("Loading…", alignment=Qt.AlignmentFlag.AlignCenter)
        self._image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self._image.setMinimumSize(240, 240)
        info = self.info = QLabel(f"{record.path}   ·   {record.width} × {record.height} px   ·   {record.mode}   ·   "
                      f"{human_size(record.size)}")
        info.setProperty("role", "muted")
        info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self._image, 1)
        layout.addWidget(info)
        layout.addWidget(buttons)
        loader.ready.connect(self._on_ready)
        loader.failed.connect(self._on_failed)
        loader.request(self._key, model.request_for(record, PREVIEW_PIXELS, square=False))

    def has_image(self) -> bool:
        return self._pixmap is not None

    def _on_ready(self, key: str, image: QImage) -> None:
        if key == self._key:
            self._pixmap = QPixmap.fromImage(image)
            self._fit()

    def _on_failed(self, key: str, reason: str) -> None:
        if key == self._key:
            self._image.setText(f"This image cannot be shown:\n{reason}")

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self._pixmap is None:
            return
        area = self._image.size()
        small = self._pixmap.width() * 2 <= area.width() and self._pixmap.height() * 2 <= area.height()
        mode = Qt.TransformationMode.FastTransformation if small else Qt.TransformationMode.SmoothTransformation
        self._image.setPixmap(self._pixmap.scaled(area, Qt.AspectRatioMode.KeepAspectRatio, mode))
