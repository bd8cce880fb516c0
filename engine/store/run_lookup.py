"""Finding a folder's runs: its finished pretraining runs, the fine-tune to show, and how to name a run.

Cheap (no torch): the GUI calls these on its own thread.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional, Sequence

from engine.core.config import METHOD_NAMES
from engine.store.runs import FinetuneRun, PathLike, PretrainRun, default_runs_dir


def finished_pretrain_runs(data_dir: PathLike, runs_dirs: Sequence[PathLike] = (),
                           known: Sequence[PathLike] = ()) -> list[PretrainRun]:
    """Finished pretraining runs (with a backbone) on ``data_dir``, newest backbone first.

    Looks in each of ``runs_dirs`` (and the default runs folder) and at the ``known`` run
    folders (the project's records); a run counts when its config's data_dir is ``data_dir``.
    """
    candidates = {os.path.realpath(path) for path in known}
    for parent in {Path(p) for p in runs_dirs if p} | {default_runs_dir()}:
        if parent.is_dir():
            candidates.update(os.path.realpath(child) for child in parent.iterdir() if child.is_dir())
    runs = [PretrainRun(Path(path)) for path in candidates]
    found = [run for run in runs if run.finished and run.trained_on(data_dir)]
    found.sort(key=lambda run: run.backbone_path.stat().st_mtime, reverse=True)
    return found


def latest_finetune_run(candidates: Sequence[PathLike],
                        pretrain_runs: Sequence[PathLike] = ()) -> Optional[FinetuneRun]:
    """The first of ``candidates`` (fine-tune run folders or their classifier files) that still
    holds a classifier and predictions, else the newest such run in the fine-tune folder of
    the first of ``pretrain_runs`` that has one."""
    for candidate in candidates:
        path = Path(candidate)
        run = FinetuneRun(path.parent if path.is_file() or path.suffix == ".pt" else path)
        if run.usable:
            return run
    for pretrain in pretrain_runs:
        folder = PretrainRun(Path(pretrain)).finetune_dir
        runs = sorted(folder.iterdir(), reverse=True) if folder.is_dir() else []
        usable = [run for run in map(FinetuneRun, runs) if run.usable]
        if usable:
            return usable[0]
    return None


def describe_pretrain_run(run: PretrainRun) -> str:
    """"SimCLR · smallcnn · 480 images · 12 epochs · 30 Nov 10:36" (or "· 10 min" for a time
    budget; the time is when the backbone was saved, else the run folder's name)."""
    config = run.config_dict()
    parts = [METHOD_NAMES.get(config.get("method"), config.get("method") or "?"), config.get("backbone") or "?"]
    images = run.image_count()
    if images is not None:
        parts.append(f"{images:,} image{'s' if images != 1 else ''}")
    epochs = config.get("epochs", "?")
    plural = "" if epochs == 1 else "s"
    parts.append(f"{config['minutes']:g} min" if config.get("minutes") else f"{epochs} epoch{plural}")
    try:
        parts.append(time.strftime("%d %b %H:%M", time.localtime(run.backbone_path.stat().st_mtime)))
    except OSError:
        parts.append(run.path.name)
    return " · ".join(parts)
