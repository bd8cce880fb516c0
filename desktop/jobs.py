"""The one adapter between the engine and Qt.

:class:`EngineJob` runs a plain engine call (``fn(*args, on_event=..., cancel=...)``)
on its own Python thread. That thread never touches Qt: the engine's events and its
outcome go into a queue that a GUI-thread timer empties, so every signal is emitted in
the GUI thread. (A worker thread that emits a Qt signal or deletes a QObject holds the
GIL while it takes Qt's internal locks; the GUI thread, deleting a widget, holds such a
lock while it asks Python for overrides, and the two threads deadlock.) Stop, Pause and
Resume go through a :class:`~engine.core.events.CancelToken`. A thread is never terminated:
stopping means cancelling and letting the engine end its step.
"""
from __future__ import annotations

import errno
import queue
import threading
import traceback
from dataclasses import dataclass
from typing import Callable, Optional

from PySide6.QtCore import QObject, QTimer, Signal

from engine.core.atomic import DiskWriteError
from engine.core.events import (
    Cancelled, CancelToken, CheckpointSaved, EpochEnded, Finished, MapSnapshot, Preview, Progress, Started, Warning,
)

DELIVERY_MS = 15    # how often the GUI thread takes what a running job has reported


def describe_error(error: BaseException) -> str:
    """A one-paragraph message a person can act on."""
    text = str(error).strip()
    if isinstance(error, DiskWriteError):   # its one line names the file and the reason
        return text[0].upper() + text[1:]
    if "out of memory" in text.lower():
        return ("The device ran out of memory. Choose a smaller batch size, image size or backbone, "
                f"or train on the CPU.\n({text})")
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        if error.errno == errno.ENOSPC:
            return f"The disk is full{where}. Free some space and resume the run."
        if isinstance(error, FileNotFoundError):
            return f"A file or folder is missing{where}. Was it moved or deleted?"
        return f"A file operation failed{where}: {error.strerror or text}"
    if isinstance(error, ValueError) and text:
        return text[0].upper() + text[1:]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class _Token(CancelToken):
    """A cancel token that reports the moment the engine actually stops for a pause."""

    def __init__(self, on_paused: Callable[[], None]) -> None:
        super().__init__()
        self._on_paused = on_paused

    def check(self, on_pause=None) -> None:
        def paused() -> None:
            if on_pause is not None:
                on_pause()
            self._on_paused()

        super().check(on_pause=paused)


