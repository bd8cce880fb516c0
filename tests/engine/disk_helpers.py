"""A disk that refuses some writes, for tests of what a refused write leaves behind."""
from __future__ import annotations

import errno
import os
from pathlib import Path

from engine.core import atomic


def refuse_writes_of(monkeypatch, suffix: str) -> None:
    """Make every atomic write of a file ending in ``suffix`` fail as on a full disk, just
    before the file would take its place (the temp file was written whole)."""
    real = atomic.replace_file

    def no_room(source: Path, target: Path) -> None:
        if target.name.endswith(suffix):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(source, target)

    monkeypatch.setattr(atomic, "replace_file", no_room)
