"""Atomic file writes: the one way the engine puts a file on disk.

The bytes go to a temp file beside the target (``.<name>.<pid>-<thread>.partial``), are fsynced,
then ``os.replace`` swaps them in (atomic on POSIX and Windows) and the folder is fsynced.
A crash or a full disk never leaves a half-written target, and the temp file is removed.
A full disk, a read-only folder or a missing permission becomes a :class:`DiskWriteError`
whose message names the file and the reason in one line.
"""
from __future__ import annotations

import errno
import json
import os
import re
import threading
from pathlib import Path
from typing import BinaryIO, Callable, Union

TEMP_SUFFIX = ".partial"
PathLike = Union[str, Path]
_WRITER_PID = re.compile(rf"\.(\d+)-\d+{re.escape(TEMP_SUFFIX)}$")

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the folder is on a read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


class DiskWriteError(OSError):
    """A file could not be written; ``str()`` is one line naming the file and the reason."""

    def __init__(self, path: PathLike, cause: OSError) -> None:
        reason = refusal_reason(cause)
        super().__init__(cause.errno, f"cannot write {path}: {reason}")
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return self.strerror


def refusal_reason(error: OSError) -> str:
    """Why the OS refused a write, in a few plain words ("the disk is full")."""
    if isinstance(error, DiskWriteError):
        return error.reason
    return _REASONS.get(error.errno) or error.strerror or str(error)


def disk_error(path: PathLike, error: BaseException) -> BaseException:
    """``error`` as a :class:`DiskWriteError` when the OS refused the write (torch wraps such
    errors in a RuntimeError, so the cause chain is searched too), else ``error`` itself."""
    seen = error
    while seen is not None:
        if isinstance(seen, DiskWriteError):
            return seen
        if isinstance(seen, OSError) and seen.errno is not None:
            return DiskWriteError(path, seen)
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return error


def write_atomic(path: PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write`` on a binary file beside ``path``, then swap it in; return ``path``.

    On any failure (a full disk, a crash in ``write``) the temp file is removed and an
    existing ``path`` is left as it was; OS refusals are raised as :class:`DiskWriteError`.
    """
    path = Path(path)
    temp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        replace_file(temp, path)
        _fsync_folder(path.parent)
    except BaseException as error:
        _remove_quietly(temp)
        converted = disk_error(path, error)
        if converted is error:
            raise
        raise converted from error
    return path


def temp_path(path: PathLike) -> Path:
    """The temp file this thread writes ``path``'s bytes to before they are swapped in; one that
    outlives its process is removed by :func:`remove_stale_temps`."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}{TEMP_SUFFIX}")


def write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return write_atomic(path, lambda handle: handle.write(data))


def write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: PathLike, value, **options) -> Path:
    """Write ``value`` as JSON to ``path`` atomically (``options`` go to :func:`json.dumps`)."""
    return write_text(path, json.dumps(value, **options))


def replace_file(source: Path, target: Path) -> None:
    """``os.replace``, kept as its own function so tests can inject a crash here."""
    os.replace(source, target)


def remove_stale_temps(folder: PathLike) -> list[Path]:
    """Delete the temp files that a killed process left in ``folder``; return them.

    A temp file of a process still running (this one included) is a write at work and
    stays; so does everything when ``folder`` cannot be listed."""
    folder = Path(folder)
    try:
        temps = sorted(folder.glob(f".*{TEMP_SUFFIX}"))
    except OSError:
        return []
    stale = [temp for temp in temps if not _writer_is_running(temp)]
    for temp in stale:
        _remove_quietly(temp)
    return stale


def _writer_is_running(temp: Path) -> bool:
    """Whether the process named in ``temp``'s name is alive (a name without one is stale)."""
    match = _WRITER_PID.search(temp.name)
    if match is None:
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return True
    if os.name != "posix":   # os.kill(pid, 0) would end the process on Windows
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:          # it exists but belongs to another user
        return True
    return True


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
