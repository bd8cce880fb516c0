"""Decode every image once into a uint8 store of shape (N, C, S, S).

The store lives in ``<cache_dir>/<key>/images.npy`` next to a ``meta.json`` written last,
so a store with a ``meta.json`` is complete. The key hashes the root, size, channels and
each file's (path, bytes, mtime): touching a file makes a new store.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from itertools import repeat
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import torch

from engine.core import atomic
from engine.core.events import (
    CacheProgress, CacheStart, CacheSummary, Cancelled, CancelToken, EventSink, Finished, Progress, Stage, Started,
)
from engine.core.events import Warning as WarningEvent
from engine.core.events import ignore_events
from engine.core.locks import holding, is_held
from engine.core.places import cache_root
from engine.data import imageio
from engine.data.scan import Problem, ScanReport

CACHE_VERSION = 1
DEFAULT_MEMORY_LIMIT = 2 << 30
DECODE_THREADS = 2
_CHUNK = 16  # images decoded between two cancel checks
_PROGRESS_SECONDS = 0.1
_RESERVE_CHUNK = 8 << 20   # bytes of zeros written at a time where fallocate is missing


@dataclass
class ImageStore:
    """Decoded images: ``images`` is uint8 (N, C, size, size), row i is ``paths[i]``.

    ``on_disk`` says the tensor is backed by a memory-mapped file rather than RAM.
    """

    images: torch.Tensor
    paths: list[str]
    size: int
    channels: int
    on_disk: bool

    def __len__(self) -> int:
        return len(self.paths)

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, S, S) for a LongTensor of B row indices."""
        return self.images[indices]


def default_cache_dir() -> Path:
    return cache_root() / "decoded"


def estimate_bytes(count: int, size: int, channels: int) -> int:
    """Bytes a store of ``count`` images takes."""
    return count * channels * size * size


def cache_key(report: ScanReport, size: int, channels: int) -> str:
    """A store's folder name, ``<lineage>-<version>``: the lineage hashes the root, size and
    channels, so every version of one folder's store shares it; the version hashes every
    image's (path, bytes, mtime) too."""
    lineage = hashlib.sha256(f"{CACHE_VERSION}\0{report.root}\0{size}\0{channels}\n".encode())
    version = lineage.copy()
    for record in report.images:
        version.update(f"{record.path}\0{record.size}\0{record.mtime!r}\n".encode())
    return f"{lineage.hexdigest()[:16]}-{version.hexdigest()[:40]}"


def _load(folder: Path, memory_limit_bytes: int) -> tuple[ImageStore, list[Problem]]:
    """Open a complete store; raises OSError/ValueError/KeyError when it is damaged."""
    meta = json.loads((folder / "meta.json").read_text())
    if meta["version"] != CACHE_VERSION:
        raise ValueError(f"cache version {meta['version']}")
    count, size, channels = meta["count"], meta["size"], meta["channels"]
    on_disk = estimate_bytes(count, size, channels) > memory_limit_bytes
    # Copy-on-write keeps the array writable for torch while the file stays untouched.
    array = np.load(folder / "images.npy", mmap_mode="c" if on_disk else None)
    if array.shape[1:] != (channels, size, size) or array.shape[0] < count:
        raise ValueError(f"images.npy has shape {array.shape}")
    store = ImageStore(torch.from_numpy(array[:count]), meta["paths"], size, channels, on_disk)
    return store, [Problem(**p) for p in meta["problems"]]


def decode_one(path: str, size: int, channels: int) -> Union[np.ndarray, imageio.UnusableImage]:
    """(C, size, size) uint8 via PIL, or the reason the file cannot be used."""
    try:
        return imageio.decode_resized(path, size, channels)
    except imageio.UnusableImage as exc:
        return exc


def _decode_all(
    report: ScanReport, out: np.ndarray, size: int, channels: int, emit: EventSink,
    cancel: Optional[CancelToken], batch_decoder: Optional[Callable] = None,
) -> tuple[list[str], list[Problem]]:
    """Decode every image into ``out`` rows 0..k-1 (good ones only, in order).

    ``batch_decoder(paths)`` replaces the per-file thread pool when given (GPU JPEG decode).
    """
    records = report.images
    kept: list[str] = []
    problems: list[Problem] = []
    start = last_emit = time.monotonic()
    with ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="decode") as pool:
        for first in range(0, len(records), _CHUNK):
            if cancel is not None:
                cancel.check()
            chunk = records[first:first + _CHUNK]
            paths = [os.path.join(report.root, r.path) for r in chunk]
            results = (batch_decoder(paths) if batch_decoder is not None
                       else pool.map(decode_one, paths, repeat(size), repeat(channels)))
            for record, result in zip(chunk, results):
                if isinstance(result, imageio.UnusableImage):
                    problems.append(Problem(record.path, result.reason, result.detail))
                else:
                    out[len(kept)] = result
                    kept.append(record.path)
            done, now = first + len(chunk), time.monotonic()
            if now - last_emit >= _PROGRESS_SECONDS or done == len(records):
                rate = done / max(now - start, 1e-9)
                emit(Progress(Stage.CACHE, done, len(records), CacheProgress(images_per_s=rate)))
                last_emit = now
    return kept, problems


def _remove_quietly(path: Path) -> None:
    try:
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()
    except OSError:
        pass


def _lock_file(cache_dir: Path) -> Path:
    """The file that keeps other processes from building a store in ``cache_dir`` at the same
    time (beside the folder, so the folder holds stores only)."""
    return cache_dir.with_name(f".{cache_dir.name}.lock")


