"""Fine-tuning controls: mode, Train / Stop, the live loss curve, the validation and
"Accept predictions above X %". The run goes through the same :class:`EngineJob` adapter
as pretraining; the page gives it the config and the labels and gets the outcome back."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from desktop.common.training_plots import TrainingPlots
from desktop.common.validation_view import ValidationView
from desktop.jobs import EngineJob
from desktop.label.jobs import finetune_and_predict
from engine.core.events import Stage

MODES = (     # key, name (short enough for a narrow column), what it does
    ("auto", "Auto", "Picked from the label count"),
    ("linear", "Linear probe", "Seconds; suits a few labels"),
    ("semi", "Semi-supervised", "Also learns from the unlabeled images"),
    ("full", "Full fine-tune", "Suits many labels; slower"),
)
MODE_HELP = {
    "auto": "Picks linear, semi or full from how many labels there are.",
    "linear": "A linear classifier on the frozen backbone's embeddings: seconds, the best choice for few labels.",
    "semi": "A semi-supervised (\"semi\") classifier: trains the network on the labels and on its own "
            "confident predictions for unlabeled images (consistency training).",
    "full": "Trains the whole network on the labels: needs many labels and minutes.",
}
TIME_LIMITS = (
    (0.0, "Quick (seconds)"),
    (1.0, "1 minute"),
    (3.0, "3 minutes"),
    (5.0, "5 minutes"),
    (10.0, "10 minutes"),
)
STAGE_TEXT = {Stage.SCAN: "Checking the images…", Stage.CACHE: "Decoding the images once…",
              Stage.EMBED: "Computing the embeddings…", Stage.VALIDATE: "Estimating the accuracy…"}


class FinetunePanel(QWidget):
    completed = Signal(object)          # desktop.label.jobs.FinetuneOutcome of a completed run
    failed = Signal(str, str)           # message, details
    warning = Signal(str)
    running_changed = Signal(bool)
    accept_requested = Signal(float)    # threshold in [0, 1]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job: EngineJob | None = None
        self.outcome = None
        self.warnings: list[str] = []      # of the current run
        heading = QLabel("Fine-tune")
        heading.setProperty("role", "heading")
        self.mode = QComboBox()
        for key, name, _what in MODES:
            self.mode.addItem(name, key)
            self.mode.setItemData(self.mode.count() - 1, MODE_HELP[key], Qt.ItemDataRole.ToolTipRole)
        self.mode_note = QLabel(wordWrap=True)      # what the chosen mode does, in a few words
        self.mode_note.setProperty("role", "muted")
        self.time_limit = QComboBox()
        for minutes, text in TIME_LIMITS:
            self.time_limit.addItem(text, minutes)
        self.time_limit.setToolTip("Semi-supervised and full modes: train the whole network for this long, "
                                   "half for the final model, half for the accuracy estimate. Semi-supervised "
                                   "training learns from the unlabeled images and is usually several points more "
                                   "accurate than Quick.")
        self.mode.currentIndexChanged.connect(self._update_time_limit)
        self.mode.currentIndexChanged.connect(
            lambda index: self.mode_note.setText(MODES[index][2]))
        self.mode_note.setText(MODES[0][2])
        self.train_button = QPushButton("Train Classifier")
        self.train_button.setProperty("role", "primary")
        self.train_button.setToolTip("Train on the current labels; click again after more labels to retrain")
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.status = QLabel("Label a few images of each class (at least two classes), then train.", wordWrap=True)
        self.status.setProperty("role", "muted")
        self.plots = TrainingPlots(panels=("loss",), ema_beta=0.6, x_label="iteration")
        self.plots.setFixedHeight(190)
        self.plots.hide()           # shown from the first run on
        self.progress.hide()
        self.validation = ValidationView()
        self.threshold = QSpinBox()
        self.threshold.setRange(50, 100)
        self.threshold.setValue(90)
        self.threshold.setSuffix(" %")
        self.threshold.valueChanged.connect(self._update_accept_text)
        self.accept_button = QPushButton()
        self.accept_button.setToolTip("Turn confident predictions of unlabeled images into labels, marked as "
                                      "accepted predictions (dashed border). Ctrl+Z undoes it.")
        self.accept_button.clicked.connect(lambda: self.accept_requested.emit(self.threshold.value() / 100))
        self._update_accept_text()

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)    # each list as wide as the column
        form.addRow("Mode", self.mode)
        form.addRow(self.mode_note)
        form.addRow("Training time", self.time_limit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button, 1)
        buttons.addWidget(self.stop_button)
        accept = QHBoxLayout()
        accept.addWidget(QLabel("Accept predictions above", wordWrap=True), 1)
        accept.addWidget(self.threshold)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(accept)
        layout.addWidget(self.accept_button)
        layout.addSpacing(6)
        layout.addWidget(self.plots)
        layout.addWidget(self.validation)
        layout.addStretch(1)
        self.set_has_predictions(False)
        self._set_running(False)

    def _update_accept_text(self) -> None:
        self.accept_button.setText(f"Accept Predictions ≥ {self.threshold.value()} %")

    def set_has_predictions(self, available: bool) -> None:
        self.threshold.setEnabled(available and self.job is None)
        self.accept_button.setEnabled(available and self.job is None)

    def chosen_mode(self) -> str:
        return self.mode.currentData()

    def chosen_minutes(self) -> float | None:
        """The time budget for the network training; None for the quick fine-tune."""
        minutes = self.time_limit.currentData()
        return minutes if minutes and self.chosen_mode() != "linear" else None

    def _update_time_limit(self) -> None:
        self.time_limit.setEnabled(self.job is None and self.chosen_mode() != "linear")

    def is_running(self) -> bool:
        return self.job is not None


    # --- running ---------------------------------------------------------------------------
    def start(self, cfg, labels: dict, scan=None) -> bool:
        """Fine-tune with ``cfg`` (engine FinetuneConfig) on ``labels`` ``{path: class}``; ``scan``:
        the session's scan of the image folder."""
        if self.job is not None:
            return False
        self.warnings = []
        self.plots.clear()
        self.plots.show()
        self.progress.show()
        self.progress.setRange(0, 0)
        self.status.setText("Starting…")
        job = self.job = EngineJob(finetune_and_predict, cfg, dict(labels), scan, parent=self)
        job.stage_started.connect(self._on_started)
        job.progress.connect(self._on_progress)
        job.warning.connect(self.warnings.append)
        job.warning.connect(self.warning)
        job.succeeded.connect(self._on_result)
        job.failed.connect(self._on_failed)
        job.finished.connect(self._on_finished)
        self._set_running(True)
        job.start()
        return True

    def stop(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Stopping…")

    def _set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.mode.setEnabled(not running)
        self._update_time_limit()
        self.stop_button.setEnabled(running)
        self.set_has_predictions(bool(self.outcome and self.outcome.predictions) and not running)
        self.running_changed.emit(running)

    def _on_started(self, event) -> None:
        if event.stage is Stage.FINETUNE:
            info = event.info
            self.progress.setRange(0, max(event.total, 1))
            self.status.setText(f"Training: {info.mode_reason or info.mode} · {info.labels} labels, "
                                f"{info.validation} validation")
        elif event.stage in STAGE_TEXT:
            self.status.setText(STAGE_TEXT[event.stage])

    def _on_progress(self, event) -> None:
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(min(event.step, event.total))
        if event.stage is Stage.FINETUNE:
            self.plots.add(event.step, event.metrics.as_dict(), event.total)
            self.status.setText(f"Iteration {event.step} of {event.total} · loss {event.metrics.loss:.4f}")
        elif event.stage in STAGE_TEXT:
            self.status.setText(f"{STAGE_TEXT[event.stage][:-1]} {event.step:,} of {event.total:,}")

    def _explain_mode(self, mode: str) -> None:
        self.status.setToolTip(f"{mode}: {MODE_HELP[mode]}" if mode in MODE_HELP else "")

    def _on_result(self, outcome) -> None:
        result = outcome.result
        self.plots.finish()
        if result.status != "completed":
            self.status.setText("Stopped: the previous model (if any) is kept.")
            return
        self.outcome = outcome
        self.status.setText(f"Trained a {result.mode} classifier on {result.labels_used} labels.")
        self._explain_mode(result.mode)
        self.validation.show_validation(result.validation, result.classes, result.labels_used, result.mode_reason)
        self.completed.emit(outcome)

    def show_saved(self, saved) -> None:
        """Show a fine-tune run from an earlier session (desktop.label.jobs.SavedFinetune)."""
        from desktop.label.jobs import FinetuneOutcome

        self.outcome = FinetuneOutcome(saved, saved.predictions)
        self._explain_mode(saved.mode)
        self.status.setText(f"Last model: {saved.mode} classifier on {saved.labels_used} labels. "
                            "Train again after adding labels.")
        self.validation.show_validation(saved.validation, saved.classes, saved.labels_used)
        self.set_has_predictions(bool(saved.predictions))

    def _on_failed(self, message: str, details: str) -> None:
        self.status.setText("Not trained.")
        self.failed.emit(message, details)

    def _on_finished(self) -> None:
        job, self.job = self.job, None
        job.deleteLater()
        self.progress.hide()
        self._set_running(False)

    def reset(self) -> None:
        """A different folder: forget the last model's results."""
        self.outcome = None
        self.plots.clear()
        self.plots.hide()
        self.validation.clear()
        self.status.setText("Label a few images of each class (at least two classes), then train.")
        self._explain_mode("")
        self.set_has_predictions(False)

