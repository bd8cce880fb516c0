"""Events the engine emits while it works, and the cancel/pause token it obeys.

Every long engine call takes ``on_event`` (a callable receiving one of the frozen
dataclasses below) and ``cancel`` (a :class:`CancelToken`). The engine thread calls
``on_event``; receivers must return quickly and must not block.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class Started:
    """A job began. ``stage`` is "scan", "cache", "pretrain", ... ."""

    stage: str
    total: int
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """``step`` of ``total`` done; ``metrics`` holds plain floats (loss, lr, images_per_s, ...)."""

    stage: str
    step: int
    total: int
    metrics: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EpochEnded:
    """Epoch ``epoch`` (counted from 0) ended at optimiser step ``step``."""

    epoch: int
    step: int
    metrics: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    step: int


@dataclass(frozen=True)
class Warning:  # noqa: A001 - the event name is part of the engine API
    """Something the user should know that does not stop the job."""

    message: str


@dataclass(frozen=True)
class Preview:
    """A few augmented view pairs, so a person sees what the model sees.

    ``pairs`` is a tuple of (view_a, view_b) uint8 arrays of shape (H, W, C).
    """

    step: int
    pairs: tuple = ()


@dataclass(frozen=True)
class MapSnapshot:
    """The embedding map of a fixed sample of images after epoch ``epoch`` (counted from 0):
    ``xy`` is a float32 ``(n, 2)`` array whose row i is the image ``paths[i]``."""

    epoch: int
    paths: tuple
    xy: Any


@dataclass(frozen=True)
class Finished:
    """The job ended. ``status`` is "completed" or "cancelled"."""

    stage: str
    status: str
    info: dict = field(default_factory=dict)


Event = Any
EventSink = Callable[[Event], None]


def ignore_events(_event: Event) -> None:
    """Default sink that drops every event."""


class Cancelled(Exception):
    """Raised inside the engine when the user cancels; the job ends cleanly."""


class CancelToken:
    """Thread-safe cancel and pause flags, checked by the engine at every step.

    ``check()`` raises :class:`Cancelled` once ``cancel()`` was called, and blocks
    while paused (waking up at once on resume or cancel).
    """

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        self._cancelled.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def check(self, on_pause: Optional[Callable[[], None]] = None) -> None:
        """Raise if cancelled; wait while paused. ``on_pause`` runs once when a pause begins."""
        if self._cancelled.is_set():
            raise Cancelled()
        if not self._running.is_set():
            if on_pause is not None:
                on_pause()
            self._running.wait()
            if self._cancelled.is_set():
                raise Cancelled()
