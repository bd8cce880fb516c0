"""Shared fixtures: tiny generated images, good and broken, and an offscreen Qt."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.image_files import write_shape_images  # noqa: E402


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
