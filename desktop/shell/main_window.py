"""The window shell: a sidebar of workflow steps, their pages, menus, and a safe close."""
from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, QSize, Qt, QUrl
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QHBoxLayout, QListWidgetItem, QMainWindow, QMessageBox, QStackedWidget, QWidget,
)

from desktop.common.settings import RecentFolders, app_settings
from desktop.common.theme import THEME_KEY, THEMES, apply_theme, current_theme, themed_icon
from desktop.common.thumbnails import ThumbnailLoader
from desktop.data.page import DataPage
from desktop.export.page import ExportPage
from desktop.jobs import running_jobs
from desktop.label.page import LabelPage
from desktop.pretrain.page import PretrainPage
from desktop.shell.app_logging import log_dir
from desktop.shell.cache_cleaner import CacheCleaner
from desktop.shell.shortcuts_dialog import ShortcutsDialog
from desktop.shell.step_sidebar import StepSidebar

# (key, title, icon, what unlocks it)
STEPS = (
    ("data", "Data", "data", ""),
    ("pretrain", "Pretrain", "pretrain", "Open a folder of images first"),
    ("label", "Label & Fine-tune", "label", "Finish a pretraining run first"),
    ("export", "Export", "export", "Finish a pretraining run first"),
)
FIRST_SIZE = QSize(1280, 820)   # the window on a first start, as far as the screen allows
TRAINING_LOCK = "Training is running on this folder. Stop it before opening another folder."


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, thumbnail_cache: Path | None = None) -> None:
        super().__init__()
        self.settings = settings or app_settings()
        self.recent = RecentFolders(self.settings, self)
        self._title = "Pretext Studio"
        self.setWindowTitle(self._title)
        self.setAcceptDrops(True)
        self._closing = False
        self._awaited: set = set()         # jobs whose end the closing window waits for
        self.done_steps: set[str] = set()
        self.scan = None                   # the open folder's engine.data.scan.ScanReport: one scan per session

        self.data_page = DataPage(self.recent, ThumbnailLoader(thumbnail_cache, self))
        self.pretrain_page = PretrainPage(self.settings)
        self.label_page = LabelPage(self.data_page.model, self.data_page.loader)
        self.export_page = ExportPage()
        self.cache_cleaner = CacheCleaner(self)
        self.pages = QStackedWidget()
        for page in (self.data_page, self.pretrain_page, self.label_page, self.export_page):
            self.pages.addWidget(page)
        self.sidebar = StepSidebar()
        for key, title, icon, reason in STEPS:
            item = QListWidgetItem(self._step_icon(key), title)
            item.setData(Qt.ItemDataRole.UserRole, key)
            self.sidebar.addItem(item)
            if reason:
                self._set_step_enabled(key, False)
        self.sidebar.currentRowChanged.connect(self._on_step_changed)
        self.sidebar.setCurrentRow(0)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sidebar)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        self._build_menus()
        self.statusBar()
        self.cache_cleaner.done.connect(lambda text: self.statusBar().showMessage(text, 10_000))

        self.data_page.project_opened.connect(self._on_project_opened)
        self.data_page.scan_verified.connect(self._on_scan_verified)
        self.data_page.continue_requested.connect(lambda: self.go_to("pretrain"))
        self.pretrain_page.running_changed.connect(self._on_training_changed)
        self.pretrain_page.completed.connect(self._on_pretrained)
        self.pretrain_page.continue_requested.connect(lambda: self.go_to("label"))
        self.label_page.models_changed.connect(self._on_models_changed)
        self.label_page.running_changed.connect(self._on_training_changed)
        self.export_page.exported.connect(lambda _result: self.set_step_done("export", True))
        self.pretrain_page.running_changed.connect(lambda running: running or self.alert_if_away())
        self.pretrain_page.percent_changed.connect(       # the taskbar shows the progress of a run
            lambda percent: self.setWindowTitle(self._title if percent < 0 else f"{percent}% · {self._title}"))
        self.label_page.finetuned.connect(lambda _outcome: self.alert_if_away())
        self.export_page.exported.connect(lambda _result: self.alert_if_away())
        self.export_page.running_changed.connect(self._on_training_changed)
        if not self.restoreGeometry(self.settings.value("window/geometry", b"")):
            available = self.screen().availableGeometry()      # a first start on a small screen fits it
            self.resize(min(FIRST_SIZE.width(), available.width()), min(FIRST_SIZE.height(), available.height()))

    # --- menus -----------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open Folder…", self.choose_folder, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open &Sample Dataset", self.open_sample)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        transfer = self.label_page.transfer
        self.label_actions = [
            self._action(file_menu, "&Import Labels from CSV…", lambda: transfer.import_csv()),
            self._action(file_menu, "&Export Labels as CSV…", lambda: transfer.export_csv()),
            self._action(file_menu, "Copy Labeled Images into &Class Folders…", lambda: transfer.export_folders()),
        ]
        file_menu.aboutToShow.connect(lambda: [a.setEnabled(transfer.available()) for a in self.label_actions])
        file_menu.addSeparator()
        self._action(file_menu, "Clear &Cached Data…", lambda: self.cache_cleaner.start(bool(running_jobs())))
        file_menu.addSeparator()
        quit_action = self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        view_menu = self.menuBar().addMenu("&View")
        self.full_screen_action = self._action(view_menu, "&Full Screen", self._toggle_full_screen, "F11")
        self.full_screen_action.setCheckable(True)
        self.theme_menu = view_menu.addMenu("&Theme")
        self.theme_actions = QActionGroup(self)
        for theme in THEMES:
            action = self._action(self.theme_menu, f"&{theme.capitalize()}",
                                  lambda _checked=False, t=theme: self.set_theme(t))
            action.setCheckable(True)
            action.setData(theme)
            self.theme_actions.addAction(action)
        self.theme_menu.aboutToShow.connect(self._check_current_theme)
        view_menu.addSeparator()
        for number, (key, title, _icon, _reason) in enumerate(STEPS, start=1):
            self._action(view_menu, f"Go to {title.replace('&', '&&')}",
                         lambda _checked=False, k=key: self.go_to_or_explain(k), f"Ctrl+{number}")
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&Keyboard Shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents)
        self._action(help_menu, "Open &Log Folder", self.open_log_folder)
        self._action(help_menu, "&About Pretext Studio", self.show_about).setMenuRole(QAction.MenuRole.AboutRole)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        return action

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = self.recent.existing()
        for path in folders:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_folder(p))
        if not folders:
            self.recent_menu.addAction("No recent folders").setEnabled(False)
            return
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear Recent Folders").triggered.connect(self.recent.clear)

    def set_theme(self, theme: str) -> None:
        """Switch the running app to ``theme`` (see desktop.common.theme.THEMES) and keep it for next time."""
        apply_theme(QApplication.instance(), theme)
        self.settings.setValue(THEME_KEY, theme)
        self._check_current_theme()

    def _check_current_theme(self) -> None:
        theme = current_theme(QApplication.instance())
        for action in self.theme_actions.actions():
            action.setChecked(action.data() == theme)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self.sidebar.fit_window(self.width())

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.PaletteChange:     # icons are drawn in the palette's text colour
            for key, *_rest in STEPS:
                self._item(key).setIcon(self._step_icon(key))
        super().changeEvent(event)

    def _step_icon(self, key: str):
        return themed_icon("done" if key in self.done_steps else next(s[2] for s in STEPS if s[0] == key))

    def _toggle_full_screen(self, checked: bool) -> None:
        self.showFullScreen() if checked else self.showNormal()

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self.menuBar(), self).exec()

    def go_to_or_explain(self, key: str) -> None:
        """Show step ``key``, or say in the status bar what unlocks it."""
        if self.is_step_enabled(key):
            self.go_to(key)
        else:
            self.statusBar().showMessage(self._item(key).toolTip(), 5000)

    def show_about(self) -> None:
        try:
            version = metadata.version("pretext-studio")
        except metadata.PackageNotFoundError:
            version = "development"
        QMessageBox.about(self, "About Pretext Studio", (
            f"<h3>Pretext Studio {version}</h3>"
            "<p>Self-supervised pretraining, few-label fine-tuning and ONNX export for image models.</p>"
            "<p>Bundled sample: a subset of Fashion-MNIST (MIT licence), © Zalando SE.</p>"))

    def open_log_folder(self) -> bool:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # --- steps -----------------------------------------------------------------------------
    def _item(self, key: str) -> QListWidgetItem:
        return self.sidebar.item([step[0] for step in STEPS].index(key))

    def _set_step_enabled(self, key: str, enabled: bool) -> None:
        item = self._item(key)
        flags = item.flags() | Qt.ItemFlag.ItemIsEnabled if enabled else item.flags() & ~Qt.ItemFlag.ItemIsEnabled
        item.setFlags(flags)
        reason = next(step[3] for step in STEPS if step[0] == key)
        item.setToolTip("" if enabled else reason)

    def is_step_enabled(self, key: str) -> bool:
        return bool(self._item(key).flags() & Qt.ItemFlag.ItemIsEnabled)

    def set_step_done(self, key: str, done: bool) -> None:
        """Show a check mark on ``key``'s sidebar entry."""
        self.done_steps.discard(key)
        if done:
            self.done_steps.add(key)
        self._item(key).setIcon(self._step_icon(key))

    def go_to(self, key: str) -> None:
        if self.is_step_enabled(key):
            self.sidebar.setCurrentItem(self._item(key))

    def current_step(self) -> str:
        return STEPS[self.sidebar.currentRow()][0]

    def _on_step_changed(self, row: int) -> None:
        if 0 <= row < self.pages.count():
            self.pages.setCurrentIndex(row)

    # --- project ---------------------------------------------------------------------------
    def open_folder(self, path: str) -> bool:
        self.go_to("data")
        return self.data_page.open_folder(path)

    def choose_folder(self) -> None:
        """Ask for a folder on the Data step, where its scan shows."""
        self.go_to("data")
        self.data_page.choose_folder()

    def open_sample(self) -> None:
        self.go_to("data")
        self.data_page.open_sample()

    def _on_project_opened(self, root: str, report) -> None:
        if self.current_step() == "export":    # the Export step of the previous folder
            self.go_to("data")
        self._title = f"{os.path.basename(root) or root} — Pretext Studio"
        self.setWindowTitle(self._title)
        self.scan = report
        self.set_step_done("data", True)
        self.set_step_done("pretrain", False)
        self._set_step_enabled("pretrain", True)
        self.pretrain_page.set_project(root, report)
        self.set_step_done("export", False)
        self.label_page.set_project(root, (self.pretrain_page.form.out_dir.text().strip(),), report)
        self.statusBar().showMessage(f"{report.usable:,} images ready in {root}", 8000)

    def _on_scan_verified(self, root: str, report) -> None:
        """Every image of the open folder was checked: later steps take this scan instead."""
        self.scan = self.label_page.scan = report
        self.pretrain_page.set_project(root, report)

    def _on_training_changed(self, _running: bool) -> None:
        busy = self.pretrain_page.is_training() or self.label_page.is_busy() or self.export_page.job is not None
        self.data_page.set_locked(TRAINING_LOCK if busy else None)

    def alert_if_away(self) -> bool:
        """Flash the window's taskbar entry when long work ends while another window is in front."""
        if self.isActiveWindow():
            return False
        QApplication.alert(self)
        return True

    def _on_pretrained(self, result) -> None:
        self.set_step_done("pretrain", True)
        self.label_page.set_pretrain_run(result.run_dir)

    def _on_models_changed(self, pretrain_run: str, finetune_run: str) -> None:
        """Label and Export open once a backbone exists; Label is done once a classifier does."""
        for key in ("label", "export"):
            self._set_step_enabled(key, bool(pretrain_run))
        if pretrain_run:
            self.set_step_done("pretrain", True)
        self.set_step_done("label", bool(finetune_run))
        self.export_page.set_models(self.label_page.root or "", pretrain_run, finetune_run, self.scan)

    # --- drops anywhere in the window go to the Data step -----------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        event.acceptProposedAction()
        self.go_to("data")
        self.data_page.open_drop(event.mimeData())

    # --- closing ---------------------------------------------------------------------------
    def confirm_stop_training(self) -> bool:
        answer = QMessageBox.question(
            self, "Stop Pretraining?",
            "Pretraining is still running. Stop it and quit?\n\n"
            "A checkpoint is saved, so you can resume the run when you open this folder again.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes


    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        """Cancel running work, wait for it (never terminate) and close once every thread has ended."""
        jobs = running_jobs()
        if not self._closing and self.pretrain_page.is_training() and not self.confirm_stop_training():
            event.ignore()
            return
        if jobs:
            if not self._closing:
                self._closing = True
                self.setEnabled(False)
                self.statusBar().showMessage("Stopping: saving a checkpoint…")
            for job in jobs:             # a job may have started another one meanwhile
                if job not in self._awaited:
                    self._awaited.add(job)
                    job.finished.connect(self.close)
                    job.cancel()
            event.ignore()
            return
        self.data_page.shutdown()
        self.label_page.close_project()
        self.pretrain_page.form.save(self.settings)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.sync()
        event.accept()
