"""Tiny pretraining configs, the CLI as a user runs it, and decode counting, shared by engine tests."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine import PretrainConfig, Progress, Stage
from engine.cli import program as cli
from engine.data import imageio


def tiny_config(folder: Path, tmp_path: Path, **changes) -> PretrainConfig:
    base = dict(data_dir=str(folder), out_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "cache"),
                backbone="smallcnn", method="simclr", image_size=16, batch_size=12, epochs=1,
                device="cpu", seed=0, checkpoint_every=1)
    base.update(changes)
    return PretrainConfig(**base)


def losses_of(events) -> list[float]:
    return [e.metrics.loss for e in events if isinstance(e, Progress) and e.stage is Stage.PRETRAIN]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def exit_code(argv: list[str]) -> int:
    """What the process would exit with: argparse exits itself, the rest returns."""
    try:
        return cli.main(argv)
    except SystemExit as exit_:
        return exit_.code


def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = imageio.decode_resized

    def counting(path, size, channels):
        calls.append(path)
        return real(path, size, channels)

    monkeypatch.setattr(imageio, "decode_resized", counting)
    return calls
