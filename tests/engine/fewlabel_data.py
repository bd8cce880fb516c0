"""A tiny labeled image set (three visibly different pattern classes) and a run pretrained on it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import PretrainConfig, run_pretraining

CLASSES = ("rows", "columns", "disc")
PER_CLASS = 16
SIZE = 16


def write_pattern_images(folder: Path, per_class: int = PER_CLASS, seed: int = 0) -> dict[str, str]:
    """Grayscale PNGs of horizontal stripes, vertical stripes or a disc, with random phase,
    contrast and noise; returns ``{relative path: class}``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    labels = {}
    for name in CLASSES:
        (folder / name[0]).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            phase, period = rng.integers(0, 4), int(rng.integers(3, 5))
            if name == "rows":
                mask = (yy + phase) % period < period // 2
            elif name == "columns":
                mask = (xx + phase) % period < period // 2
            else:
                cy, cx = rng.integers(5, 11, size=2)
                mask = (yy - cy) ** 2 + (xx - cx) ** 2 < int(rng.integers(9, 25))
            low, high = int(rng.integers(0, 60)), int(rng.integers(170, 256))
            pixels = np.where(mask, high, low) + rng.normal(0, 12, size=(SIZE, SIZE))
            rel = f"{name[0]}/{name}_{i:02d}.png"
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L").save(folder / rel)
            labels[rel] = name
    return labels


@pytest.fixture(scope="session")
def pretrained(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """(pretraining run folder, image root, every image's true class) after a 3-step run."""
    base = tmp_path_factory.mktemp("fewlabel")
    root = base / "images"
    truth = write_pattern_images(root)
    cfg = PretrainConfig(data_dir=str(root), out_dir=str(base / "runs"), cache_dir=str(base / "cache"),
                         backbone="smallcnn", method="simclr", image_size=SIZE, batch_size=16, epochs=1,
                         device="cpu", seed=0)
    return Path(run_pretraining(cfg).run_dir), root, truth


def pick(truth: dict[str, str], per_class: int) -> dict[str, str]:
    """The first ``per_class`` labels of each class."""
    out: dict[str, str] = {}
    for name in CLASSES:
        out.update(sorted((p, c) for p, c in truth.items() if c == name)[:per_class])
    return out
