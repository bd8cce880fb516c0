"""File > Clear Cached Data…: measure the user cache, ask, empty it, and say how much room came back."""
from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.jobs import EngineJob
from engine.core import user_cache

TITLE = "Clear Cached Data"


def measure(on_event=None, cancel=None) -> list:
    """``engine.core.user_cache.CacheFolder`` rows, off the GUI thread (a large cache has many files)."""
    return user_cache.usage()


def clear(on_event=None, cancel=None) -> int:
    return user_cache.clear()


class CacheCleaner(QObject):
    """Runs the two steps as engine jobs; ``confirm`` and ``inform`` are attributes tests can answer."""

    done = Signal(str)      # one line for the status bar

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window = window
        self.job: Optional[EngineJob] = None

    def start(self, busy: bool) -> None:
        """Measure, ask, clear; with ``busy`` (other work is running, and it reads the cache) only explain."""
        if self.busy():
            return          # already at it
        if busy:
            self.inform("Training, scanning or exporting is running, and it reads the cached data. Clear it "
                        "once that work has finished or been stopped.")
            return
        self._run(measure, self._ask)

    def busy(self) -> bool:
        return self.job is not None and self.job.is_running()

    def confirm(self, folders: list) -> bool:
        lines = "\n".join(f"•  {folder.holds}: {user_cache.human_size(folder.bytes)}" for folder in folders)
        answer = QMessageBox.question(
            self.window, TITLE, f"Pretext Studio keeps these in {user_cache.cache_root()}:\n\n{lines}\n\n"
            "Clear them? Nothing is lost: what a folder needs is made again the next time it is opened, "
            "which then takes a little longer. Labels, runs and models are kept elsewhere and stay.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def inform(self, text: str) -> None:
        QMessageBox.information(self.window, TITLE, text)

    def _ask(self, folders: list) -> None:
        if self.job.cancel_requested():
            return          # the window is closing: ask nothing
        if not folders:
            self.done.emit("The cache is empty: there is nothing to clear.")
        elif self.confirm(folders):
            self._run(clear, lambda freed: self.done.emit(f"Cleared the cached data: {user_cache.human_size(freed)} "
                                                          "freed."))

    def _run(self, fn: Callable, then: Callable) -> None:
        job = self.job = EngineJob(fn, parent=self)
        job.succeeded.connect(then)
        job.failed.connect(lambda message, _details: self.inform(f"The cache could not be read or cleared: "
                                                                 f"{message}"))
        job.start()
