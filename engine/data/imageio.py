"""Decode one image file into the model's channel layout, or say why it is unusable.

Every failure becomes :class:`UnusableImage` with a short fixed ``reason``
("empty", "truncated", "not an image", "decompression bomb", "unreadable").
Pillow's ``ImageFile.LOAD_TRUNCATED_IMAGES`` stays False, so damaged files fail loudly.
"""
from __future__ import annotations

import os
import struct
import zlib
from contextlib import contextmanager
from typing import Iterator, Optional

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
MAX_PIXELS = 89_478_485  # Pillow's default limit: width * height above it is refused

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_HIGH_DEPTH_MODES = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_ORIENTATION_TAG = 0x0112
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_PLAIN_CHUNKS = frozenset({b"IHDR", b"PLTE", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"pHYs", b"sBIT", b"bKGD",
                               b"tIME"})
_PNG_MAX_CHUNKS = 64             # chunks before the first IDAT that the quick PNG header reads
_PNG_MAX_CHUNK = 1 << 20         # a larger one (an ICC profile, say) is left to Pillow
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)


class UnusableImage(Exception):
    """A file that cannot be used as an image; ``reason`` is a short fixed string."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def is_grayscale_mode(mode: str) -> bool:
    """True for single-channel Pillow modes (1, L, LA, I, F, I;16*)."""
    return mode in _GRAY_MODES


@contextmanager
def _opened(path) -> Iterator[Image.Image]:
    """Open ``path`` lazily (header only), refusing empty files and decompression bombs."""
    path = os.fspath(path)
    try:
        if os.stat(path).st_size == 0:
            raise UnusableImage("empty", "the file has 0 bytes")
        im = Image.open(path)
    except PermissionError as exc:
        raise UnusableImage("unreadable", f"permission denied ({exc.strerror})") from None
    except UnidentifiedImageError:
        raise UnusableImage("not an image", "the contents are not a known image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnusableImage("decompression bomb", str(exc)) from None
    except _DECODE_ERRORS as exc:   # OSError, or a header the format's parser cannot read
        raise UnusableImage("unreadable", str(exc) or type(exc).__name__) from None
    with im:
        width, height = im.size
        if width * height > MAX_PIXELS:
            raise UnusableImage(
                "decompression bomb", f"{width}x{height} pixels is over the limit of {MAX_PIXELS}"
            )
        yield im


def _header_orientation(im: Image.Image) -> int:
    # A PNG's eXIf chunk may follow the pixel data; Pillow would decode everything to find it.
    if im.format == "PNG" and "exif" not in im.info:
        return 1
    try:
        return int(im.getexif().get(_ORIENTATION_TAG, 1))
    except _DECODE_ERRORS:
        return 1


def _stored_size(im: Image.Image) -> tuple[int, int]:
    """The pixel grid as stored: recent Pillow reports a TIFF's size already turned by its orientation."""
    if im.format == "TIFF":
        return int(im.tag_v2.get(256, im.size[0])), int(im.tag_v2.get(257, im.size[1]))
    return im.size


def read_header(path) -> tuple[int, int, str]:
    """Return ``(width, height, mode)`` from the header, as displayed after EXIF rotation."""
    quick = _png_header(path)
    if quick is not None:
        return quick
    with _opened(path) as im:
        return _header(im)


def _png_header(path) -> Optional[tuple[int, int, str]]:
    """A plain PNG's ``(width, height, mode)`` read from its chunks, several times faster than
    Pillow's open; None whenever Pillow must look (not a PNG, a chunk other than the plain ones
    before the pixel data (text, an ICC profile, EXIF, animation), a bad checksum, an unknown
    mode or filter, a size over the limit), so the two never disagree."""
    modes = getattr(PngImagePlugin, "_MODES", {})
    try:
        with open(path, "rb") as handle:
            if handle.read(8) != _PNG_SIGNATURE:
                return None
            header = None
            for _ in range(_PNG_MAX_CHUNKS):          # the chunks up to the first IDAT, as Pillow reads them
                start = handle.read(8)
                if len(start) < 8:
                    return None
                length, kind = struct.unpack(">I4s", start)
                if kind == b"IDAT":
                    break
                if kind not in _PNG_PLAIN_CHUNKS or length > _PNG_MAX_CHUNK:
                    return None
                body, crc = handle.read(length), handle.read(4)
                if len(body) < length or len(crc) < 4 or zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
                    return None
                if kind == b"IHDR" and header is None and length == 13 and body[11] == 0:
                    header = struct.unpack(">IIBB", body[:10])
            else:
                return None
    except OSError:
        return None
    if header is None:
        return None
    width, height, depth, colour = header
    mode = modes.get((depth, colour), (None,))[0]
    if mode is None or not 0 < width * height <= MAX_PIXELS:
        return None
    return width, height, mode


