"""The Label & Fine-tune step: classes, click-to-label, suggestions, fine-tuning and predictions.

The labels live in the folder's project store (:class:`engine.store.project.Project`, SQLite);
every change goes there first and the grid is redrawn from it, so nothing is lost on a
crash. Slow work (embeddings, suggestions, fine-tuning) runs in :class:`EngineJob` s.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QScrollArea, QSplitter, QVBoxLayout, QWidget

from desktop.common.banner import Banner
from desktop.common.thumbnail_grid import ThumbnailModel
from desktop.common.thumbnails import ThumbnailLoader
from desktop.jobs import EngineJob
from desktop.label import jobs as label_jobs
from desktop.label.class_panel import ClassPanel
from desktop.label.finetune_panel import FinetunePanel
from desktop.label.label_browser import LabelBrowser
from desktop.label.label_grid import LabelInfo, RelPathRole
from desktop.label.map_panel import MapPanel
from desktop.label.suggestion_list import SuggestionList
from desktop.label.transfer import LabelTransfer
from engine.store.project import Project, ProjectError, project_db_path, restore_backup
from engine.store.project_db import backup_path
from engine.store.run_lookup import describe_pretrain_run, finished_pretrain_runs, latest_finetune_run
from engine.store.runs import PretrainRun

ACCEPTED = "accepted prediction"


class LabelPage(QWidget):
    models_changed = Signal(str, str)    # pretrain run, fine-tune run ("" when none)
    finetuned = Signal(object)           # desktop.label.jobs.FinetuneOutcome of a completed run
    running_changed = Signal(bool)

    def __init__(self, source: ThumbnailModel, loader: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.root: Optional[str] = None
        self._runs_dirs: tuple = ()
        self.scan = None                     # the folder's engine.data.scan.ScanReport, made by the Data step
        self.project: Optional[Project] = None
        self.pretrain_run = ""
        self.finetune_run = ""
        self._load_job: EngineJob | None = None
        self._suggested_once = False

        self.title = QLabel("Label & Fine-tune")
        self.title.setProperty("role", "title")
        self.subtitle = QLabel("Finish a pretraining run first.")
        self.subtitle.setProperty("role", "muted")
        self.backbone_label = QLabel("Backbone:")
        self.backbone_choice = QComboBox()
        self.backbone_choice.setToolTip("The pretraining run whose backbone maps, suggests and fine-tunes here "
                                        "(newest first)")
        self.backbone_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.backbone_choice.activated.connect(
            lambda row: self.choose_backbone(self.backbone_choice.itemData(row)))
        self.backbone_label.hide()
        self.backbone_choice.hide()
        self.banner = Banner()
        self.classes = ClassPanel()
        self.suggestions = SuggestionList(source)
        self.browser = LabelBrowser(source, loader)
        self.model, self.grid = self.browser.model, self.browser.grid
        self.finetune = FinetunePanel()
        self.map = MapPanel(source)
        self.transfer = LabelTransfer(self)

        self.classes.add_requested.connect(self.add_class)
        self.classes.rename_requested.connect(self.rename_class)
        self.classes.recolour_requested.connect(lambda n, c: self.apply_change(lambda p: p.recolour_class(n, c)))
        self.classes.delete_requested.connect(self._delete_class)
        self.classes.reorder_requested.connect(self.reorder_classes)
        self.classes.apply_requested.connect(lambda name: self.label_paths(self.grid.selected_paths(), name))
        self.grid.painted.connect(self._on_painted)
        self.grid.number_pressed.connect(self.label_selected_with_number)
        self.grid.clear_pressed.connect(lambda: self.label_paths(self.grid.selected_paths(), None))
        self.browser.undo_button.clicked.connect(self.undo)
        QShortcut(QKeySequence.StandardKey.Undo, self, self.undo,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.suggestions.picked.connect(self.browser.select_path)
        self.map.path_clicked.connect(self.browser.select_path)
        self.map.label_requested.connect(self.label_from_map)
        self.map.failed.connect(lambda message, details: self.banner.show_message(
            "error", f"The map cannot be shown: {message}", details))
        self.grid.selectionModel().selectionChanged.connect(
            lambda *_: self.map.select_paths(self.grid.selected_paths()))
        self.suggestions.refresh_requested.connect(self.refresh_suggestions)
        self.suggestions.failed.connect(lambda message, details: self.banner.show_message("error", message, details))
        self.finetune.train_button.clicked.connect(self.train)
        self.finetune.completed.connect(self._on_finetuned)
        self.finetune.failed.connect(lambda message, details: self.banner.show_message("error", message, details))
        self.finetune.warning.connect(lambda message: self.banner.show_message("warning", message))
        self.finetune.accept_requested.connect(self.accept_predictions)
        self.finetune.running_changed.connect(self.running_changed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.addWidget(self.title)
        header = QHBoxLayout()
        header.addWidget(self.subtitle)
        header.addStretch(1)
        header.addWidget(self.backbone_label)
        header.addWidget(self.backbone_choice)
        layout.addLayout(header)
        layout.addWidget(self.banner)
        splitter = QSplitter()
        splitter.addWidget(self._left_column())
        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(self.map)
        centre.addWidget(self.browser)
        centre.setSizes([380, 420])
        splitter.addWidget(centre)
        splitter.addWidget(self._scrolled(self.finetune))
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 780, 330])
        layout.addWidget(splitter, 1)
        self._set_enabled()

    def _left_column(self) -> QWidget:
        column = QWidget()
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 8, 12, 0)
        layout.setSpacing(16)
        layout.addWidget(self.classes, 2)
        layout.addWidget(self.suggestions, 3)
        column.setMinimumWidth(190)
        return column

    def _scrolled(self, widget: QWidget) -> QScrollArea:
        holder = QWidget()
        inner = QVBoxLayout(holder)
        inner.setContentsMargins(12, 8, 4, 0)
        inner.addWidget(widget)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(holder)
        scroll.setMinimumWidth(260)
        return scroll

    # --- project -------------------------------------------------------------------------------
    def set_project(self, root: str, runs_dirs: tuple = (), scan=None) -> None:
        """A folder was opened (``scan``: its ``engine.data.scan.ScanReport``, reused by every
        engine call): open its project and look for its finished runs."""
        self.close_project()
        self.root, self._runs_dirs, self.scan = root, tuple(runs_dirs), scan
        self.pretrain_run = ""
        self.map.discard()
        self._forget_results()
        self._open_project()
        self._find_models()

    def _forget_results(self) -> None:
        """Another folder or backbone: drop the fine-tune shown, its predictions and the suggestions."""
        self.finetune_run = ""
        self._suggested_once = False
        self.suggestions.discard()
        self.finetune.reset()
        self._set_predictions({})
        self.banner.dismiss()

    def _find_models(self) -> None:
        """The folder's finished pretraining runs, and the model to show: the chosen model (the
        last one trained) with the backbone it was trained on, else the newest backbone and
        the newest fine-tune on it."""
        runs = self._show_backbones()
        if runs:
            candidates = [run.path for run in self.project.runs("finetune")] if self.project else []
            chosen = self.project.chosen_model() if self.project else None
            finetune = latest_finetune_run(([chosen] if chosen else []) + candidates, runs)
            by_path = {os.path.realpath(run): run for run in runs}
            backbone = by_path.get(os.path.realpath(finetune.pretrain_run())) if finetune else None
            self._set_pretrain_run(backbone or runs[0])
            if finetune and str(finetune.path) != self.finetune_run:
                self._load_finetune(str(finetune.path))
        self.models_changed.emit(self.pretrain_run, self.finetune_run)

    def _show_backbones(self) -> list[str]:
        """Fill the backbone list with the folder's finished pretraining runs (newest first); it
        shows when there is a choice. Returns the runs."""
        known = [run.path for run in self.project.runs("pretrain")] if self.project else []
        runs = finished_pretrain_runs(self.root, self._runs_dirs, known) if self.root else []
        self.backbone_choice.clear()
        for run in runs:
            self.backbone_choice.addItem(describe_pretrain_run(run), str(run.path))
        for widget in (self.backbone_label, self.backbone_choice):
            widget.setVisible(len(runs) > 1)
        return [str(run.path) for run in runs]

    def choose_backbone(self, run_dir: str) -> bool:
        """Work with another finished pretraining run's backbone: its map, suggestions and newest
        fine-tune. Refused (with a message) while a fine-tune runs."""
        if run_dir == self.pretrain_run:
            return True
        if self.is_busy():
            self.banner.show_message("info", "A fine-tune is running. Choose another backbone when it has "
                                     "finished, or stop it.")
            self._select_backbone(self.pretrain_run)
            return False
        self._forget_results()
        self._set_pretrain_run(run_dir)
        finetune = latest_finetune_run([], [run_dir])
        if finetune:
            self._load_finetune(str(finetune.path))
        if self.isVisible():
            self.refresh_suggestions()
        self.models_changed.emit(self.pretrain_run, self.finetune_run)
        return True

    def _select_backbone(self, run_dir: str) -> None:
        row = self.backbone_choice.findData(run_dir)
        if row >= 0:
            self.backbone_choice.setCurrentIndex(row)

    def _open_project(self, start_empty: bool = False) -> bool:
        try:
            self.project = Project.open(self.root, start_empty=start_empty)
        except ProjectError as error:
            self.project = None
            actions = [("Start an Empty Project", self._start_empty)]
            if backup_path(project_db_path(self.root)).is_file():
                actions.insert(0, ("Restore the Last Backup", self._restore_backup))
            self.banner.show_message("error", f"The labels of this folder cannot be read: {error}. "
                                     "Nothing was deleted.", actions=actions)
            self.reload()
            return False
        self.reload()
        self._report_missing_files()
        return True

    def _report_missing_files(self) -> None:
        """Labels of images no longer in the folder are listed, and dropped only on request."""
        missing = sorted(label.path for label in self.project.missing_labels())
        if not missing:
            return
        names = ", ".join(missing[:3]) + (" …" if len(missing) > 3 else "")
        self.banner.show_message(
            "warning", f"{len(missing)} label{'s' if len(missing) != 1 else ''} point to images that are no longer "
            f"in the folder: {names}. They are kept until you drop them.", details="\n".join(missing),
            actions=[("Drop These Labels", lambda: self.drop_missing(missing))])

    def drop_missing(self, paths: list[str]) -> bool:
        if not self.apply_change(lambda p: p.drop_labels(paths)):
            return False
        self.banner.show_message("info", f"Dropped {len(paths)} label{'s' if len(paths) != 1 else ''} of missing "
                                 "images. Ctrl+Z brings them back.")
        return True

    def _restore_backup(self) -> None:
        try:
            restore_backup(self.root)
        except (ProjectError, OSError) as error:
            self.banner.show_message("error", f"The backup cannot be restored: {error}")
            return
        if self._open_project():
            self._find_models()
            self.banner.show_message("success", "The last backup of the labels was restored.")

    def _start_empty(self) -> None:
        if self._open_project(start_empty=True):
            self._find_models()
            self.banner.show_message("info", "Started an empty project; the damaged file and the last backup were "
                                     "kept beside it.")

    def set_pretrain_run(self, run_dir: str) -> None:
        """A pretraining run on this folder has just finished."""
        self._show_backbones()
        self._set_pretrain_run(run_dir)
        self.models_changed.emit(self.pretrain_run, self.finetune_run)

    def _set_pretrain_run(self, run_dir: str) -> None:
        self.pretrain_run = run_dir
        if self.project is not None:
            self.project.add_run("pretrain", run_dir, {})
        self.subtitle.setText(f"{os.path.basename(self.root or '')}  ·  backbone from {os.path.basename(run_dir)}")
        self._select_backbone(run_dir)
        self._set_enabled()
        if self.isVisible():
            self.start_map()

    def _load_finetune(self, run_dir: str) -> None:
        self.finetune_run = run_dir
        job = self._load_job = EngineJob(label_jobs.load_finetune, run_dir, parent=self)
        job.succeeded.connect(self._on_saved_loaded)
        job.failed.connect(lambda message, details: self.banner.show_message("warning", "The last fine-tuned "
                           f"model's predictions cannot be shown: {message}", details))
        job.finished.connect(lambda: self._on_load_finished(job))
        job.start()

    def _on_load_finished(self, job: EngineJob) -> None:
        if job is self._load_job:
            self._load_job = None
        job.deleteLater()

    def _on_saved_loaded(self, saved) -> None:
        if saved.run_dir != self.finetune_run:
            return
        self.finetune.show_saved(saved)
        self._set_predictions(saved.predictions)

    def close_project(self) -> None:
        if self.project is not None:
            self.project.close()
            self.project = None

    def _set_enabled(self) -> None:
        usable = self.project is not None
        for widget in (self.classes, self.browser, self.suggestions, self.map):
            widget.setEnabled(usable)
        self.finetune.train_button.setEnabled(usable and bool(self.pretrain_run) and not self.finetune.is_running())
        self.suggestions.set_available(usable and bool(self.pretrain_run))

    # --- labels --------------------------------------------------------------------------------
    def reload(self) -> None:
        """Redraw classes, labels and counts from the project."""
        classes = self.project.classes() if self.project else []
        counts = self.project.label_counts() if self.project else {}
        colours = {c.name: c.colour for c in classes}
        labels = self.project.labels() if self.project else {}
        self.model.set_labels({path: LabelInfo(label.label, colours.get(label.label, "#888888"),
                                               label.source == ACCEPTED) for path, label in labels.items()})
        self.classes.set_classes(classes, counts)
        self.map.set_labels(self.model.labels, colours)
        self.browser.set_class_names([c.name for c in classes])
        self.browser.undo_button.setEnabled(bool(self.project and self.project.can_undo))
        self.browser.update_count()
        self._set_enabled()

    def apply_change(self, action) -> bool:
        """Run ``action(project)``; a refused change becomes a message, never a crash."""
        if self.project is None:
            return False
        try:
            action(self.project)
        except ProjectError as error:
            self.banner.show_message("error", str(error)[0].upper() + str(error)[1:])
            return False
        self.reload()
        return True

    def label_paths(self, paths: list[str], name: Optional[str]) -> bool:
        """Give ``paths`` (relative) the class ``name``, or clear their labels (None); one undo step."""
        if not paths:
            return False
        done = self.apply_change(lambda p: p.assign({path: name for path in paths}))
        if done and name is not None:
            self.suggestions.drop(set(paths))
        return done

    def label_from_map(self, paths: list[str], name: str) -> bool:
        if not self.label_paths(paths, name):
            return False
        self.banner.show_message("success", f"Labeled {len(paths):,} image{'s' if len(paths) != 1 else ''} as "
                                 f"{name}. Ctrl+Z undoes it.")
        return True

    def label_selected_with_number(self, number: int) -> bool:
        names = self.classes.names()
        if number > len(names):
            self.banner.show_message("info", f"There is no class {number} yet: add classes on the left; the "
                                     "first nine get the keys 1–9.")
            return False
        return self.label_paths(self.grid.selected_paths(), names[number - 1])

    def _on_painted(self, row: int) -> None:
        if self.classes.paint_mode():
            self.label_paths([self.model.index(row).data(RelPathRole)], self.classes.current())

    def add_class(self, name: str) -> bool:
        """Add a class and choose it, so the next clicks label with it."""
        if self.apply_change(lambda p: p.add_class(name)):
            self.classes.set_current(name.strip())
            return True
        return False

    def rename_class(self, old: str, new: str) -> bool:
        if self.apply_change(lambda p: p.rename_class(old, new)):
            self.classes.set_current(new.strip())
            return True
        return False

    def reorder_classes(self, names: list) -> bool:
        """Give the classes the order of ``names``; the chosen class stays chosen."""
        current = self.classes.current()
        if self.apply_change(lambda p: p.reorder_classes(names)):
            self.classes.set_current(current)
            return True
        return False

    def _delete_class(self, name: str) -> None:
        self.apply_change(lambda p: p.delete_class(name))

    def undo(self) -> list[str]:
        if self.project is None:
            return []
        touched = self.project.undo()
        self.reload()
        if touched:
            self.banner.show_message("info", f"Undid the last change ({len(touched)} image"
                                     f"{'s' if len(touched) != 1 else ''}).")
        return touched

    def accept_predictions(self, threshold: float) -> int:
        outcome = self.finetune.outcome
        if self.project is None or outcome is None:
            return 0
        rows = [(p.path, p.prediction, p.confidence) for p in outcome.predictions.values()]
        count = 0

        def accept(project: Project) -> None:
            nonlocal count
            count = project.accept_predictions(rows, threshold)

        if self.apply_change(accept):
            self.banner.show_message("success", f"Accepted {count:,} prediction{'s' if count != 1 else ''} at "
                                     f"{threshold:.0%} or more as labels (dashed border). Ctrl+Z undoes it.")
        return count

    # --- suggestions -----------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self.pretrain_run and not self._suggested_once:
            self.refresh_suggestions()
        self.start_map()

    def start_map(self) -> bool:
        """Compute the embedding map of the folder with the current backbone (once per run)."""
        if not self.pretrain_run or self.project is None:
            return False
        return self.map.start(self.pretrain_run, self.root, self._cache_dir(), self.scan)

    def refresh_suggestions(self) -> bool:
        if not self.pretrain_run or self.project is None:
            return False
        self._suggested_once = True
        predictions = list(self.finetune.outcome.predictions.values()) if self.finetune.outcome else []
        return self.suggestions.start(self.pretrain_run, self.root, set(self.project.labels()), predictions,
                                      self._cache_dir(), self.scan)

    def _cache_dir(self) -> str:
        return PretrainRun(Path(self.pretrain_run)).config_dict().get("cache_dir", "")

    # --- fine-tuning ------------------------------------------------------------------------------
    def train(self) -> bool:
        if self.project is None or not self.pretrain_run:
            return False
        from engine.finetune.config import FinetuneConfig

        self.banner.dismiss()
        labels = {path: label.label for path, label in self.project.labels().items()}
        cfg = FinetuneConfig(pretrain_run=self.pretrain_run, data_dir=self.root, mode=self.finetune.chosen_mode(),
                             minutes=self.finetune.chosen_minutes(), classes=tuple(self.project.class_names()),
                             cache_dir=self._cache_dir())
        return self.finetune.start(cfg, labels, self.scan)

    def _on_finetuned(self, outcome) -> None:
        result = outcome.result
        self.finetune_run = result.run_dir
        if self.project is not None:
            self.project.add_run("finetune", result.run_dir, {"mode": result.mode,
                                                              "accuracy": result.validation.get("accuracy")})
            self.project.set_chosen_model(result.run_dir)
        self._set_predictions(outcome.predictions)
        accuracy = result.validation.get("accuracy")
        estimate = ""
        if accuracy is not None:
            from engine.finetune.validation import likely_range_text

            estimate = (f" Validation accuracy {accuracy:.0%} ({result.validation.get('scheme')}; "
                        f"{likely_range_text(result.validation)}).")
        notes = "".join(f"\nNote: {warning}" for warning in self.finetune.warnings)
        self.banner.show_message("warning" if notes else "success", f"The classifier is trained.{estimate} Its "
                                 "predictions are on the grid; fix the wrong ones and train again, or export the "
                                 f"model.{notes}")
        self.models_changed.emit(self.pretrain_run, self.finetune_run)
        self.finetuned.emit(outcome)
        if self._suggested_once:
            self.refresh_suggestions()

    def _set_predictions(self, predictions: dict) -> None:
        self.browser.set_predictions(predictions)
        self.map.set_predictions(predictions)
        self.finetune.set_has_predictions(bool(predictions))

    # --- shutdown -------------------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self.finetune.is_running()

    def running_jobs(self) -> list[EngineJob]:
        direct = Qt.FindChildOption.FindDirectChildrenOnly
        jobs = [job for job in self.findChildren(EngineJob, options=direct) if job.is_running()]
        return (jobs + self.suggestions.running_jobs() + self.finetune.running_jobs() + self.map.running_jobs()
                + self.transfer.running_jobs())
