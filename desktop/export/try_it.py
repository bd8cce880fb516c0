"""The "Try it" box: drop any image and see what the exported ONNX model says about it.

The prediction is made by :mod:`engine.deploy.predict` (onnxruntime, numpy and Pillow, no torch),
exactly as a deployer would run the file, in an :class:`EngineJob` off the GUI thread.
"""
from __future__ import annotations

import os
from html import escape
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImageReader, QPixmap
from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.jobs import EngineJob

PICTURE = 96


def try_model(model_path: str, image_path: str, on_event=None, cancel=None):
    """The exported model's prediction for one image, by onnxruntime (engine.deploy.predict: no torch)."""
    from engine.deploy.predict import load_model

    return load_model(model_path).predict([image_path])[0]


def prediction_text(prediction) -> str:
    """What an ``engine.deploy.predict.Prediction`` says (rich text: the answer, then the file in grey)."""
    name = f"<br><span style='font-weight: normal; color: gray'>{escape(os.path.basename(prediction.path))}</span>"
    if prediction.error:
        return f"<span style='font-weight: normal'>{escape(prediction.error)}</span>{name}"
    if prediction.label is not None:
        return f"{escape(prediction.label)}  ·  {prediction.probability:.1%}{name}"
    vector = np.asarray(prediction.embedding)
    return f"An embedding of {vector.size} numbers (length {float(np.linalg.norm(vector)):.3f}){name}"


class TryItBox(QFrame):
    """Disabled until :meth:`set_model`; ``predicted(prediction)`` after each image."""

    predicted = Signal(object)    # engine.deploy.predict.Prediction

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dropZone")
        self.setAcceptDrops(True)
        self.model_path: Optional[str] = None
        self.job: EngineJob | None = None
        self._queued: Optional[str] = None
        heading = QLabel("Try it")
        heading.setProperty("role", "heading")
        self.hint = QLabel("Export a model first, then drop any image here to see its prediction.", wordWrap=True)
        self.hint.setProperty("role", "muted")
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.picture.setFixedSize(PICTURE, PICTURE)
        self.picture.hide()
        self.result = QLabel(wordWrap=True)
        self.result.setTextFormat(Qt.TextFormat.RichText)
        self.result.setProperty("role", "heading")
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choose_button = QPushButton("Choose Image…")
        self.choose_button.clicked.connect(self.choose_image)
        row = QHBoxLayout()
        row.addWidget(self.picture)
        row.addWidget(self.result, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.choose_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(heading)
        layout.addWidget(self.hint)
        layout.addLayout(row)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.setMinimumHeight(190)
        self.set_model(None)

    def set_model(self, model_path: Optional[str]) -> None:
        """Try ``model_path`` (None: nothing exported yet); the last image tried is cleared."""
        self.model_path = model_path
        self.result.clear()
        self.picture.clear()
        self.picture.hide()
        self.setEnabled(model_path is not None)
        self.hint.setText("Drop any image here: onnxruntime runs the exported model on it, without torch, "
                          f"as a deployer would.\nModel: {model_path}" if model_path else
                          "Export a model first, then drop any image here to see its prediction.")

    def choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Try the Model on an Image", os.path.expanduser("~"))
        if path:
            self.try_image(path)

    def try_image(self, path: str) -> bool:
        """Predict ``path`` with the exported model (the newest request wins while one runs)."""
        if not self.model_path:
            return False
        if self.job is not None:
            self._queued = path
            return True
        self._show_picture(path)
        self.result.setText("Running the model…")
        job = self.job = EngineJob(try_model, self.model_path, path, parent=self)
        job.succeeded.connect(self._on_result)
        job.failed.connect(lambda message, _details: self.result.setText(message))
        job.finished.connect(self._on_finished)
        job.start()
        return True


    def _show_picture(self, path: str) -> None:
        reader = QImageReader(path)
        reader.setAutoTransform(True)
        size = reader.size()
        if size.isValid() and size.width() > 0 and size.height() > 0:
            reader.setScaledSize(size.scaled(PICTURE, PICTURE, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        self.picture.setPixmap(QPixmap.fromImage(image) if not image.isNull() else QPixmap())
        self.picture.setVisible(not image.isNull())

    def _on_result(self, prediction) -> None:
        self.result.setText(prediction_text(prediction))
        self.predicted.emit(prediction)

    def _on_finished(self) -> None:
        job, self.job = self.job, None
        job.deleteLater()
        queued, self._queued = self._queued, None
        if queued:
            self.try_image(queued)

    # --- drops ---------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.model_path and event.mimeData().hasUrls():
            event.acceptProposedAction()
            self.setProperty("active", True)
            self.style().polish(self)

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.setProperty("active", False)
        self.style().polish(self)

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.setProperty("active", False)
        self.style().polish(self)
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        files = [path for path in files if os.path.isfile(path)]
        if not files:
            self.result.setText("Drop an image file (not a folder).")
            return
        event.acceptProposedAction()
        self.try_image(files[0])
