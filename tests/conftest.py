"""Shared fixtures: tiny generated images, good and broken, and an offscreen Qt."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402


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


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A folder of 24 small RGB PNGs, two levels deep."""
    root = tmp_path / "images"
    write_shape_images(root / "a", 12, seed=1)
    write_shape_images(root / "b" / "deeper", 12, seed=2)
    return root


@pytest.fixture
def gray_folder(tmp_path: Path) -> Path:
    """A folder of 16 small grayscale PNGs."""
    root = tmp_path / "gray"
    write_shape_images(root, 16, size=28, mode="L", seed=3)
    return root
