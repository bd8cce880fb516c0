"""Run folders: the one place that knows their file names.

A pretraining run (:class:`PretrainRun`)::

    <runs dir>/<YYYYmmdd-HHMMSS>-<method>-<backbone>/
        config.json        the resolved PretrainConfig (data_dir absolute and resolved)
        scan.json          the scan report the run trained on
        metrics.jsonl      one JSON object per step and per epoch, written with each checkpoint
        checkpoints/last.pt   the newest checkpoint
        checkpoints/prev.pt   the one before it, for resuming when last.pt is damaged
        backbone.pt        the final backbone weights (written when the run completes)
        embeddings/        cached features of the images (see engine.maps.embed)
        finetune/          the default parent of the fine-tune runs on this backbone

A fine-tune run (:class:`FinetuneRun`, see :mod:`engine.finetune.run`)::

    <out>/<stamp>-finetune-<mode>/
        config.json        the resolved FinetuneConfig (pretrain_run and data_dir absolute and resolved)
        labels.csv         the labels trained on (path,label)
        metrics.jsonl      one record per training step, then the validation
        classifier.pt      see engine.models.model_io
        predictions.csv    path,prediction,confidence,runner_up,runner_up_confidence,label

Finding a folder's runs is :mod:`engine.store.run_lookup`.
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
from typing import Iterator, Union

from engine.core.atomic import disk_error, refusal_reason, write_text
from engine.core.config import PretrainConfig
from engine.core.places import data_root

PathLike = Union[str, Path]


class RunFolderError(ValueError):
    """A run folder cannot be created or opened; the message says why."""


def default_runs_dir() -> Path:
    return data_root() / "runs"


@dataclass(frozen=True)
class RunFolder:
    """What every run folder has: its config and its metrics."""

    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def config_dict(self) -> dict:
        """The saved config as plain data; {} when it is missing or unreadable."""
        try:
            config = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return config if isinstance(config, dict) else {}

    def trained_on(self, data_dir: PathLike) -> bool:
        """True when its config's data_dir is the folder ``data_dir`` (both resolved)."""
        saved = self.config_dict().get("data_dir")
        try:
            return bool(saved) and Path(saved).resolve() == Path(data_dir).resolve()
        except (OSError, ValueError):
            return False

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


@dataclass(frozen=True)
class PretrainRun(RunFolder):
    """A self-supervised pretraining run: resumable from its checkpoint, finished once it has a backbone."""

    @property
    def scan_path(self) -> Path:
        return self.path / "scan.json"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def checkpoint_path(self) -> Path:
        return self.checkpoint_dir / "last.pt"

    @property
    def previous_checkpoint_path(self) -> Path:
        return self.checkpoint_dir / "prev.pt"

    @property
    def backbone_path(self) -> Path:
        return self.path / "backbone.pt"

    @property
    def embeddings_dir(self) -> Path:
        return self.path / "embeddings"

    @property
    def finetune_dir(self) -> Path:
        """The default parent of the fine-tune runs on this backbone."""
        return self.path / "finetune"

    @property
    def finished(self) -> bool:
        return self.backbone_path.is_file()

    def image_count(self) -> int | None:
        """How many images the run trained on (from its saved scan); None when that is unknown."""
        try:
            images = json.loads(self.scan_path.read_text(encoding="utf-8")).get("images")
        except (OSError, ValueError, AttributeError):
            return None
        return len(images) if isinstance(images, list) else None

    @property
    def resumable(self) -> bool:
        return (self.checkpoint_path.is_file() or self.previous_checkpoint_path.is_file()) and not self.finished

    def config(self) -> PretrainConfig:
        return PretrainConfig.load(self.config_path)


@dataclass(frozen=True)
class FinetuneRun(RunFolder):
    """A fine-tune run: a classifier, the labels it learned from and its predictions."""

    @property
    def labels_path(self) -> Path:
        return self.path / "labels.csv"

    @property
    def classifier_path(self) -> Path:
        return self.path / "classifier.pt"

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.csv"

    @property
    def usable(self) -> bool:
        """True when the run holds a classifier and its predictions."""
        return self.classifier_path.is_file() and self.predictions_path.is_file()

    def pretrain_run(self) -> str:
        """The pretraining run folder it started from ("" when its config names none); older
        runs that named the backbone file are read as its folder."""
        source = self.config_dict().get("pretrain_run", "")
        return str(Path(source).parent) if source.endswith(".pt") else source

    def validation(self) -> dict:
        """The validation recorded last (see engine.finetune.validation), {} when none."""
        return next((row["validation"] for row in reversed(self.read_metrics()) if "validation" in row), {})


