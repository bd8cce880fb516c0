"""Hostile inputs for the reliability suite: rotated, odd-mode and damaged images, a
seeded corrupter, and a child Python process whose exit code and output a test can read."""
from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
MARKER = 255            # the bright corner of :func:`marked_upright`
FORMATS = {"jpg": {"quality": 95}, "png": {}, "tif": {}, "webp": {"lossless": True}}
# numpy quarter turns (counter-clockwise) that give the stored pixels of an upright picture:
# EXIF 3 displays the stored image turned 180°, 6 turned 90° clockwise, 8 turned 90° anticlockwise.
STORED_TURNS = {1: 0, 3: 2, 6: 1, 8: -1}


def marked_upright(width: int = 48, height: int = 32) -> np.ndarray:
    """(height, width, 3) uint8: dark, with a bright block in the top-left corner."""
    pixels = np.full((height, width, 3), 20, np.uint8)
    pixels[: height // 2, : width * 5 // 12] = MARKER
    return pixels


def write_oriented(path: Path, orientation: int) -> Path:
    """Save :func:`marked_upright` as stored under EXIF ``orientation`` (1, 3, 6 or 8)."""
    stored = np.ascontiguousarray(np.rot90(marked_upright(), STORED_TURNS[orientation]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(path, exif=exif, **FORMATS[path.suffix[1:]])
    return path


def bright_corner(pixels: np.ndarray) -> str:
    """Which quarter of an (H, W) or (H, W, C) picture is brightest: "top-left", "bottom-right", ..."""
    gray = pixels.reshape(pixels.shape[0], pixels.shape[1], -1).mean(axis=2)
    h, w = gray.shape[0] // 2, gray.shape[1] // 2
    quarters = {"top-left": gray[:h, :w], "top-right": gray[:h, w:],
                "bottom-left": gray[h:, :w], "bottom-right": gray[h:, w:]}
    return max(quarters, key=lambda name: quarters[name].mean())


def write_png_bomb(path: Path, width: int, height: int) -> Path:
    """A real grayscale PNG of ``width`` x ``height`` black pixels: a small file on disk that
    decode to ``width * height`` bytes (three times that as RGB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row = zlib.compressobj(9), bytes(width + 1)      # filter byte 0, then the row
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def write_gif_header(path: Path, width: int, height: int) -> Path:
    """A GIF whose screen and only frame claim ``width`` x ``height`` pixels (the data is a stub)."""
    screen = struct.pack("<6sHHBBB", b"GIF89a", width, height, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00;"
    path.write_bytes(screen + frame)
    return path


def image_bytes(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def fuzz_seeds(rng: np.random.Generator) -> list[tuple[str, bytes]]:
    """Good files of every format the scanner accepts, to be corrupted: (suffix, bytes)."""
    picture = Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    return [
        ("jpg", image_bytes(picture, "JPEG", quality=90)), ("jpg", image_bytes(picture, "JPEG", exif=exif)),
        ("png", image_bytes(picture, "PNG")), ("png", image_bytes(picture.convert("P"), "PNG")),
        ("png", image_bytes(picture.convert("I;16"), "PNG")), ("gif", image_bytes(picture, "GIF")),
        ("gif", image_bytes(picture, "GIF", save_all=True, append_images=[picture.rotate(90)])),
        ("bmp", image_bytes(picture, "BMP")), ("tif", image_bytes(picture, "TIFF")),
        ("tif", image_bytes(picture, "TIFF", compression="tiff_lzw")), ("webp", image_bytes(picture, "WEBP")),
    ]


def corrupt(data: bytes, rng: np.random.Generator) -> bytes:
    """``data`` with a few bytes overwritten (mostly in the header), cut short, or both."""
    data = bytearray(data)
    kind = int(rng.integers(0, 3))
    if kind in (0, 2):
        for _ in range(int(rng.integers(1, 8))):
            end = 200 if rng.random() < 0.7 else len(data)
            data[int(rng.integers(0, min(end, len(data))))] = int(rng.integers(0, 256))
    if kind in (1, 2):
        data = data[: int(rng.integers(0, len(data)))]
    return bytes(data)


def add_labels(project, labels: dict[str, str]) -> None:
    """Create the classes of ``labels`` ({relative path: class}) in ``project`` and assign them."""
    for name in sorted(set(labels.values())):
        project.add_class(name)
    project.assign(labels)


# For child code: the process's peak resident memory. ``ru_maxrss`` is no use there, since
# Linux carries the parent's peak over into a forked child.
PEAK_MB = """
def peak_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
"""


def run_python(code: str, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -c code args`` from the repository root (offscreen Qt) and capture its output."""
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **env}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=timeout)
