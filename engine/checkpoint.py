"""Atomic checkpoint files: a crash mid-write never damages the previous checkpoint.

The bytes go to a temp file in the same folder, are fsynced, then ``os.replace``
swaps them in (atomic on POSIX and Windows); the folder is fsynced too. torch is imported
only to write or read a checkpoint, so other files can use :func:`write_atomic` without it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Callable

TEMP_SUFFIX = ".partial"


def save_atomic(payload: dict, path: Path) -> Path:
    """Write ``payload`` with ``torch.save`` to ``path`` atomically; return ``path``."""
    import torch

    return write_atomic(path, lambda handle: torch.save(payload, handle))


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write`` on a binary file beside ``path``, then swap it in; return ``path``.

    On any failure (a full disk, a crash in ``write``) the temp file is removed and an
    existing ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        with open(temp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        replace_file(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def replace_file(source: Path, target: Path) -> None:
    """``os.replace``, kept as its own function so tests can inject a crash here."""
    os.replace(source, target)


def load(path: Path, map_location="cpu") -> dict:
    """Load a checkpoint written by :func:`save_atomic` (tensors and plain types only)."""
    import torch

    return torch.load(Path(path), map_location=map_location, weights_only=True)


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temp files that a crash during :func:`save_atomic` left behind."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = sorted(folder.glob(f".*{TEMP_SUFFIX}"))
    for temp in stale:
        temp.unlink(missing_ok=True)
    return stale


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