def backbone_file(path: PathLike) -> Path:
    """``path`` itself when it is a file, else the backbone file of the pretraining run ``path``."""
    path = Path(path)
    return path if path.is_file() else PretrainRun(path).backbone_path


def classifier_file(path: PathLike) -> Path:
    """``path`` itself when it is a file, else the classifier file of the fine-tune run ``path``."""
    path = Path(path)
    return path if path.is_file() else FinetuneRun(path).classifier_path


def holds_classifier(path: PathLike) -> bool:
    """True when ``path`` is a classifier file (by its name) or a fine-tune run folder with one."""
    path = Path(path)
    if path.is_file():
        return path.name == FinetuneRun(path.parent).classifier_path.name
    return FinetuneRun(path).classifier_path.is_file()


def holds_backbone(path: PathLike) -> bool:
    """True when ``path`` is a backbone file (by its name) or a pretraining run folder with one."""
    path = Path(path)
    if path.is_file():
        return path.name == PretrainRun(path.parent).backbone_path.name
    return PretrainRun(path).finished


def is_run_folder(path: PathLike) -> bool:
    """True when ``path`` is a model file or a folder with a config or a model."""
    path = Path(path)
    return path.is_file() or RunFolder(path).config_path.is_file() or holds_classifier(path) or holds_backbone(path)


def prepare_runs_dir(out_dir: PathLike) -> Path:
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


def create_pretrain_run(out_dir: PathLike, method: str, backbone: str) -> PretrainRun:
    """A fresh ``<stamp>-<method>-<backbone>`` folder with its checkpoints folder; RunFolderError
    if ``out_dir`` is unusable."""
    run = PretrainRun(_unique_folder(out_dir, f"{method}-{backbone}"))
    try:
        run.checkpoint_dir.mkdir()
    except OSError as error:
        raise RunFolderError(f"cannot write runs to {run.path.parent}: {refusal_reason(error)}") from error
    return run


def create_finetune_run(out_dir: PathLike, mode: str) -> FinetuneRun:
    """A fresh ``<stamp>-finetune-<mode>`` folder; RunFolderError if ``out_dir`` is unusable."""
    return FinetuneRun(_unique_folder(out_dir, f"finetune-{mode}"))


def _unique_folder(out_dir: PathLike, name: str) -> Path:
    parent = prepare_runs_dir(out_dir).resolve()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        for attempt in range(1000):
            path = parent / f"{stamp}-{name}{f'-{attempt}' if attempt else ''}"
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    except OSError as error:
        raise RunFolderError(f"cannot write runs to {parent}: {refusal_reason(error)}") from error
    raise RunFolderError(f"cannot write runs to {parent}: too many runs started this second")


@contextlib.contextmanager
def removed_on_failure(run: RunFolder) -> Iterator[RunFolder]:
    """Delete ``run``'s folder when the block raises (a full disk, say) and re-raise: a folder
    holding only some of its files must not pass for a run."""
    try:
        yield run
    except BaseException:
        shutil.rmtree(run.path, ignore_errors=True)
        raise


def open_run_folder(path: PathLike) -> PretrainRun:
    """Open an existing pretraining run folder; raise RunFolderError when it is not one."""
    run = PretrainRun(Path(path))
    if not run.config_path.is_file():
        raise RunFolderError(f"{path} is not a run folder (no {run.config_path.name})")
    return run


def find_resumable(data_dir: PathLike, out_dir: PathLike = "") -> list[PretrainRun]:
    """Unfinished runs on ``data_dir`` that have a checkpoint, the newest first."""
    parent = Path(out_dir) if out_dir else default_runs_dir()
    if not parent.is_dir():
        return []
    runs = (PretrainRun(child) for child in sorted(parent.iterdir(), reverse=True))
    return [run for run in runs if run.resumable and run.trained_on(data_dir)]