def _reserve(path: Path) -> None:
    """Give the sparse memory-mapped ``path`` its disk blocks now, so that a full disk is an
    OSError here instead of a SIGBUS when a page is written later."""
    size = path.stat().st_size
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except (AttributeError, OSError) as error:   # no fallocate here: write the zeros instead
            if isinstance(error, OSError) and error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
        zeros = bytes(_RESERVE_CHUNK)
        offset = 0
        while offset < size:
            offset += os.pwrite(fd, zeros[:min(_RESERVE_CHUNK, size - offset)], offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_abandoned(cache_dir: Path) -> None:
    """Delete what builds killed midway left in ``cache_dir``: the temp files of dead processes
    in stores with no ``meta.json``, and such a store's folder once it is empty."""
    if not cache_dir.is_dir():
        return
    for other in cache_dir.iterdir():
        if other.is_dir() and not (other / "meta.json").is_file() and atomic.remove_stale_temps(other):
            _remove_quietly(other)   # only when empty


def _drop_older_versions(folder: Path) -> None:
    """Delete the other complete stores of ``folder``'s lineage: the same folder before its
    images changed, which nothing asks for again; and stores named before names had a lineage
    (no "-"), which nothing reads. A store being built in this process (no ``meta.json`` yet,
    or its lock held) is left alone; a file that cannot go (mapped by another process on
    Windows) stays, and its store without ``meta.json`` is never read."""
    lineage = folder.name.split("-", 1)[0]
    for other in folder.parent.iterdir():
        older = other.name.startswith(f"{lineage}-") or "-" not in other.name
        if not older or other == folder or is_held(str(other)) or not (other / "meta.json").is_file():
            continue
        try:
            (other / "meta.json").unlink()
        except OSError:
            continue
        shutil.rmtree(other, ignore_errors=True)


def build_store(
    report: ScanReport, size: int, channels: int, cache_dir: Union[str, Path, None] = None,
    on_event: Optional[EventSink] = None, cancel: Optional[CancelToken] = None,
    memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT, batch_decoder: Optional[Callable] = None,
) -> tuple[ImageStore, list[Problem]]:
    """Decode ``report``'s images to (N, C, size, size) uint8, or reuse the cached store.

    Returns the store (good images only) and the problems found while decoding.
    A store larger than ``memory_limit_bytes`` stays memory-mapped. An unwritable cache
    dir, or one without room for the store, means an in-memory build and a Warning event.
    Another thread or process building the same store is waited for, and its store reused.
    """
    report.require_usable()
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    folder = folder / cache_key(report, size, channels)
    with holding(str(folder), cancel, lock_file=_lock_file(folder.parent)):
        _remove_abandoned(folder.parent)
        return _build_or_load(report, folder, size, channels, on_event or ignore_events, cancel,
                              memory_limit_bytes, batch_decoder)


def _build_or_load(report: ScanReport, folder: Path, size: int, channels: int, emit: EventSink,
                   cancel: Optional[CancelToken], memory_limit_bytes: int,
                   batch_decoder: Optional[Callable]) -> tuple[ImageStore, list[Problem]]:
    total = report.usable
    if (folder / "meta.json").is_file():
        try:
            store, problems = _load(folder, memory_limit_bytes)
        except (OSError, ValueError, KeyError, TypeError):
            emit(WarningEvent(f"the image cache in {folder} is damaged; decoding again"))
        else:
            emit(Started(Stage.CACHE, total, CacheStart(reused=True, path=str(folder))))
            emit(Finished(Stage.CACHE, "completed", CacheSummary(
                reused=True, images=len(store), problems=len(problems), on_disk=store.on_disk)))
            return store, problems

    shape = (total, channels, size, size)
    tmp: Optional[Path] = atomic.temp_path(folder / "images.npy")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "meta.json").unlink(missing_ok=True)
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        _reserve(tmp)
    except OSError as exc:
        if tmp.exists():
            out = None
            _remove_quietly(tmp)
        emit(WarningEvent(
            f"cannot write the image cache in {folder} ({atomic.refusal_reason(exc)}); keeping images in memory only"
        ))
        tmp = None
        out = np.empty(shape, dtype=np.uint8)
    emit(Started(Stage.CACHE, total, CacheStart(reused=False, path=str(folder) if tmp else "")))
    try:
        kept, problems = _decode_all(report, out, size, channels, emit, cancel, batch_decoder)
    except BaseException as exc:
        del out
        if tmp is not None:
            _remove_quietly(tmp)
            _remove_quietly(folder)  # only when empty
        if isinstance(exc, Cancelled):
            emit(Finished(Stage.CACHE, "cancelled"))
        raise
    if tmp is None:
        store = ImageStore(torch.from_numpy(out[:len(kept)]), kept, size, channels, on_disk=False)
    else:
        out.flush()
        del out
        os.replace(tmp, folder / "images.npy")
        meta = {
            "version": CACHE_VERSION, "root": report.root, "size": size, "channels": channels,
            "count": len(kept), "paths": kept, "problems": [asdict(p) for p in problems],
        }
        try:
            atomic.write_json(folder / "meta.json", meta)
        except BaseException:
            _remove_quietly(folder / "images.npy")   # a store without meta.json is never read
            _remove_quietly(folder)
            raise
        store, _ = _load(folder, memory_limit_bytes)
        _drop_older_versions(folder)
    emit(Finished(Stage.CACHE, "completed", CacheSummary(
        reused=False, images=len(store), problems=len(problems), on_disk=store.on_disk)))
    return store, problems
