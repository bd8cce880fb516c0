"""Run folders: one per pretraining run, holding everything needed to resume or reuse it.

Layout::

    <runs dir>/<YYYYmmdd-HHMMSS>-<method>-<backbone>/
        config.json        the resolved PretrainConfig
        scan.json          the scan report the run trained on
        metrics.jsonl      one JSON object per step and per epoch, written with each checkpoint
        checkpoints/last.pt
        backbone.pt        the final backbone weights (written when the run completes)
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from engine.core.config import PretrainConfig
from engine.core.places import data_root


class RunFolderError(ValueError):
    """A run folder cannot be created or opened; the message says why."""


def default_runs_dir() -> Path:
    return data_root() / "runs"


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def scan_path(self) -> Path:
        return self.path / "scan.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def checkpoint_path(self) -> Path:
        return self.checkpoint_dir / "last.pt"

    @property
    def backbone_path(self) -> Path:
        return self.path / "backbone.pt"

    @property
    def finished(self) -> bool:
        return self.backbone_path.is_file()

    @property
    def resumable(self) -> bool:
        return self.checkpoint_path.is_file() and not self.finished

    def config(self) -> PretrainConfig:
        return PretrainConfig.load(self.config_path)

    def append_metrics(self, records: list[dict]) -> None:
        """Append ``records`` as JSON lines, in one write."""
        with open(self.metrics_path, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(record) + "\n" for record in records))

    def read_metrics(self) -> list[dict]:
        """The recorded rows; a line cut short by a crash mid-write is left out."""
        if not self.metrics_path.is_file():
            return []
        rows = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return rows

    def trim_metrics(self, step: int) -> None:
        """Drop the rows after ``step``, where a resumed run starts: a crash between writing
        the rows and replacing the checkpoint would otherwise record those steps twice."""
        rows = [row for row in self.read_metrics() if row.get("step", 0) <= step]
        temp = self.metrics_path.with_name(f".{self.metrics_path.name}.partial")
        temp.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        os.replace(temp, self.metrics_path)


def prepare_runs_dir(out_dir: str | Path) -> Path:
    """The folder that holds run folders, created; RunFolderError when it cannot be written."""
    parent = Path(out_dir) if out_dir else default_runs_dir()
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"cannot write runs to {parent}: {error.strerror or error}") from error
    if not os.access(parent, os.W_OK):
        raise RunFolderError(f"cannot write runs to {parent}: permission denied")
    return parent


def create_run_folder(out_dir: str | Path, method: str, backbone: str, checkpoints: bool = True) -> RunFolder:
    """Make a fresh, uniquely named run folder (``<stamp>-<method>-<backbone>``, with a
    ``checkpoints`` folder unless told otherwise); raise RunFolderError if ``out_dir`` is unusable."""
    parent = prepare_runs_dir(out_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        for attempt in range(1000):
            suffix = f"-{attempt}" if attempt else ""
            path = parent / f"{stamp}-{method}-{backbone}{suffix}"
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        if checkpoints:
            (path / "checkpoints").mkdir()
    except OSError as error:
        raise RunFolderError(f"cannot write runs to {parent}: {error.strerror or error}") from error
    return RunFolder(path)


def open_run_folder(path: str | Path) -> RunFolder:
    """Open an existing run folder; raise RunFolderError when it is not one."""
    run = RunFolder(Path(path))
    if not run.config_path.is_file():
        raise RunFolderError(f"{path} is not a run folder (no config.json)")
    return run


def find_resumable(data_dir: str | Path, out_dir: str | Path = "") -> list[RunFolder]:
    """Unfinished runs on ``data_dir`` that have a checkpoint, the newest first."""
    parent = Path(out_dir) if out_dir else default_runs_dir()
    if not parent.is_dir():
        return []
    target = Path(data_dir).resolve()
    found = []
    for child in sorted(parent.iterdir(), reverse=True):
        run = RunFolder(child)
        if not (run.config_path.is_file() and run.resumable):
            continue
        try:
            if Path(run.config().data_dir).resolve() == target:
                found.append(run)
        except (ValueError, OSError):
            continue
    return found
