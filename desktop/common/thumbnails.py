"""Thumbnails made on a thread pool, off the GUI thread, and cached on disk.

A cached thumbnail's file name hashes the image's absolute path, byte size, mtime, the
thumbnail size and the channel count, so an edited image gets a fresh thumbnail. Requests
are served newest first: when the user scrolls fast, what is on screen now comes before
what scrolled past. The pool threads never touch Qt objects: they decode with Pillow, and
the pixels go through a :class:`~desktop.jobs.GuiThreadInbox` to become QImages in the
GUI thread (see :mod:`desktop.jobs` for why).
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QThread, QThreadPool, Signal
from PySide6.QtGui import QImage

from desktop.jobs import GuiThreadInbox
from engine.core.atomic import write_atomic
from engine.core.places import cache_root
from engine.data import imageio

THUMB_SIZE = 112
MAX_PENDING = 400   # older requests beyond this are dropped; the view asks again if still visible
DELIVERY_MS = 10    # how often the GUI thread hands on finished pictures while some are being made


def default_cache_dir() -> Path:
    return cache_root() / "thumbnails"


@dataclass(frozen=True)
class Request:
    """One picture to make: a square thumbnail (cached) or an aspect-true preview (not cached)."""

    source: str        # absolute path of the image
    size: int          # file size in bytes, part of the cache key
    mtime: float
    channels: int      # 1 or 3
    pixels: int        # edge of the thumbnail, or the longest edge of a preview
    square: bool = True


def cache_path(cache_dir: Path, request: Request) -> Path:
    key = f"{request.source}\0{request.size}\0{request.mtime!r}\0{request.pixels}\0{request.channels}"
    digest = hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir / digest[:2] / f"{digest}.jpg"


def to_qimage(pixels: np.ndarray) -> QImage:
    """(H, W, C) uint8 with C = 1 or 3 → a QImage that owns its memory."""
    pixels = np.ascontiguousarray(pixels)
    height, width, channels = pixels.shape
    fmt = QImage.Format.Format_Grayscale8 if channels == 1 else QImage.Format.Format_RGB888
    return QImage(pixels.data, width, height, width * channels, fmt).copy()


def render(request: Request) -> np.ndarray:
    """Decode ``request.source`` into (H, W, C) uint8 pixels (raises imageio.UnusableImage)."""
    if request.square:
        return imageio.decode_resized(request.source, request.pixels, request.channels).transpose(1, 2, 0)
    pixels = imageio.decode(request.source, request.channels)
    height, width = pixels.shape[:2]
    scale = request.pixels / max(height, width)
    if scale >= 1:
        return pixels
    image = Image.fromarray(pixels.squeeze(2) if request.channels == 1 else pixels)
    image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.LANCZOS)
    return np.asarray(image).reshape(image.height, image.width, request.channels)


def load_or_make(request: Request, cache_dir: Optional[Path]) -> np.ndarray:
    """(H, W, C) uint8 pixels: the cached thumbnail when there is a readable one, else a
    freshly rendered (and cached) one. Plain Python and Pillow: it runs on the pool threads."""
    target = cache_path(cache_dir, request) if cache_dir is not None and request.square else None
    if target is not None and target.is_file():
        try:
            with Image.open(target) as cached:
                image = cached.convert("L" if request.channels == 1 else "RGB")
            return np.asarray(image).reshape(image.height, image.width, request.channels)
        except (OSError, ValueError):
            pass  # a damaged cache entry is made again
    pixels = render(request)
    if target is not None:
        picture = Image.fromarray(pixels.squeeze(2) if pixels.shape[2] == 1 else pixels)
        try:
            write_atomic(target, lambda handle: picture.save(handle, "JPEG", quality=88))
        except OSError:
            pass  # a read-only or full cache only costs speed
    return pixels


class ThumbnailLoader(QObject):
    """Serves :class:`Request` objects on its own thread pool, newest first.

    ``ready(key, image)`` and ``failed(key, reason)`` arrive in the GUI thread.
    """

    ready = Signal(str, QImage)
    failed = Signal(str, str)

    def __init__(self, cache_dir: Optional[Path] = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
        self._max_workers = max(1, min(4, QThread.idealThreadCount() - 1))
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(self._max_workers)
        self._pending: OrderedDict[str, Request] = OrderedDict()
        self._lock = threading.Lock()
        self._workers = 0
        # (key, (H, W, C) pixels or None, failure reason), until no worker is left
        self._made = GuiThreadInbox(self._deliver, DELIVERY_MS, idle=self._idle, parent=self)

    def request(self, key: str, request: Request) -> None:
        """Ask for ``request`` under ``key``; asking again only moves it to the front."""
        with self._lock:
            if key in self._pending:
                self._pending.move_to_end(key)
                return
            self._pending[key] = request
            while len(self._pending) > MAX_PENDING:
                self._pending.popitem(last=False)
            if self._workers >= self._max_workers:
                return
            self._workers += 1
        self._made.start()
        self._pool.start(self._drain)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def clear(self) -> None:
        """Forget every request not yet started."""
        with self._lock:
            self._pending.clear()

    def shutdown(self) -> None:
        """Drop what is queued and wait for the pictures being made (a fraction of a second)."""
        self.clear()
        self._pool.waitForDone()
        self._made.stop()

    def _next(self) -> Optional[tuple[str, Request]]:
        with self._lock:
            if not self._pending:
                self._workers -= 1
                return None
            return self._pending.popitem(last=True)

    def _drain(self) -> None:
        while (item := self._next()) is not None:
            key, request = item
            try:
                self._made.put((key, load_or_make(request, self.cache_dir), ""))
            except (imageio.UnusableImage, OSError, ValueError) as error:
                self._made.put((key, None, str(error)))

    def _idle(self) -> bool:
        with self._lock:
            return self._workers == 0

    def _deliver(self, made: tuple) -> None:
        """In the GUI thread: emit ``ready`` or ``failed`` for one picture."""
        key, pixels, reason = made
        if pixels is None:
            self.failed.emit(key, reason)
        else:
            self.ready.emit(key, to_qimage(pixels))
