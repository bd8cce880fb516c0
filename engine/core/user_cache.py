"""The user cache folder: what it holds, the room it takes, and emptying it.

Everything kept there is made again when it is needed (decoded image stores, thumbnails, the
last scan of each folder); clearing it costs only time at the next opening of a folder.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from engine.core.places import cache_root

KINDS = {"decoded": "decoded images", "thumbnails": "thumbnails", "scans": "folder scans"}
_UNITS = ("KB", "MB", "GB", "TB")


@dataclass(frozen=True)
class CacheFolder:
    """One folder under the cache root, its size in bytes and what it holds, in words."""

    name: str
    bytes: int
    holds: str


def usage(root: Union[str, Path, None] = None) -> list[CacheFolder]:
    """Every folder under ``root`` (default: :func:`cache_root`) with its size, largest first."""
    root = Path(root) if root else cache_root()
    if not root.is_dir():
        return []
    folders = [CacheFolder(entry.name, _size(Path(entry.path)), KINDS.get(entry.name, entry.name))
               for entry in os.scandir(root) if entry.is_dir(follow_symlinks=False)]
    return sorted(folders, key=lambda folder: -folder.bytes)


def clear(root: Union[str, Path, None] = None) -> int:
    """Delete everything under ``root`` (default: :func:`cache_root`); return the bytes freed.
    A file that cannot be deleted (in use on Windows, say) stays and is not counted."""
    root = Path(root) if root else cache_root()
    freed = 0
    for path, dirs, files in os.walk(root, topdown=False):
        for name in files:
            freed += _unlink(os.path.join(path, name))
        for name in dirs:
            folder = os.path.join(path, name)
            if os.path.islink(folder):
                _unlink(folder)
            else:
                try:
                    os.rmdir(folder)
                except OSError:
                    pass    # something in it could not go
    return freed


def human_size(count: int) -> str:
    """1536 -> "1.5 KB" (decimal units, as file managers show them)."""
    if count < 1000:
        return f"{count:,} bytes"
    exponent = min(int(math.log10(count)) // 3, len(_UNITS))
    return f"{count / 1000 ** exponent:.1f} {_UNITS[exponent - 1]}"


def _size(folder: Path) -> int:
    total = 0
    for path, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(path, name)).st_size
            except OSError:
                pass    # removed meanwhile
    return total


def _unlink(path: str) -> int:
    """Delete one file; the bytes freed (0 when it could not go)."""
    try:
        size = os.lstat(path).st_size
        os.unlink(path)
    except OSError:
        return 0
    return size