class GuiThreadInbox(QObject):
    """A queue that worker threads fill without touching Qt, emptied by a timer in the GUI
    thread that hands each item to ``handle``, in order.

    :meth:`put` may be called from any thread; the rest only from the GUI thread. The timer
    runs from :meth:`start` until :meth:`stop`, or, with ``idle``, until the queue is empty
    while ``idle()`` is true (checked before the last look at the queue, so a worker's last
    item is never left behind).
    """

    def __init__(self, handle: Callable[[object], None], interval_ms: int,
                 idle: Optional[Callable[[], bool]] = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: queue.SimpleQueue = queue.SimpleQueue()
        self._handle, self._idle = handle, idle
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._drain)

    def put(self, item) -> None:
        self._items.put(item)

    def start(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _drain(self) -> None:
        while self._timer.isActive():     # ``handle`` may stop the inbox
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                if self._idle is not None and self._idle() and self._items.empty():
                    self._timer.stop()
                return
            self._handle(item)


_PAUSED = object()   # queued when the engine stops at a pause


@dataclass(frozen=True)
class _Ended:
    """The call's outcome: ``kind`` is "succeeded" (args: result), "failed" (message,
    traceback) or "cancelled" (no args)."""

    kind: str
    args: tuple = ()


def running_jobs() -> list["EngineJob"]:
    """Every job started and not yet finished, whoever started it: what closing the window
    cancels and waits for, so no page has to remember to report its jobs."""
    return list(EngineJob.live)


class EngineJob(QObject):
    """One engine call on a worker thread; every signal is emitted in the GUI thread.

    ``finished`` comes last, once the thread has stopped, after exactly one of
    ``succeeded``, ``failed`` or ``cancelled``. Running jobs are in :func:`running_jobs`.
    """

    live: "set[EngineJob]" = set()     # started, not finished: changed in the GUI thread only

    stage_started = Signal(object)     # engine.core.events.Started
    progress = Signal(object)          # engine.core.events.Progress
    epoch_ended = Signal(object)       # engine.core.events.EpochEnded
    checkpoint_saved = Signal(object)  # engine.core.events.CheckpointSaved
    preview = Signal(object)           # engine.core.events.Preview
    map_snapshot = Signal(object)      # engine.core.events.MapSnapshot
    warning = Signal(str)
    stage_finished = Signal(object)    # engine.core.events.Finished
    paused = Signal()                  # the engine has stopped at a pause
    succeeded = Signal(object)         # the call's return value
    failed = Signal(str, str)          # readable message, traceback
    cancelled = Signal()               # the call raised Cancelled
    finished = Signal()

    def __init__(self, fn: Callable, *args, parent: QObject | None = None, **kwargs) -> None:
        super().__init__(parent)
        self._call: tuple | None = (fn, args, kwargs)
        self._inbox = GuiThreadInbox(self._deliver, DELIVERY_MS, parent=self)
        self._token = _Token(lambda: self._inbox.put(_PAUSED))
        # a daemon: closing the window waits for every job, so only a job that cannot end is left
        # behind, and it must not keep the process alive
        self._thread = threading.Thread(target=self._run, name=getattr(fn, "__name__", "engine-job"), daemon=True)
        self._running = False
        self._routes = {
            Started: self.stage_started, Progress: self.progress, EpochEnded: self.epoch_ended,
            CheckpointSaved: self.checkpoint_saved, Preview: self.preview, MapSnapshot: self.map_snapshot,
            Finished: self.stage_finished,
        }
        self._outcomes = {"succeeded": self.succeeded, "failed": self.failed, "cancelled": self.cancelled}

    def start(self) -> None:
        if self._call is None or self._running:
            raise RuntimeError("an EngineJob runs once")
        self._running = True
        EngineJob.live.add(self)
        self._thread.start()
        self._inbox.start()

    def is_running(self) -> bool:
        return self._running

    def is_paused(self) -> bool:
        return self._token.paused

    def cancel(self) -> None:
        self._token.cancel()

    def cancel_requested(self) -> bool:
        """True once :meth:`cancel` was called, even if the call ended before it could stop."""
        return self._token.cancelled

    def pause(self) -> None:
        self._token.pause()

    def resume(self) -> None:
        self._token.resume()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the thread has stopped (for shutdown paths); True when it has."""
        if self._thread.ident is None:
            return True
        self._thread.join(None if timeout_ms < 0 else timeout_ms / 1000)
        return not self._thread.is_alive()

    def _run(self) -> None:
        """The worker thread: call the engine, queue its events and then its outcome."""
        fn, args, kwargs = self._call
        try:
            result = fn(*args, on_event=self._inbox.put, cancel=self._token, **kwargs)
        except Cancelled:
            ended = _Ended("cancelled")
        except Exception as error:  # noqa: BLE001 - every engine error becomes a readable message
            ended = _Ended("failed", (describe_error(error), traceback.format_exc()))
        else:
            ended = _Ended("succeeded", (result,))
        self._inbox.put(ended)

    def _deliver(self, item) -> None:
        """In the GUI thread: emit the signal for one item the worker queued."""
        if item is _PAUSED:
            self.paused.emit()
        elif isinstance(item, _Ended):
            self._end(item)
        elif isinstance(item, Warning):
            self.warning.emit(item.message)
        else:
            signal = self._routes.get(type(item))
            if signal is not None:
                signal.emit(item)

    def _end(self, ended: _Ended) -> None:
        self._inbox.stop()
        self._thread.join()           # it queued its outcome last: this returns at once
        self._call = None
        self._outcomes[ended.kind].emit(*ended.args)
        self._running = False
        EngineJob.live.discard(self)
        self.finished.emit()


class LatestJob(QObject):
    """Runs :class:`EngineJob` s of which only the newest one's answer counts.

    ``progress``, ``succeeded`` and ``failed`` come from the current job only. :meth:`discard`
    cancels it and ignores its answer; a discarded job stays in :func:`running_jobs` until
    its thread has ended, so closing the window still waits for it. ``ended`` follows the
    end of every job, current or not.
    """

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)
    ended = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.current: EngineJob | None = None

    def start(self, fn: Callable, *args, **kwargs) -> EngineJob:
        """Run ``fn(*args, **kwargs)``; it becomes the current job."""
        job = self.current = EngineJob(fn, *args, parent=self, **kwargs)
        job.progress.connect(lambda event: job is self.current and self.progress.emit(event))
        job.succeeded.connect(lambda result: job is self.current and self.succeeded.emit(result))
        job.failed.connect(lambda message, details: job is self.current and self.failed.emit(message, details))
        job.finished.connect(lambda: self._on_finished(job))
        job.start()
        return job

    def busy(self) -> bool:
        return self.current is not None

    def discard(self) -> None:
        if self.current is not None:
            self.current.cancel()
            self.current = None


    def _on_finished(self, job: EngineJob) -> None:
        job.deleteLater()
        if job is self.current:
            self.current = None
        self.ended.emit()
