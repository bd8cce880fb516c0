"""Python's cyclic garbage collection, run in the GUI thread only.

CPython collects in whichever thread passes an allocation threshold. In this app that is
mostly an engine, scan or thumbnail worker, and a collection there finalises the Qt
objects caught in reference cycles (widgets, menus, their Python slots) from the wrong
thread, which Qt does not allow: it races the GUI thread and can crash or deadlock it.
So automatic collection is switched off while the app runs, and a GUI-thread timer
collects the generations that have passed their thresholds, as CPython would.
"""
from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 200          # how often the counts are checked
FULL_EVERY_S = 10.0        # a full collection (about 0.1 s with torch loaded) at most this often


class GuiThreadGarbageCollector(QObject):
    """Turns off automatic collection and collects on a timer in the thread that owns it."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        self._last_full = time.monotonic()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect_due)
        gc.disable()
        self._timer.start()

    def collect_due(self) -> int:
        """Collect the oldest generation whose count passed its threshold; the objects freed."""
        counts = gc.get_count()
        if counts[2] > self.thresholds[2] and time.monotonic() - self._last_full >= FULL_EVERY_S:
            self._last_full = time.monotonic()
            return gc.collect(2)
        for generation in (1, 0):
            if counts[generation] > self.thresholds[generation]:
                return gc.collect(generation)
        return 0

    def stop(self) -> None:
        """Stop collecting; automatic collection is on again if it was on at the start."""
        self._timer.stop()
        if self._was_enabled:
            gc.enable()
