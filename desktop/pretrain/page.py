"""The Pretrain step: settings, Start / Pause / Stop, live curves, view pairs, resume."""
from __future__ import annotations

import os
import time
from html import escape

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QLabel, QMessageBox, QProgressBar, QPushButton, QSplitter, QVBoxLayout, QWidget,
)

import engine
from desktop.common.banner import Banner
from desktop.common.scroll_column import ScrollColumn
from desktop.common.training_plots import TrainingPlots
from desktop.jobs import EngineJob
from desktop.pretrain.form import PretrainForm
from desktop.pretrain.gain_line import collapse_alarm, collapse_sentence, probe_sentence, recorded_probes
from desktop.pretrain.live_map import LiveMap
from desktop.pretrain.status_text import metrics_line, step_status
from desktop.pretrain.view_pairs import ViewPairs
from engine.core.atomic import DiskWriteError
from engine.core.config import METHOD_NAMES
from engine.core.events import PretrainMetrics, PretrainStart, ProbeResult, Stage
from engine.store.project import ProjectError
from engine.store.project_io import write_probe_labels


def detect_devices(on_event=None, cancel=None) -> list:
    """The engine's devices, best first. It imports torch, so it runs in a worker, when the page
    is first shown; it loads the training code too (about a second), so that Start need not."""
    import engine.pretrain.loop  # noqa: F401 - loaded now, used by Start
    from engine.core.device import available_devices

    return available_devices()


