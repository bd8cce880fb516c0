"""One builder at a time per cache entry within the process: a second caller waits, then finds
the entry built (the image store, a run's embeddings), instead of building it again beside it."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator, Optional

from engine.core.events import CancelToken

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()
POLL_SECONDS = 0.1


@contextmanager
def holding(key: str, cancel: Optional[CancelToken] = None) -> Iterator[None]:
    """Hold the lock named ``key``; while waiting for it, ``cancel`` is still obeyed."""
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    while not lock.acquire(timeout=POLL_SECONDS):
        if cancel is not None:
            cancel.check()
    try:
        yield
    finally:
        lock.release()


def is_held(key: str) -> bool:
    """True while some thread of this process holds the lock named ``key``."""
    with _guard:
        lock = _locks.get(key)
    return lock is not None and lock.locked()
