"""The one adapter between the engine and Qt.

:class:`EngineJob` runs a plain engine call (``fn(*args, on_event=..., cancel=...)``)
in its own QThread. Engine events cross into the GUI thread over a queued connection
and come out as typed signals; Stop, Pause and Resume go through a
:class:`~engine.events.CancelToken`. A thread is never terminated: stopping means
cancelling and letting the engine end its step.
"""
from __future__ import annotations

import errno
import traceback
from typing import Callable

from PySide6.QtCore import QDeadlineTimer, QObject, Qt, QThread, Signal, Slot

from engine.events import (
    CancelToken, Cancelled, CheckpointSaved, EpochEnded, Finished, MapSnapshot, Preview, Progress, Started, Warning,
)


def describe_error(error: BaseException) -> str:
    """A one-paragraph message a person can act on."""
    text = str(error).strip()
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


class _Runner(QObject):
    """Lives in the worker thread; calls the engine and emits what happens (from that thread)."""

    event = Signal(object)
    paused = Signal()
    succeeded = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        super().__init__()
        self._call = (fn, args, kwargs)
        self.token = _Token(self.paused.emit)

    @Slot()
    def run(self) -> None:
        fn, args, kwargs = self._call
        try:
            result = fn(*args, on_event=self.event.emit, cancel=self.token, **kwargs)
        except Cancelled:
            self.cancelled.emit()
        except Exception as error:  # noqa: BLE001 - every engine error becomes a readable message
            self.failed.emit(describe_error(error), traceback.format_exc())
        else:
            self.succeeded.emit(result)
        finally:
            self.done.emit()


class EngineJob(QObject):
    """One engine call on a QThread; every signal arrives in the GUI thread.

    ``finished`` comes last, once the thread has stopped, after exactly one of
    ``succeeded``, ``failed`` or ``cancelled``.
    """

    stage_started = Signal(object)     # engine.events.Started
    progress = Signal(object)          # engine.events.Progress
    epoch_ended = Signal(object)       # engine.events.EpochEnded
    checkpoint_saved = Signal(object)  # engine.events.CheckpointSaved
    preview = Signal(object)           # engine.events.Preview
    map_snapshot = Signal(object)      # engine.events.MapSnapshot
    warning = Signal(str)
    stage_finished = Signal(object)    # engine.events.Finished
    paused = Signal()                  # the engine has stopped at a pause
    succeeded = Signal(object)         # the call's return value
    failed = Signal(str, str)          # readable message, traceback
    cancelled = Signal()               # the call raised Cancelled
    finished = Signal()

    def __init__(self, fn: Callable, *args, parent: QObject | None = None, **kwargs) -> None:
        super().__init__(parent)
        self._runner: _Runner | None = _Runner(fn, args, kwargs)
        self._token = self._runner.token
        self._thread = QThread(self)
        self._thread.setObjectName(getattr(fn, "__name__", "engine-job"))
        self._running = False
        self._routes = {
            Started: self.stage_started, Progress: self.progress, EpochEnded: self.epoch_ended,
            CheckpointSaved: self.checkpoint_saved, Preview: self.preview, MapSnapshot: self.map_snapshot,
            Finished: self.stage_finished,
        }
        queued = Qt.ConnectionType.QueuedConnection
        runner = self._runner
        runner.moveToThread(self._thread)
        runner.event.connect(self._route, queued)
        runner.paused.connect(self.paused, queued)
        runner.succeeded.connect(self.succeeded, queued)
        runner.failed.connect(self.failed, queued)
        runner.cancelled.connect(self.cancelled, queued)
        # quit() directly from the worker thread, so a GUI thread blocked in wait() cannot deadlock
        runner.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.started.connect(runner.run)
        self._thread.finished.connect(runner.deleteLater)
        self._thread.finished.connect(self._on_thread_finished, queued)

    def start(self) -> None:
        if self._runner is None or self._running:
            raise RuntimeError("an EngineJob runs once")
        self._running = True
        self._thread.start()

    def is_running(self) -> bool:
        return self._running

    def is_paused(self) -> bool:
        return self._token.paused

    def cancel(self) -> None:
        self._token.cancel()

    def pause(self) -> None:
        self._token.pause()

    def resume(self) -> None:
        self._token.resume()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the thread has stopped (for shutdown paths); True when it has."""
        forever = QDeadlineTimer.ForeverConstant.Forever
        return self._thread.wait(QDeadlineTimer(forever) if timeout_ms < 0 else QDeadlineTimer(timeout_ms))

    @Slot(object)
    def _route(self, event) -> None:
        if isinstance(event, Warning):
            self.warning.emit(event.message)
            return
        signal = self._routes.get(type(event))
        if signal is not None:
            signal.emit(event)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._running = False
        self._runner = None
        self.finished.emit()


class LatestJob(QObject):
    """Runs :class:`EngineJob` s of which only the newest one's answer counts.

    ``progress``, ``succeeded`` and ``failed`` come from the current job only. :meth:`discard`
    cancels it and ignores its answer; a discarded job stays in :meth:`running_jobs` until
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
        self._running: list[EngineJob] = []

    def start(self, fn: Callable, *args, **kwargs) -> EngineJob:
        """Run ``fn(*args, **kwargs)``; it becomes the current job."""
        job = self.current = EngineJob(fn, *args, parent=self, **kwargs)
        job.progress.connect(lambda event: job is self.current and self.progress.emit(event))
        job.succeeded.connect(lambda result: job is self.current and self.succeeded.emit(result))
        job.failed.connect(lambda message, details: job is self.current and self.failed.emit(message, details))
        job.finished.connect(lambda: self._on_finished(job))
        self._running.append(job)
        job.start()
        return job

    def busy(self) -> bool:
        return self.current is not None

    def discard(self) -> None:
        if self.current is not None:
            self.current.cancel()
            self.current = None

    def running_jobs(self) -> list[EngineJob]:
        return [job for job in self._running if job.is_running()]

    def _on_finished(self, job: EngineJob) -> None:
        self._running.remove(job)
        job.deleteLater()
        if job is self.current:
            self.current = None
        self.ended.emit()
