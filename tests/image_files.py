"""Generated image files for tests: shapes, and files broken in the ways real folders are."""
from __future__ import annotations

import builtins
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_shape_images(folder: Path, count: int, size: int = 32, mode: str = "RGB", seed: int = 0) -> list[Path]:
    """Write ``count`` PNGs of random coloured rectangles and discs on noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(count):
        img = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
        colour = rng.integers(80, 256, size=3, dtype=np.uint8)
        cx, cy, r = rng.integers(size // 4, 3 * size // 4, size=2).tolist() + [int(rng.integers(3, size // 3))]
        if i % 2:
            img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = colour
        else:
            img[max(cy - r, 0):cy + r, max(cx - r, 0):cx + r] = colour
        path = folder / f"img_{i:04d}.png"
        Image.fromarray(img).convert(mode).save(path)
        paths.append(path)
    return paths


def write_png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose IHDR claims ``width`` x ``height`` RGB pixels (the data is a stub)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def write_truncated_jpeg(path: Path, size: int = 64) -> Path:
    """A noisy JPEG cut after 60% of its bytes: the header is intact, the pixels are not."""
    noise = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG", quality=95)
    data = buffer.getvalue()
    path.write_bytes(data[: int(len(data) * 0.6)])
    return path


def deny_reading(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Make opening ``path`` fail with PermissionError (chmod 000 does not stop root)."""
    os.chmod(path, 0)
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) == os.path.abspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