def verify(path) -> tuple[int, int, str]:
    """Decode the whole file to prove it intact (else :class:`UnusableImage`) and return
    :func:`read_header`'s ``(width, height, mode)``. A JPEG decodes at 1/8 scale: libjpeg
    still reads every byte, so a truncated file fails the same, at a fraction of the cost."""
    with _opened(path) as im:
        header = _header(im)
        if im.format == "JPEG":
            im.draft(None, (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
        _decoded(im, 1 if is_grayscale_mode(header[2]) else 3)
        return header


def _header(im: Image.Image) -> tuple[int, int, str]:
    width, height = _stored_size(im)
    if _header_orientation(im) in (5, 6, 7, 8):
        width, height = height, width
    return width, height, im.mode


def _scale_high_depth(im: Image.Image) -> Image.Image:
    """Map a 16/32-bit integer or float image onto 8-bit "L" without clipping."""
    values = np.asarray(im).astype(np.float64)
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if im.mode.startswith("I;16"):
        values = values / 257.0
    elif im.mode == "F" and lo >= 0.0 and hi <= 1.0:
        values = values * 255.0
    elif lo >= 0.0 and hi <= 255.0:
        pass
    elif lo >= 0.0 and hi <= 65535.0:
        values = values / 257.0
    else:
        values = (values - lo) * (255.0 / (hi - lo))
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")


def _to_channels(im: Image.Image, channels: int) -> Image.Image:
    """Convert any decoded mode to 8-bit "L" (1 channel) or "RGB" (3), alpha over white."""
    target = "L" if channels == 1 else "RGB"
    if im.mode in _HIGH_DEPTH_MODES:
        return _scale_high_depth(im).convert(target)
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im.convert("RGBA"))
    return im.convert(target)


def _decoded(im: Image.Image, channels: int) -> Image.Image:
    """Fully decode the first frame of ``im``, turn it upright and convert to ``channels``."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    try:
        im.load()
        ImageOps.exif_transpose(im, in_place=True)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnusableImage("decompression bomb", str(exc)) from None
    except _DECODE_ERRORS as exc:
        raise UnusableImage("truncated", str(exc) or type(exc).__name__) from None
    try:
        return _to_channels(im, channels)
    except ValueError as exc:
        raise UnusableImage("unreadable", f"cannot convert pixel mode {im.mode}: {exc}") from None


def decode(path, channels: int) -> np.ndarray:
    """Decode ``path`` to a uint8 array (H, W, C), C = ``channels`` (1 or 3)."""
    with _opened(path) as im:
        out = np.asarray(_decoded(im, channels), dtype=np.uint8)
    return out.reshape(out.shape[0], out.shape[1], channels)


def decode_resized(path, size: int, channels: int) -> np.ndarray:
    """Decode, resize the shorter side to ``size`` and centre-crop: uint8 array (C, size, size)."""
    with _opened(path) as im:
        width, height = im.size
        short = min(width, height)
        if im.format == "JPEG" and short >= 2 * size:
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, never below ``size``.
            scale = size / short
            im.draft("L" if channels == 1 else "RGB", (int(width * scale) + 1, int(height * scale) + 1))
        im = _decoded(im, channels)
    width, height = im.size
    short = min(width, height)
    left, top = (width - short) // 2, (height - short) // 2
    im = im.crop((left, top, left + short, top + short))
    im = im.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    out = np.asarray(im, dtype=np.uint8).reshape(size, size, channels)
    return np.ascontiguousarray(out.transpose(2, 0, 1))
