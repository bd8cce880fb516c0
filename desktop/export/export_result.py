"""What an export produced: the parity of onnxruntime with torch, per-class accuracy, the INT8
model against fp32 (accuracy, size, latency, which to use), the files."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidgetItem, QVBoxLayout, QWidget,
)

from desktop.common.validation_view import fit_height, make_table, percent, scheme_help


def parity_text(result) -> str:
    """The verification in one or two lines (``result``: engine.export.run.ExportResult)."""
    sizes = " and ".join(str(size) for size in result.batch_sizes)
    what = "probabilities" if result.kind == "classifier" else "embeddings"
    text = (f"Max abs difference {result.max_abs_diff:.1e} on the {what} (limit {result.tolerance:.0e}), "
            f"at batch sizes {sizes} on {result.images_checked} of your images.")
    if result.top1_agreement is not None:
        text += f" Top-1 agreement {result.top1_agreement:.0%}."
    return text


def input_text(result) -> str:
    meta = result.metadata
    size = "×".join(str(v) for v in meta.get("input_size", []))
    layout = "uint8 NHWC, any size (resized inside)" if result.raw_input else f"float32 NCHW {size}, normalised"
    return f"Input: {meta.get('input_name', '')}, {layout} · {result.precision} · {result.size_bytes / 1e6:.2f} MB"


def int8_rows(report) -> list[tuple[str, str, str]]:
    """(figure, fp32, INT8) rows for an ``engine.export.quantize.Int8Report``."""
    if report.measure == "accuracy":
        quality = (f"Accuracy on {report.images} labeled images", f"{report.fp32_value:.1%}", f"{report.value:.1%}")
    elif report.measure == "top-1 agreement":
        quality = (f"Same class as fp32, on {report.images} images", "", f"{report.value:.1%}")
    else:
        quality = (f"Cosine similarity to fp32, on {report.images} images", "", f"{report.value:.4f}")
    return [quality,
            ("File size", f"{report.fp32_size_bytes / 1e6:.2f} MB", f"{report.size_bytes / 1e6:.2f} MB"),
            ("Latency, one image", f"{report.fp32_latency_ms:.2f} ms", f"{report.latency_ms:.2f} ms")]


def int8_verdict(result) -> str:
    report = result.int8
    if report.recommended == "int8":
        return f"INT8 keeps the fp32 model's results: use {os.path.basename(report.path)} where size or speed matters."
    return (f"INT8 loses too much here, so use the fp32 model, {os.path.basename(result.path)}. "
            f"The INT8 file is written all the same.")


class ExportResultView(QFrame):
    """Hidden until :meth:`show_result`; ``open_folder(path)`` from its button."""

    open_folder = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("role", "card")
        self.heading = QLabel("✓ Verified")
        self.heading.setProperty("role", "heading")
        self.parity = QLabel(wordWrap=True)
        self.inputs = QLabel(wordWrap=True)
        self.inputs.setProperty("role", "muted")
        self.accuracy_title = QLabel(wordWrap=True)
        self.accuracy = make_table(0, 2)
        self.accuracy.setHorizontalHeaderLabels(["Class", "Validation accuracy"])
        self.accuracy.verticalHeader().hide()
        self.accuracy.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.accuracy.horizontalHeader().setStretchLastSection(False)
        self.int8_title = QLabel("INT8 against fp32", wordWrap=True)
        self.int8 = make_table(0, 3)
        self.int8.setHorizontalHeaderLabels(["", "fp32", "INT8"])
        self.int8.verticalHeader().hide()
        self.int8.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.int8.horizontalHeader().setStretchLastSection(False)
        self.int8_verdict = QLabel(wordWrap=True)
        self.files = QLabel(wordWrap=True)
        self.files.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.files.setProperty("role", "muted")
        self.folder_button = QPushButton("Show in Folder")
        self.folder_button.clicked.connect(lambda: self.open_folder.emit(os.path.dirname(self._path)))
        self._path = ""
        buttons = QHBoxLayout()
        buttons.addWidget(self.folder_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 16)
        layout.setSpacing(8)
        layout.addWidget(self.heading)
        layout.addWidget(self.parity)
        layout.addWidget(self.inputs)
        layout.addWidget(self.accuracy_title)
        layout.addWidget(self.accuracy)
        layout.addWidget(self.int8_title)
        layout.addWidget(self.int8)
        layout.addWidget(self.int8_verdict)
        layout.addWidget(self.files)
        layout.addLayout(buttons)
        self.clear()

    def clear(self) -> None:
        self.hide()

    def show_result(self, result, validation: dict | None = None) -> None:
        """``result``: an ``engine.export.run.ExportResult``; ``validation``: the exported
        classifier's fine-tune validation (``engine.finetune.validation``), whose per-class
        figures are shown: images held out of training, not the ones it learned from."""
        self._path = result.path
        self.parity.setText(parity_text(result))
        self.inputs.setText(input_text(result))
        validation = validation or {}
        per_class = validation.get("per_class") or {}
        self.accuracy_title.setText(f"Per-class validation accuracy ({validation.get('scheme', '')}: each labeled "
                                    "image predicted by a model trained without it)")
        self.accuracy_title.setToolTip(scheme_help(validation.get("scheme", "")))
        self.accuracy.setRowCount(len(per_class))
        for row, (name, value) in enumerate(per_class.items()):
            self.accuracy.setItem(row, 0, QTableWidgetItem(name))
            cell = QTableWidgetItem(percent(value))
            cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.accuracy.setItem(row, 1, cell)
        fit_height(self.accuracy)
        self.accuracy_title.setVisible(bool(per_class))
        self.accuracy.setVisible(bool(per_class))
        self._show_int8(result)
        int8_file = f"\nINT8 model: {result.int8.path}" if result.int8 else ""
        self.files.setText(f"Model: {result.path}{int8_file}\nREADME: {result.readme_path}\n"
                           f"Model card: {result.model_card_path}")
        self.show()

    def _show_int8(self, result) -> None:
        rows = int8_rows(result.int8) if result.int8 else []
        self.int8.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if column:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.int8.setItem(row, column, cell)
        fit_height(self.int8)
        self.int8_verdict.setText(int8_verdict(result) if result.int8 else "")
        for widget in (self.int8_title, self.int8, self.int8_verdict):
            widget.setVisible(bool(rows))

    def int8_table(self) -> list[list[str]]:
        table = self.int8
        return [[table.item(row, column).text() for column in range(3)] for row in range(table.rowCount())]

    def accuracy_rows(self) -> dict[str, str]:
        table = self.accuracy
        return {table.item(row, 0).text(): table.item(row, 1).text() for row in range(table.rowCount())}
