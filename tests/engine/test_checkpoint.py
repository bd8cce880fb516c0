"""Atomic checkpoints: a crash between the temp write and the replace keeps the old file."""
from pathlib import Path

import pytest
import torch

from engine.core import atomic, checkpoint


def test_save_and_load_round_trip(tmp_path: Path):
    path = tmp_path / "ckpt" / "last.pt"
    checkpoint.save_atomic({"step": 3, "weights": torch.arange(4.0)}, path)
    loaded = checkpoint.load(path)
    assert loaded["step"] == 3
    torch.testing.assert_close(loaded["weights"], torch.arange(4.0))
    assert list(path.parent.iterdir()) == [path]


def test_crash_mid_write_keeps_previous_checkpoint(tmp_path: Path, monkeypatch):
    path = tmp_path / "last.pt"
    checkpoint.save_atomic({"step": 1}, path)

    def crash(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "replace_file", crash)
    with pytest.raises(OSError):
        checkpoint.save_atomic({"step": 2}, path)
    assert checkpoint.load(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_stale_temp_files_from_a_killed_process_are_removed(tmp_path: Path):
    checkpoint.save_atomic({"step": 1}, tmp_path / "last.pt")
    stale = tmp_path / f".last.pt.12345{atomic.TEMP_SUFFIX}"
    stale.write_bytes(b"half a checkpoint")
    assert atomic.remove_stale_temps(tmp_path) == [stale]
    assert not stale.exists()
    assert checkpoint.load(tmp_path / "last.pt")["step"] == 1
