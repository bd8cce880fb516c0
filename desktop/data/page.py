"""The Data step: open or drop a folder, index it in the engine, browse what was found while every
image is checked in the background, and hand the checked scan on."""
from __future__ import annotations

import os

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSplitter, QStackedWidget, QVBoxLayout, QWidget,
)

from desktop.common.banner import Banner
from desktop.common.image_preview import ImagePreview
from desktop.common.settings import RecentFolders
from desktop.common.thumbnail_grid import RecordRole, ThumbnailGrid, ThumbnailModel
from desktop.common.thumbnails import ThumbnailLoader
from desktop.data.folders import folder_from_drop, folder_problem
from desktop.data.scan_summary import ScanCounts, ScanDetails
from desktop.data.welcome import WelcomeView
from desktop.jobs import EngineJob, LatestJob
from engine.data.scan_memory import index_remembered, verify_remembered
from engine.data.verify import found_problems
from resources import SAMPLE_DIR


class DataPage(QWidget):
    """Holds the current project (a scanned folder); it changes only when a new scan succeeds.

    A folder opens from a header-only index (``project_opened``); the images it read from their
    headers alone are then decoded in the background, broken ones joining the Problems as they
    are found, and ``scan_verified`` hands on the checked report that replaces the first one. A
    folder whose images were all checked before opens checked: no check, no ``scan_verified``.
    """

    project_opened = Signal(str, object)   # root, engine.data.scan.ScanReport (header-only where unchecked)
    scan_verified = Signal(str, object)    # root, the checked engine.data.scan.ScanReport
    continue_requested = Signal()

    def __init__(self, recent: RecentFolders, loader: ThumbnailLoader | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.root: str | None = None
        self.report = None
        self._recent = recent
        self._job: EngineJob | None = None
        self._checks = LatestJob(self)
        self._checks.progress.connect(self._on_check_progress)
        self._checks.succeeded.connect(self._on_checked)
        self._checks.failed.connect(lambda message, details: self.banner.show_message(
            "warning", f"Not every image could be checked: {message}", details=details))
        self._checks.ended.connect(self._show_activity)
        self._lock_reason: str | None = None
        self.loader = loader or ThumbnailLoader(parent=self)

        self.banner = Banner()
        self.welcome = WelcomeView()
        self.welcome.open_requested.connect(self.choose_folder)
        self.welcome.sample_requested.connect(self.open_sample)
        self.welcome.recent_requested.connect(self.open_folder)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_scan)   # the index, or the check after it
        scan_row = QHBoxLayout()
        scan_row.addWidget(self.progress_label)
        scan_row.addWidget(self.progress, 1)
        scan_row.addWidget(self.cancel_button)
        self._scan_row = QWidget()
        self._scan_row.setLayout(scan_row)
        self._scan_row.hide()

        self.model = ThumbnailModel(self.loader, self)
        self.grid = ThumbnailGrid(self.model)
        self.grid.preview_requested.connect(self.show_preview)
        self.counts = ScanCounts()
        self.details = ScanDetails()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self._project_view())

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.addWidget(self.banner)
        layout.addWidget(self._scan_row)
        layout.addWidget(self.stack, 1)
        recent.changed.connect(self._refresh_recent)
        self._refresh_recent()

    def _project_view(self) -> QWidget:
        self.title = QLabel()
        self.title.setProperty("role", "title")
        self.path_label = QLabel()
        self.path_label.setProperty("role", "muted")
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        another = QPushButton("Open Another Folder…")
        another.clicked.connect(self.choose_folder)
        self.continue_button = QPushButton("Continue to Pretrain  →")
        self.continue_button.setProperty("role", "primary")
        self.continue_button.clicked.connect(self.continue_requested)
        names = QVBoxLayout()
        names.addWidget(self.title)
        names.addWidget(self.path_label)
        header = QHBoxLayout()
        header.addLayout(names, 1)
        header.addWidget(another, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(self.continue_button, 0, Qt.AlignmentFlag.AlignTop)
        splitter = QSplitter()
        splitter.addWidget(self.grid)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([760, 300])
        view = QWidget()
        layout = QVBoxLayout(view)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(12)
        layout.addLayout(header)
        layout.addWidget(self.counts)
        layout.addWidget(splitter, 1)
        return view

    # --- opening ---------------------------------------------------------------------------
    def choose_folder(self) -> None:
        start = self.root or os.path.expanduser("~")
        path = QFileDialog.getExistingDirectory(self, "Open a Folder of Images", start)
        if path:
            self.open_folder(path)

    def open_sample(self) -> None:
        self.open_folder(str(SAMPLE_DIR))

    def open_folder(self, path: str) -> bool:
        """Scan ``path`` in the background; False (with a message) when it cannot be opened."""
        if self._lock_reason:
            self.banner.show_message("warning", self._lock_reason)
            return False
        path = os.path.abspath(os.path.expanduser(path))
        problem = folder_problem(path)
        if problem:
            self.banner.show_message("error", problem)
            return False
        self.banner.dismiss()
        if self._job is not None:
            self._job.cancel()   # its late results are ignored: only the newest scan counts
        self._checks.discard()
        job = self._job = EngineJob(index_remembered, path, parent=self)
        job.progress.connect(self._on_progress)
        job.succeeded.connect(lambda indexed: self._on_scanned(job, indexed))
        job.failed.connect(lambda message, details: self._on_failed(job, message, details))
        job.finished.connect(lambda: self._on_finished(job))
        self.progress.setRange(0, 0)
        self.progress_label.setText(f"Scanning {os.path.basename(path) or path}…")
        job.start()
        self._show_activity()
        return True

    def cancel_scan(self) -> None:
        """Stop the index, or the check (the header-only scan then stays the project's)."""
        if self._job is not None:
            self._job.cancel()
        self._checks.discard()
        self._show_activity()

    def is_scanning(self) -> bool:
        """True while the folder is indexed or its images are checked."""
        return self._job is not None or self._checks.busy()

    def is_checking(self) -> bool:
        return self._checks.busy()

    def _show_activity(self) -> None:
        self._scan_row.setVisible(self.is_scanning())

    def set_locked(self, reason: str | None) -> None:
        """While ``reason`` is set, opening another folder only shows that reason."""
        self._lock_reason = reason

    def _on_progress(self, event) -> None:
        self.progress_label.setText(f"Scanning… {event.step:,} files checked, {event.metrics.images:,} images")

    def _on_scanned(self, job: EngineJob, indexed) -> None:
        """Show the indexed folder, then check the images it read from their headers alone."""
        if job is not self._job:
            return
        report = indexed.report
        if not report.images:
            skipped = report.skipped_hidden + report.skipped_other
            self.banner.show_message("error", f"No usable images in “{report.root}”: {skipped:,} files skipped, "
                                     f"{len(report.problems):,} broken.", details=report.summary_text())
            return
        self.root, self.report = report.root, report
        self.title.setText(os.path.basename(report.root) or report.root)
        self.path_label.setText(report.root)
        self.counts.show_report(report)
        self.details.show_report(report)
        self.model.set_images(report.root, report.images)
        self.stack.setCurrentIndex(1)
        self._warn_of_problems(report)
        self._recent.add(report.root)
        self.project_opened.emit(report.root, report)
        if indexed.unchecked:
            self._checks.start(verify_remembered, indexed)
            self.progress.setRange(0, len(indexed.unchecked))
            self.progress.setValue(0)
            self.progress_label.setText(f"Checking images… 0 of {len(indexed.unchecked):,}")

    def _on_check_progress(self, event) -> None:
        """A batch of checked images (engine.core.events.Progress of Stage.CHECK): show how far
        the check is and move the broken ones it found to the Problems."""
        self.progress.setMaximum(event.total)
        self.progress.setValue(event.step)
        self.progress_label.setText(f"Checking images… {event.step:,} of {event.total:,}")
        found = found_problems(event.metrics)
        if found:
            self.report = self.report.without(found)
            self.counts.show_report(self.report)
            self.details.show_problems(self.report.problems)

    def _on_checked(self, report) -> None:
        """The checked report replaces the indexed one, here and, through ``scan_verified``, for later steps."""
        self.report = report
        self.counts.show_report(report)
        self.details.show_report(report)
        if len(self.model.records()) != report.usable:
            self.model.set_images(report.root, report.images)
        self._warn_of_problems(report)
        self.scan_verified.emit(report.root, report)

    def _warn_of_problems(self, report) -> None:
        if report.problems:
            count = len(report.problems)
            files = "1 file" if count == 1 else f"{count:,} files"
            self.banner.show_message("warning", f"{files} could not be used and will be left out. "
                                     f"{'It is' if count == 1 else 'They are'} listed under Problems.")

    def _on_failed(self, job: EngineJob, message: str, details: str) -> None:
        if job is self._job:
            self.banner.show_message("error", message, details=details)

    def _on_finished(self, job: EngineJob) -> None:
        if job is self._job:
            self._job = None
            self._show_activity()
        job.deleteLater()

    # --- browsing --------------------------------------------------------------------------
    def show_preview(self, index: QModelIndex) -> ImagePreview:
        dialog = ImagePreview(self.model, self.loader, index.data(RecordRole), self)
        dialog.show()
        return dialog

    def shutdown(self) -> None:
        """Stop making thumbnails (called when the window closes)."""
        self.loader.shutdown()

    def _refresh_recent(self) -> None:
        self.welcome.set_recent(self._recent.existing())

    # --- drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
            self.welcome.set_drop_active(True)

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.welcome.set_drop_active(False)

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.welcome.set_drop_active(False)
        event.acceptProposedAction()
        self.open_drop(event.mimeData())

    def open_drop(self, mime) -> bool:
        folder, problem = folder_from_drop(mime)
        if problem:
            self.banner.show_message("error", problem)
            return False
        return self.open_folder(folder)
