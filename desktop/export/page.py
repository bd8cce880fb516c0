"""The Export step: write a verified ONNX model (classifier or embedding) and try it on any image.

``engine.export.run.export_model`` runs in an :class:`EngineJob`; it verifies onnxruntime
against torch on the user's own images before anything is written, so the page shows the
parity figure of the very file on disk.
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup, QFileDialog, QFormLayout, QFrame, QHBoxLayout, QLabel, QLineEdit, QMessageBox,
    QProgressBar, QPushButton, QRadioButton, QVBoxLayout, QWidget,
)

from desktop.common.banner import Banner
from desktop.common.combo import choice_box
from desktop.common.scroll_column import ScrollColumn
from desktop.export.export_result import ExportResultView
from desktop.export.try_it import TryItBox
from desktop.jobs import EngineJob
from engine.core.events import ExportStep, Stage
from engine.deploy.onnx_meta import int8_path
from engine.store.runs import FinetuneRun

STEP_TEXT = {ExportStep.LOAD: "Loading the trained model…", ExportStep.CONVERT: "Converting to ONNX…",
             ExportStep.VERIFY: "Checking onnxruntime against torch on your images…",
             ExportStep.QUANTIZE: "Quantizing to INT8 on your images and comparing it with fp32…",
             ExportStep.WRITE: "Writing the model and its README…"}
PRECISIONS = {"fp32": "Full precision (fp32)", "fp16": "Half precision (fp16)", "int8": "fp32 and an INT8 copy"}
PRECISION_HELP = {"fp16": "About half the size of fp32",
                  "int8": "A second file, <name>.int8.onnx, about a quarter of the size, compared with fp32"}
INPUTS = {False: "Float NCHW, normalised (default)", True: "Raw uint8 NHWC RGB"}
INPUT_HELP = {False: "The model takes float32 tensors shaped (batch, channels, height, width), already resized "
                     "and normalised with the mean and std in the README.",
              True: "The model takes uint8 pixels shaped (batch, height, width, 3), as image libraries load "
                    "them, and does the resizing and normalising itself."}


def export(source: str, out: str, kind: str, raw_input: bool, precision: str, overwrite: bool, scan=None,
           on_event=None, cancel=None):
    """engine.export.run.export_model, imported in the worker (it loads torch and onnx)."""
    from engine.export.run import export_model

    return export_model(source, out, kind=kind, raw_input=raw_input, fp16=precision == "fp16",
                        int8=precision == "int8", overwrite=overwrite, on_event=on_event, cancel=cancel, scan=scan)


def last_export(root: str) -> str | None:
    """The model last exported from the folder ``root`` (recorded in its project) while the
    file is still there, else None."""
    from engine.store.project import Project, ProjectError

    try:
        with Project.open(root) as project:
            records = project.runs("export")
    except ProjectError:
        return None
    return next((record.path for record in records if os.path.isfile(record.path)), None)


def record_export(root: str, path: str, kind: str) -> None:
    """Note the model exported to ``path`` in the folder's project, so Try it is ready with it
    when the folder opens again; a project that cannot be written is skipped."""
    from engine.store.project import Project, ProjectError

    try:
        with Project.open(root) as project:
            project.add_run("export", path, {"kind": kind})
    except ProjectError:
        pass


class ExportPage(QWidget):
    exported = Signal(object)     # engine.export.run.ExportResult
    running_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.root = ""
        self.pretrain_run = ""
        self.scan = None         # the folder's engine.data.scan.ScanReport from the Data step
        self.finetune_run = ""
        self.job: EngineJob | None = None
        self.last_result = None
        self._default_path = ""
        self._source = ""        # the run folder being exported

        self.title = QLabel("Export")
        self.title.setProperty("role", "title")
        self.subtitle = QLabel("Finish a pretraining run first.")
        self.subtitle.setProperty("role", "muted")
        self.banner = Banner()
        self.classifier = QRadioButton("Classifier: an image in, class probabilities out")
        self.embedding = QRadioButton("Embedding model: an image in, a feature vector out")
        self.embedding.setToolTip("The pretrained backbone alone: useful without labels, for search and "
                                  "deduplication")
        self.kinds = QButtonGroup(self)
        self.kinds.addButton(self.classifier)
        self.kinds.addButton(self.embedding)
        self.embedding.setChecked(True)
        self.kinds.buttonToggled.connect(lambda *_: self._update_default_path())
        self.input = choice_box(INPUTS, help_texts=INPUT_HELP)
        self.precision = choice_box(PRECISIONS, help_texts=PRECISION_HELP)
        self.precision.setToolTip("fp16 is verified against fp32 with a looser tolerance (1e-2). INT8 writes a "
                                  "second file, <name>.int8.onnx, calibrated on your images, and says whether it "
                                  "keeps the fp32 model's accuracy")
        self.path = QLineEdit()
        self.path.setPlaceholderText("model.onnx")
        self.choose_button = QPushButton("Choose…")
        self.choose_button.clicked.connect(self.choose_path)
        self.export_button = QPushButton("Export and Verify")
        self.export_button.setProperty("role", "primary")
        self.export_button.clicked.connect(self.start)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.status = QLabel(wordWrap=True)
        self.status.setProperty("role", "muted")
        self.result_view = ExportResultView()
        self.result_view.open_folder.connect(lambda path: QDesktopServices.openUrl(QUrl.fromLocalFile(path)))
        self.try_it = TryItBox()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addWidget(self.banner)
        columns = QHBoxLayout()
        columns.setSpacing(24)
        columns.addWidget(self._options_card(), 5, Qt.AlignmentFlag.AlignTop)
        right = QVBoxLayout()
        right.setSpacing(16)
        right.addWidget(self.result_view)
        right.addWidget(self.try_it)
        right.addStretch(1)
        columns.addLayout(right, 4)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 8, 0, 0)
        body_layout.addLayout(columns)
        body_layout.addStretch(1)
        layout.addWidget(ScrollColumn(body), 1)
        self._set_running(False)

    def _options_card(self) -> QFrame:
        card = QFrame()
        card.setProperty("role", "card")
        heading = QLabel("What to export")
        heading.setProperty("role", "heading")
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(self.choose_button)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Input", self.input)
        form.addRow("Precision", self.precision)
        form.addRow("Save as", path_row)
        note = QLabel("Every export is checked: onnxruntime and torch run on your own images at batch 1 and "
                      "batch 8, and nothing is written unless they agree. A README.txt with a short Python "
                      "example is written next to the model.", wordWrap=True)
        note.setProperty("role", "muted")
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(card)
        layout.setContentsMargins(18, 14, 18, 16)
        layout.setSpacing(10)
        layout.addWidget(heading)
        layout.addWidget(self.classifier)
        layout.addWidget(self.embedding)
        layout.addSpacing(4)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        return card

    # --- state ---------------------------------------------------------------------------------
    def set_models(self, root: str, pretrain_run: str, finetune_run: str, scan=None) -> None:
        """The folder (``scan``: its ``engine.data.scan.ScanReport``, verified on) and its newest
        models ("" when there is none yet)."""
        folder_changed = root != self.root
        self.root, self.pretrain_run, self.finetune_run, self.scan = root, pretrain_run, finetune_run, scan
        self.classifier.setEnabled(bool(finetune_run))
        self.classifier.setToolTip("" if finetune_run else "Fine-tune a classifier on the Label step first")
        if finetune_run:
            self.classifier.setChecked(True)
        elif self.classifier.isChecked():
            self.embedding.setChecked(True)
        what = "a fine-tuned classifier and its backbone" if finetune_run else "a pretrained backbone (no " \
            "classifier yet: label and fine-tune to export one)"
        self.subtitle.setText(f"{os.path.basename(root) or root}  ·  {what}" if pretrain_run else
                              "Finish a pretraining run first.")
        if folder_changed:
            self.banner.dismiss()
            self.result_view.clear()
            self.status.clear()
            previous = last_export(root) if root else None
            self.path.setText(previous or "")      # the previous folder's file is no default here
            self.try_it.set_model(previous)
        self._update_default_path()
        self._set_running(self.job is not None)

    def kind(self) -> str:
        return "classifier" if self.classifier.isChecked() else "embedding"

    def _update_default_path(self) -> None:
        """Propose ``<Documents>/<folder>-<kind>.onnx`` until the user types their own."""
        if self.path.text() and self.path.text() != self._default_path:
            return
        base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        base = base if base and os.path.isdir(base) else os.path.expanduser("~")
        self._default_path = os.path.join(base, f"{os.path.basename(self.root) or 'model'}-{self.kind()}.onnx")
        self.path.setText(self._default_path)

    def choose_path(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the Model As", self.path.text(), "ONNX model (*.onnx)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.path.setText(path if path.lower().endswith(".onnx") else path + ".onnx")

    def confirm_overwrite(self, paths: list[str]) -> bool:
        one = len(paths) == 1
        answer = QMessageBox.question(self, "Replace the File?" if one else "Replace the Files?",
                                      f"{' and '.join(paths)} {'exists' if one else 'exist'} already. "
                                      f"Replace {'it' if one else 'them'}?\n\n"
                                      "The old files stay as they are unless the new model verifies.",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    # --- exporting -----------------------------------------------------------------------------
    def start(self) -> bool:
        if self.job is not None or not self.pretrain_run:
            return False
        out = os.path.abspath(os.path.expanduser(self.path.text().strip()))
        if not self.path.text().strip():
            self.banner.show_message("error", "Choose where to save the model first.")
            return False
        precision = self.precision.currentData()
        targets = (out, str(int8_path(out))) if precision == "int8" else (out,)
        existing = [path for path in targets if Path(path).is_file()]
        overwrite = bool(existing)
        if overwrite and not self.confirm_overwrite(existing):
            return False
        kind = self.kind()
        source = self._source = self.finetune_run if kind == "classifier" else self.pretrain_run
        self.banner.dismiss()
        self.result_view.clear()
        job = self.job = EngineJob(export, source, out, kind, bool(self.input.currentData()), precision, overwrite,
                                   self.scan, parent=self)
        job.stage_started.connect(lambda e: e.stage is Stage.CACHE and self.status.setText("Decoding your images…"))
        job.progress.connect(self._on_progress)
        job.succeeded.connect(self._on_result)
        job.failed.connect(self._on_failed)
        job.finished.connect(self._on_finished)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(STEP_TEXT[ExportStep.LOAD])
        self._set_running(True)
        job.start()
        return True

    def _set_running(self, running: bool) -> None:
        for widget in (self.classifier, self.embedding, self.input, self.precision, self.path, self.choose_button):
            widget.setEnabled(not running and bool(self.pretrain_run) and
                              (widget is not self.classifier or bool(self.finetune_run)))
        self.export_button.setEnabled(not running and bool(self.pretrain_run))
        self.running_changed.emit(running)

    def _on_progress(self, event) -> None:
        if event.stage is not Stage.EXPORT:
            return
        self.progress.setRange(0, event.total)
        self.progress.setValue(event.step)
        current = event.metrics.current   # QUANTIZE comes only when INT8 was chosen
        self.status.setText("Done" if current is None else STEP_TEXT[current])

    def _on_result(self, result) -> None:
        self.last_result = result
        use = result.int8.path if result.int8 and result.int8.recommended == "int8" else result.path
        self.status.setText(f"Exported and verified: {result.path}")
        if result.int8 is None:
            message = f"The {result.kind} model is saved in {result.path} and verified with onnxruntime."
        elif result.int8.recommended == "int8":
            message = f"Both models are saved and verified; the INT8 one keeps the accuracy: use {use}."
        else:
            message = f"Both models are saved; the INT8 one loses too much accuracy: use the fp32 model, {use}."
        too_lossy = result.int8 is not None and result.int8.recommended != "int8"
        self.banner.show_message("warning" if too_lossy else "success", f"{message} Try it on any image below.")
        validation = FinetuneRun(Path(self._source)).validation() if result.kind == "classifier" else {}
        self.result_view.show_result(result, validation)
        self.try_it.set_model(use)
        if self.root:
            record_export(self.root, use, result.kind)
        self.exported.emit(result)

    def _on_failed(self, message: str, details: str) -> None:
        self.status.setText("Not exported.")
        self.banner.show_message("error", message, details=details)

    def _on_finished(self) -> None:
        job, self.job = self.job, None
        job.deleteLater()
        self.progress.hide()
        self._set_running(False)

