"""One builder at a time per cache entry: a second caller waits, then finds the entry built
(the image store, a run's embeddings), instead of building it again beside it.

Threads of one process wait on an in-process lock. With a ``lock_file``, other processes wait
too: the file is locked with ``fcntl.flock`` (POSIX), which the OS releases when a process
dies, so a killed builder never leaves a lock behind. Where ``fcntl`` is missing (Windows) the
lock covers this process only.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from engine.core.events import CancelToken

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()
POLL_SECONDS = 0.1


@contextmanager
def holding(key: str, cancel: Optional[CancelToken] = None, lock_file: Optional[Path] = None) -> Iterator[None]:
    """Hold the lock named ``key`` (and ``lock_file`` across processes); while waiting,
    ``cancel`` is still obeyed."""
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    while not lock.acquire(timeout=POLL_SECONDS):
        if cancel is not None:
            cancel.check()
    try:
        with _file_lock(lock_file, cancel):
            yield
    finally:
        lock.release()


def is_held(key: str) -> bool:
    """True while some thread of this process holds the lock named ``key``."""
    with _guard:
        lock = _locks.get(key)
    return lock is not None and lock.locked()


@contextmanager
def _file_lock(path: Optional[Path], cancel: Optional[CancelToken]) -> Iterator[None]:
    fd = _open_lock_file(path)
    if fd is None:
        yield
        return
    try:
        while not _try_lock(fd):
            if cancel is not None:
                cancel.check()
            threading.Event().wait(POLL_SECONDS)
        yield
    finally:
        os.close(fd)   # closing the descriptor releases the lock


def _open_lock_file(path: Optional[Path]) -> Optional[int]:
    """A descriptor of ``path`` to lock, or None where no cross-process lock can be had
    (no fcntl, or a folder that cannot be written: then nothing is built there either)."""
    if path is None or fcntl is None:
        return None
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True

