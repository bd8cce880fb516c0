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

import contextlib
import errno
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from engine.core.atomic import disk_error, refusal_reason, write_text
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
        """Append ``records`` as JSON lines.

        An append, not an atomic rewrite: it runs with every checkpoint, and rewriting the
        whole file each time would cost time growing with the run. A refused write (a full
        disk) cuts the file back to its earlier lines and raises :class:`DiskWriteError`,
        so no torn line is left for the next append to run into."""
        text = "".join(json.dumps(record) + "\n" for record in records).encode("utf-8")
        try:
            with open(self.metrics_path, "ab", buffering=0) as handle:
                kept, left = handle.tell(), memoryview(text)
                try:
                    while left:
                        left = left[handle.write(left):]
                except BaseException:
                    handle.truncate(kept)
                    raise
        except OSError as error:
            raise disk_error(self.metrics_path, error) from error

    def read_metrics(self) -> list[dict]:
        """The recorded rows; a line cut short by a crash mid-write, or one that is not a JSON object, is left out."""
        if not self.metrics_path.is_file():
            return []
        rows = []
        for line in self.metrics_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows

    def trim_metrics(self, step: int) -> None:
        """Drop the rows after ``step``, where a resumed run starts: a crash between writing
        the rows and replacing the checkpoint would otherwise record those steps twice."""
        rows = [row for row in self.read_metrics() if row.get("step", 0) <= step]
        write_text(self.metrics_path, "".join(json.dumps(row) + "\n" for row in rows))


def prepare_runs_dir(out_dir: str | Path) -> Path:
    """The folder that holds run folders, created; RunFolderError when it cannot be written."""
    parent = Path(out_dir) if out_dir else default_runs_dir()
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"cannot write runs to {parent}: {refusal_reason(error)}") from error
    if not os.access(parent, os.W_OK):
        raise RunFolderError(f"cannot write runs to {parent}: {_unwritable_reason(parent)}")
    return parent


def _unwritable_reason(folder: Path) -> str:
    """Why the OS will refuse writes in ``folder``: a read-only file system, or permissions."""
    read_only = hasattr(os, "statvfs") and os.statvfs(folder).f_flag & os.ST_RDONLY
    code = errno.EROFS if read_only else errno.EACCES
    return refusal_reason(OSError(code, os.strerror(code)))


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
        raise RunFolderError(f"cannot write runs to {parent}: {refusal_reason(error)}") from error
    return RunFolder(path)


@contextlib.contextmanager
def removed_on_failure(run: RunFolder) -> Iterator[RunFolder]:
    """Delete ``run``'s folder when the block raises (a full disk, say) and re-raise: a folder
    holding only some of its files must not pass for a run."""
    try:
        yield run
    except BaseException:
        shutil.rmtree(run.path, ignore_errors=True)
        raise


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
