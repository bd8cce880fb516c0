"""The Label & Fine-tune step: classes, click-to-label, suggestions, fine-tuning and predictions.

The labels live in the folder's project store (:class:`engine.store.project.Project`, SQLite);
every change goes there first and the grid is redrawn from it, so nothing is lost on a
crash. Slow work (embeddings, suggestions, fine-tuning) runs in :class:`EngineJob` s.
The page is made of parts of one concern each: the backbone choice
(:mod:`desktop.label.backbone_choice`), the label actions (:mod:`desktop.label.label_actions`),
the results (:mod:`desktop.label.results`) and the layout (:mod:`desktop.label.page_layout`);
this module holds the widgets and the folder's project.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QWidget

from desktop.common.banner import Banner
from desktop.common.thumbnail_grid import ThumbnailModel
from desktop.common.thumbnails import ThumbnailLoader
from desktop.jobs import EngineJob
from desktop.label.backbone_choice import BackboneChoice, BackboneRuns
from desktop.label.class_panel import ClassPanel
from desktop.label.finetune_panel import FinetunePanel
from desktop.label.label_actions import LabelActions
from desktop.label.label_browser import LabelBrowser
from desktop.label.map_panel import MapPanel
from desktop.label.page_layout import lay_out
from desktop.label.results import ModelResults
from desktop.label.suggestion_list import SuggestionList
from desktop.label.transfer import LabelTransfer
from engine.store.project import Project, ProjectError, project_db_path, restore_backup
from engine.store.project_db import backup_path


class LabelPage(BackboneRuns, LabelActions, ModelResults, QWidget):
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
        self.backbone_choice = BackboneChoice()
        self.banner = Banner()
        self.classes = ClassPanel()
        self.suggestions = SuggestionList(source)
        self.browser = LabelBrowser(source, loader)
        self.model, self.grid = self.browser.model, self.browser.grid
        self.finetune = FinetunePanel()
        self.map = MapPanel(source)
        self.transfer = LabelTransfer(self)
        self._connect_label_actions()
        self._connect()
        lay_out(self)
        self._set_enabled()

    def _connect(self) -> None:
        """Wire the backbone choice, the map, the suggestions and fine-tuning to the page."""
        self.backbone_choice.activated.connect(lambda row: self.choose_backbone(self.backbone_choice.itemData(row)))
        self.suggestions.picked.connect(self.browser.select_path)
        self.map.path_clicked.connect(self.browser.select_path)
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
        self.finetune.running_changed.connect(self.running_changed)

    # --- project -------------------------------------------------------------------------------
    def set_project(self, root: str, runs_dirs: tuple = (), scan=None) -> None:
        """A folder was opened (``scan``: its ``engine.data.scan.ScanReport``, reused by every
        engine call): open its project and look for its finished runs."""
        self.close_project()
        self.browser.end_review()
        self.root, self._runs_dirs, self.scan = root, tuple(runs_dirs), scan
        self.pretrain_run = ""
        self.map.discard()
        self._forget_results()
        self._open_project()
        self._find_models()

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
        if self.project.read_only:
            self._offer_writable_copy()
        else:
            self._report_missing_files()
        return True

    def _offer_writable_copy(self) -> None:
        self.banner.show_message(
            "warning", "This folder cannot be written, so its labels open read-only: they show, and fine-tuning "
            "and export work, but changes cannot be saved here.",
            actions=[("Keep My Changes in My User Folder", self._use_writable_copy)])

    def _use_writable_copy(self) -> None:
        try:
            self.project = self.project.writable_copy()
        except ProjectError as error:
            self.banner.show_message("error", f"The labels cannot be copied: {error}")
            return
        self.reload()
        self.banner.show_message("success", f"Labels of this folder are now kept in {self.project.db_path.parent}; "
                                 "you can change them.")

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

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self.pretrain_run and not self._suggested_once:
            self.refresh_suggestions()
        self.start_map()

    # --- shutdown -------------------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self.finetune.is_running()