class PretrainPage(QWidget):
    """Runs ``engine.run_pretraining`` through an :class:`EngineJob`; one run at a time."""

    completed = Signal(object)        # engine.pretrain.loop.PretrainResult of a finished run
    continue_requested = Signal()     # "Continue to Label & Fine-tune" once a run has finished
    running_changed = Signal(bool)
    percent_changed = Signal(int)     # the run's progress, 0-100; -1 when no run is going or its length is unknown

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self.data_dir: str | None = None
        self.report = None       # the folder's engine.data.scan.ScanReport from the Data step
        self.job: EngineJob | None = None
        self._devices_job: EngineJob | None = None
        self._percent = -1
        self.last_result = None
        self.state = "idle"      # idle, running, pausing, paused, stopping
        self.step = 0
        self.probe: ProbeResult | None = None    # the run's latest gain probe

        self.title = QLabel("Pretrain")
        self.title.setProperty("role", "title")
        self.subtitle = QLabel("Open a folder on the Data step first.")
        self.subtitle.setProperty("role", "muted")
        self.banner = Banner()
        self.resume_banner = Banner(reserve=False)   # floats just below the other one's room
        self.form = PretrainForm()
        self.form.restore(settings)
        self.start_button = QPushButton("Start Pretraining")
        self.start_button.setProperty("role", "primary")
        self.start_button.clicked.connect(self.start)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop and keep a checkpoint; the run can be resumed later")
        self.stop_button.clicked.connect(self.stop)
        self.continue_button = QPushButton("Continue to Label && Fine-tune")
        self.continue_button.setToolTip("Label a few images and train a classifier on this backbone")
        self.continue_button.clicked.connect(self.continue_requested)
        self.continue_button.hide()
        self.choices = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText, visible=False)   # shown with a run
        self.choices.setProperty("role", "muted")

        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.status = QLabel("Ready")
        self.metrics = QLabel(wordWrap=True)
        self.metrics.setProperty("role", "muted")
        self.collapse_warning = QLabel(wordWrap=True)
        self.collapse_warning.setProperty("role", "warning")
        self.collapse_warning.hide()
        self.gain = QLabel(wordWrap=True)      # the gain probe's figure, or the collapse metric in words
        font = self.gain.font()
        font.setWeight(QFont.Weight.DemiBold)
        self.gain.setFont(font)
        self.gain.hide()
        self.plots = TrainingPlots()
        self.live_map = LiveMap()
        self.pairs = ViewPairs()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addWidget(self.banner)
        layout.addWidget(self.resume_banner)
        splitter = QSplitter()
        splitter.addWidget(self._settings_column())
        splitter.addWidget(self._run_column())
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([380, 900])
        layout.addWidget(splitter, 1)
        self._set_state("idle")

    def _settings_column(self) -> QWidget:
        """The settings, the actions right below them, then what "auto" chose and the live map. The
        settings scroll when the pane is too short for them, so the actions always stay in view; what
        a run shows appears below the actions and moves none of them."""
        settings, run_info = QWidget(), QWidget()
        for column, widgets in ((settings, (self.form,)), (run_info, (self.choices, self.live_map))):
            layout = QVBoxLayout(column)
            layout.setContentsMargins(0, 8 if column is settings else 0, 12, 0)
            for widget in widgets:     # no stretch: each column is as tall as its content
                layout.addWidget(widget)
        buttons = QHBoxLayout()
        for button, stretch in ((self.start_button, 1), (self.pause_button, 0), (self.stop_button, 0)):
            buttons.addWidget(button, stretch)
        pane = QWidget()
        pinned = QVBoxLayout(pane)
        pinned.setContentsMargins(0, 0, 0, 0)
        pinned.addWidget(ScrollColumn(settings, fit_height=True))
        edge = QFrame(frameShape=QFrame.Shape.HLine, frameShadow=QFrame.Shadow.Sunken)   # where the settings end
        actions = QVBoxLayout()   # Continue below the buttons: appearing, it moves none of them
        actions.setContentsMargins(0, 0, 12, 0)
        actions.addWidget(edge)
        actions.addLayout(buttons)
        actions.addWidget(self.continue_button)
        pinned.addLayout(actions)
        pinned.addWidget(ScrollColumn(run_info, fit_height=True))
        pinned.addStretch(1)
        return pane

    def _run_column(self) -> QWidget:
        status = QVBoxLayout()      # the metrics under the step, so a narrow pane wraps them in one place
        status.setSpacing(2)
        status.addWidget(self.status)
        status.addWidget(self.metrics)
        column = QWidget()
        layout = QVBoxLayout(column)
        layout.setContentsMargins(12, 8, 0, 0)
        layout.addLayout(status)
        layout.addWidget(self.progress)
        layout.addWidget(self.gain)
        layout.addWidget(self.collapse_warning)
        layout.addWidget(self.plots, 1)
        layout.addWidget(self.pairs)
        return ScrollColumn(column)

    # --- project ---------------------------------------------------------------------------
    def set_project(self, data_dir: str, report) -> None:
        """Point the page at a scanned folder: show its last finished run and offer to resume its
        unfinished one."""
        folder_changed = data_dir != self.data_dir
        self.data_dir, self.report = data_dir, report
        self.form.set_data_dir(data_dir)
        kind = "grayscale" if report.grayscale else "colour"
        self.subtitle.setText(f"{os.path.basename(data_dir) or data_dir}  ·  {report.usable:,} {kind} images")
        self.banner.dismiss()
        if self.job is None and folder_changed:
            self.show_last_run()
        self.offer_resume()
        self._set_state(self.state)

    def _finished_runs(self) -> list:
        from engine.store.run_lookup import finished_pretrain_runs

        return finished_pretrain_runs(self.data_dir, [self.form.out_dir.text().strip()]) if self.data_dir else []

    def _resumable_runs(self) -> list:
        from engine.store.runs import find_resumable

        return find_resumable(self.data_dir, self.form.out_dir.text().strip()) if self.data_dir else []

    def show_last_run(self) -> None:
        """Where the user left off: the newest finished run of the folder with its curves (from its
        metrics.jsonl), or empty charts when there is none."""
        from engine.store.run_lookup import describe_pretrain_run

        self.plots.clear()
        self.pairs.clear()
        self.live_map.clear()
        self.choices.hide()
        self.collapse_warning.hide()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.metrics.clear()
        self.probe = None
        self.gain.hide()
        finished = self._finished_runs()
        self.continue_button.setVisible(bool(finished))
        if not finished:
            self.status.setText("Ready")
            return
        newest = finished[0]
        history = newest.read_metrics()
        self.plots.load(history)
        probes = recorded_probes(history)
        if probes:
            self._show_probe(probes[-1])
        self.progress.setValue(1)
        self.status.setText(f"Last finished run: {describe_pretrain_run(newest)}")
        self.status.setToolTip(str(newest.path))

    def offer_resume(self) -> None:
        """Offer Resume or a new run when the folder has a stopped run with a checkpoint, naming
        the newest finished run beside it."""
        from engine.store.run_lookup import describe_pretrain_run

        runs = self._resumable_runs()
        if not runs or self.job is not None:
            self.resume_banner.dismiss()
            return
        run = runs[0]
        saved = time.strftime("%d %b %H:%M", time.localtime(run.checkpoint_path.stat().st_mtime))
        cfg = run.config()
        finished = self._finished_runs()
        newest = (f" The newest finished run ({describe_pretrain_run(finished[0])}) is shown below."
                  if finished else "")
        self.resume_banner.show_message(
            "info", f"This folder has an unfinished run ({METHOD_NAMES.get(cfg.method, cfg.method)}, {cfg.backbone}, "
                    f"{cfg.image_size} px), "
                    f"last saved {saved}.{newest} Resume it where it stopped, or start a new one?",
            actions=[("Resume", lambda: self.resume(str(run.path))), ("Start New", lambda: self.start(fresh=True))])

    def ask_resume_or_new(self, run) -> str:
        """"resume", "new" or "cancel": what to do about the stopped run ``run`` on Start."""
        box = QMessageBox(QMessageBox.Icon.Question, "Resume the Stopped Run?",
                          f"A run on this folder was stopped at its last checkpoint ({run.path.name}). "
                          "Resume it where it stopped, or start a new run from scratch?", parent=self)
        resume = box.addButton("Resume Stopped Run", QMessageBox.ButtonRole.AcceptRole)
        new = box.addButton("Start New Run", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(resume)
        box.exec()
        return {resume: "resume", new: "new"}.get(box.clickedButton(), "cancel")

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._devices_job is None:   # first show: detect devices without blocking start-up
            self._devices_job = EngineJob(detect_devices, parent=self)
            self._devices_job.succeeded.connect(self.form.set_devices)
            self._devices_job.start()

    # --- controls --------------------------------------------------------------------------
    def start(self, fresh: bool = False) -> bool:
        """Start a fresh run with the form's settings; False (with a message) when they are invalid.
        When a stopped run exists and not ``fresh``, the user first chooses to resume it, start
        a new one or cancel."""
        if self.job is not None or not self.data_dir:
            return False
        stopped = [] if fresh else self._resumable_runs()
        if stopped:
            answer = self.ask_resume_or_new(stopped[0])
            if answer == "resume":
                return self.resume(str(stopped[0].path))
            if answer == "cancel":
                return False
        cfg = self.form.config(self.data_dir)
        try:
            cfg.validate()
        except engine.ConfigError as error:
            self.banner.show_message("error", str(error)[0].upper() + str(error)[1:])
            return False
        self.form.save(self._settings)
        self.plots.clear()
        labels, note = self._probe_labels()
        self._launch(cfg.replace(probe_labels=labels), resume=None, note=note)
        return True

    def _probe_labels(self) -> tuple[str, str]:
        """The CSV of the folder's labels for the gain probe ("" without labels) and what the gain
        line says until the first figure comes."""
        try:
            path, count = write_probe_labels(self.data_dir)
        except (ProjectError, DiskWriteError) as error:
            return "", f"No gain probe this run: {error}"
        if not count:
            return "", ""
        return path, f"Measuring what a quick fine-tune on your {count} label{'s' if count != 1 else ''} reaches…"

    def resume(self, run_dir: str) -> bool:
        """Continue the run in ``run_dir`` from its last checkpoint, its curves included."""
        from engine.store.runs import open_run_folder

        if self.job is not None:
            return False
        try:
            run = open_run_folder(run_dir)
            cfg = run.config()
            history = run.read_metrics()
        except (OSError, ValueError) as error:
            self.banner.show_message("error", f"The run in {run_dir} cannot be resumed: {error}")
            return False
        self.form.set_config(cfg)
        self.plots.clear()
        self.plots.load(history)
        if cfg.probe_labels:
            self._probe_labels()    # the labels as they are now, in the file the run reads
        probes = recorded_probes(history)
        self._launch(cfg, resume=run_dir)
        if probes:
            self._show_probe(probes[-1])
        return True

    def _launch(self, cfg, resume: str | None, note: str = "") -> None:
        """Start the engine job; ``note`` is the gain line's text until the run reports."""
        self.banner.dismiss()
        self.continue_button.hide()
        self.status.setToolTip("")
        self.resume_banner.dismiss()
        self.collapse_warning.hide()
        self.probe = None
        self.gain.setText(note)
        self.gain.setVisible(bool(note))
        self.pairs.clear()
        self.live_map.clear()
        self.step = 0
        job = self.job = EngineJob(engine.run_pretraining, cfg, resume=resume, scan=self.report, parent=self)
        job.stage_started.connect(self._on_stage_started)
        job.progress.connect(self._on_progress)
        job.preview.connect(self.pairs.show_preview)
        job.map_snapshot.connect(self.live_map.show_snapshot)
        job.warning.connect(lambda message: self.banner.show_message("warning", message))
        job.checkpoint_saved.connect(self._on_checkpoint)
        job.paused.connect(self._on_paused)
        job.succeeded.connect(self._on_result)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(lambda: self.status.setText("Stopped before training began: nothing was saved"))
        job.finished.connect(self._on_finished)
        self.status.setText("Starting…")
        self.progress.setRange(0, 0)
        self._set_state("running")
        job.start()

    def toggle_pause(self) -> None:
        if self.job is None:
            return
        if self.state in ("paused", "pausing"):
            self.job.resume()
            self.status.setText(f"Step {self.step:,}: continuing…")
            self._set_state("running")
        else:
            self.job.pause()
            self.status.setText("Pausing after this step…")
            self._set_state("pausing")

    def stop(self) -> None:
        """Cancel the run; the engine saves a checkpoint at the end of its step."""
        if self.job is None:
            return
        self.job.cancel()
        self.status.setText("Stopping: saving a checkpoint…")
        self._set_state("stopping")

    def is_training(self) -> bool:
        return self.job is not None

    def _set_state(self, state: str) -> None:
        was_running = self.state != "idle"
        self.state = state
        idle = state == "idle"
        self.start_button.setEnabled(idle and bool(self.data_dir))
        self.form.setEnabled(idle)
        self.pause_button.setEnabled(state in ("running", "pausing", "paused"))
        self.pause_button.setText("Resume" if state in ("paused", "pausing") else "Pause")
        self.stop_button.setEnabled(state in ("running", "pausing", "paused"))
        if was_running != (not idle):
            self.running_changed.emit(not idle)
        if idle and self._percent >= 0:
            self._percent = -1
            self.percent_changed.emit(-1)

    # --- engine events ---------------------------------------------------------------------
    def _on_stage_started(self, event) -> None:
        if event.stage is Stage.SCAN:
            self.status.setText("Checking the images…")
        elif event.stage is Stage.CACHE:
            self.status.setText("Decoding the images once into a cache…")
            self.progress.setRange(0, max(event.total, 0))
        elif event.stage is Stage.PRETRAIN:
            self.progress.setRange(0, max(event.total, 0))   # 0: a busy bar while a time budget measures the speed
            self.progress.setValue(event.info.resumed_from_step)
            self.status.setText(f"Training on {event.info.device_label or event.info.device}")
            self._show_choices(event.info)

    def _show_choices(self, info: PretrainStart) -> None:
        """What "auto" picked and why, from the pretrain stage's Started info."""
        run = f"{info.method} · {info.backbone}"
        lines = [f"<b>Run</b>: {escape(run)} · {info.image_size} px · batch {info.batch_size}"
                 f" · {escape(info.precision)}"]
        lines += [f"<b>{escape(name.replace('_', ' '))}</b>: {escape(str(text))}"
                  for name, text in info.reasons.items()]
        if info.run_dir:
            lines.append(f"<b>saved in</b>: {escape(info.run_dir)}")
        self.choices.setText("<br>".join(lines))
        self.choices.show()

    def _on_progress(self, event) -> None:
        if event.stage is Stage.PROBE:
            self._show_probe(event.metrics)
            return
        if event.stage is not Stage.PRETRAIN:
            if event.total:
                self.progress.setValue(event.step)
            return
        metrics = event.metrics
        self.step = event.step
        self.plots.add(event.step, metrics.as_dict(), event.total)
        self.progress.setRange(0, max(event.total, 0))
        self.progress.setValue(event.step)
        percent = int(100 * event.step / event.total) if event.total else -1
        if percent != self._percent:
            self._percent = percent
            self.percent_changed.emit(percent)
        if self.state == "running":
            self.status.setText(step_status(event.step, event.total, metrics.eta_s))
        self.metrics.setText(metrics_line(metrics))
        self._check_collapse(event.step, metrics)

    def _check_collapse(self, step: int, metrics: PretrainMetrics) -> None:
        alarm = collapse_alarm(step, metrics)
        if alarm:
            self.collapse_warning.setText(alarm)
        self.collapse_warning.setVisible(bool(alarm))
        if self.probe is None:   # no gain probe this run (or none yet): the spread in plain words
            self.gain.setText(collapse_sentence(step, metrics))
            self.gain.show()

    def _show_probe(self, result: ProbeResult) -> None:
        """Show a gain probe; a resumed run's untrained figure leaves its recorded later one shown."""
        if self.probe is not None and result.epoch < self.probe.epoch:
            return
        self.probe = result
        self.gain.setText(probe_sentence(result))
        self.gain.show()

    def _on_checkpoint(self, event) -> None:
        self.progress.setToolTip(f"Last checkpoint: step {event.step:,}")

    def _on_paused(self) -> None:
        if self.state == "pausing":
            self.status.setText(f"Paused at step {self.step:,}")
            self._set_state("paused")

    def _on_result(self, result) -> None:
        self.last_result = result
        self.plots.finish()
        if result.status == "completed":
            self.progress.setValue(self.progress.maximum())   # a time budget may end a step before its estimate
            loss = f" (final loss {result.final_loss:.4f})" if result.final_loss is not None else ""
            self.status.setText(f"Finished: {result.step:,} steps{loss}")
            self.banner.show_message("success", f"Pretraining finished after {result.step:,} steps{loss}. "
                                     f"The backbone is saved in {result.run_dir}.")
            self.continue_button.show()
            self.completed.emit(result)
        else:
            of_total = f" of {result.total_steps:,}" if result.total_steps else ""
            self.status.setText(f"Stopped at step {result.step:,}{of_total}")
            self.banner.show_message("info", f"Stopped at step {result.step:,}{of_total}. "
                                     "The checkpoint is kept, so the run can continue later.",
                                     actions=[("Resume", lambda: self.resume(result.run_dir))])

    def _on_failed(self, message: str, details: str) -> None:
        self.status.setText("Stopped by an error")
        self.banner.show_message("error", message, details=details)

    def _on_finished(self) -> None:
        job, self.job = self.job, None
        job.deleteLater()
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self._set_state("idle")
        if self.banner.kind() == "error" and self.banner.text():
            self.offer_resume()   # a failed run keeps its last checkpoint
