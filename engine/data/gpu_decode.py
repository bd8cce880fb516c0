"""JPEG decoding in batches with torchvision (nvJPEG on a CUDA device) for large JPEG folders.

Each chunk of files is read as bytes, decoded together on the device, centre-cropped to
a square and resized to ``size`` (antialiased) there, and copied back as uint8.
Files that are not JPEG, or that the batched decoder rejects, go through the PIL path,
which also names the reason a broken file cannot be used.
"""
from __future__ import annotations

import warnings
from typing import Callable, Union

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, decode_jpeg

from engine.data import imageio

# torchvision 0.29 deprecates its decoders in favour of TorchCodec; they remain the only
# batched nvJPEG path in the pinned versions, so the notice is silenced here.
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                        category=DeprecationWarning)

JPEG_EXTENSIONS = (".jpg", ".jpeg")
Result = Union[np.ndarray, imageio.UnusableImage]


class BatchedJpegDecoder:
    """``decoder(paths) -> list of (C, size, size) uint8 arrays or UnusableImage``, in order."""

    def __init__(self, size: int, channels: int, device: torch.device,
                 fallback: Callable[[str, int, int], Result]) -> None:
        self.size, self.channels, self.device = size, channels, torch.device(device)
        self.fallback = fallback
        self.mode = ImageReadMode.RGB if channels == 3 else ImageReadMode.GRAY

    def __call__(self, paths: list[str]) -> list[Result]:
        results: list[Result | None] = [None] * len(paths)
        jpegs = [i for i, path in enumerate(paths) if path.lower().endswith(JPEG_EXTENSIONS)]
        for index, image in zip(jpegs, self._decode([paths[i] for i in jpegs])):
            results[index] = image
        return [self.fallback(path, self.size, self.channels) if result is None else result
                for path, result in zip(paths, results)]

    def _decode(self, paths: list[str]) -> list[np.ndarray | None]:
        """Decoded arrays for ``paths``; None where the batched decoder could not handle a file."""
        if not paths:
            return []
        data = [_read_bytes(path) for path in paths]
        try:
            images = decode_jpeg([d for d in data if d is not None], mode=self.mode, device=self.device,
                                 apply_exif_orientation=True)
        except RuntimeError:          # one bad file fails the batch: decode one by one
            return [self._decode_single(d) for d in data]
        decoded = iter(images)
        return [None if d is None else self._fit(next(decoded)) for d in data]

    def _decode_single(self, data: torch.Tensor | None) -> np.ndarray | None:
        if data is None:
            return None
        try:
            return self._fit(decode_jpeg(data, mode=self.mode, device=self.device, apply_exif_orientation=True))
        except RuntimeError:
            return None

    def _fit(self, image: torch.Tensor) -> np.ndarray:
        """(C, H, W) uint8 → (C, size, size): the centre square, resized (as the PIL path does)."""
        _, height, width = image.shape
        short = min(height, width)
        top, left = (height - short) // 2, (width - short) // 2
        square = image[None, :, top:top + short, left:left + short].float()
        resized = F.interpolate(square, size=(self.size, self.size), mode="bilinear", antialias=True,
                                align_corners=False)[0]
        return resized.round().clamp(0, 255).to(torch.uint8).cpu().numpy()


def _read_bytes(path: str) -> torch.Tensor | None:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else None
