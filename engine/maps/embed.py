"""Embeddings of every image of a folder with a pretrained backbone, cached per run.

The features of a pretraining run's backbone are kept in its embeddings folder as ``<key>.npy``
(float32 ``(N, D)``) with ``<key>.json`` (the row paths, written last). The key hashes the
decoded-image store's key (root, size, channels, every file's path/bytes/mtime) and the
backbone file's mtime, so a changed folder or a retrained backbone computes afresh.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from engine.core import atomic
from engine.core.device import choose_device
from engine.core.events import CancelToken, Progress, Stage, Warning, ignore_events
from engine.core.locks import holding
from engine.data.augment import normalize_only
from engine.data.decoded_store import ImageStore, build_store, cache_key
from engine.data.scan import ScanReport, reuse_or_scan
from engine.models.model_io import load_backbone
from engine.store.runs import PretrainRun, backbone_file

EMBED_BATCH = 256
EMBED_VERSION = 1


@dataclass
class EmbeddedImages:
    """A folder's decoded images and their backbone features, row for row.

    ``features`` is float32 ``(N, D)``, the raw (unnormalised) backbone output of
    ``store.images[i]``, whose path relative to ``root`` is ``store.paths[i]``. Files
    derived from these features (a map layout) go beside them as ``<cache_stem>.<suffix>``,
    and are dropped with them when the folder or the backbone changes.
    """

    root: str
    store: ImageStore
    features: np.ndarray
    backbone: nn.Module
    meta: dict
    device: torch.device
    cache_stem: Path

    @property
    def paths(self) -> list[str]:
        return self.store.paths

    def rows(self) -> dict[str, int]:
        """``{relative path: row}``."""
        return {path: i for i, path in enumerate(self.store.paths)}


def open_images(meta: dict, data_dir: str = "", cache_dir: str = "", on_event=None,
                cancel: Optional[CancelToken] = None,
                scan: Optional[ScanReport] = None) -> tuple[ScanReport, ImageStore]:
    """Scan (unless ``scan`` is one of it already) and decode the folder (default: the one the
    backbone was pretrained on) at the backbone's image size and channel count. Files that
    cannot be decoded become a Warning."""
    emit = on_event or ignore_events
    root = data_dir or meta["config"]["data_dir"]
    report = reuse_or_scan(root, scan, emit, cancel, verify=False).require_usable()
    store, problems = build_store(report, meta["image_size"], meta["in_channels"], cache_dir=cache_dir or None,
                                  on_event=emit, cancel=cancel)
    if problems:
        names = ", ".join(p.path for p in problems[:5]) + (" …" if len(problems) > 5 else "")
        emit(Warning(f"{len(problems)} image(s) could not be decoded and were left out: {names}"))
    return report, store


@torch.no_grad()
def compute_features(model: nn.Module, store: ImageStore, mean: Sequence[float], std: Sequence[float],
                     device: torch.device, on_event=None, cancel: Optional[CancelToken] = None,
                     stage: Stage = Stage.EMBED, batch_size: int = EMBED_BATCH) -> torch.Tensor:
    """``model`` applied to every image of ``store`` with the evaluation transform, in eval
    mode and without gradients: float32 ``(N, D)`` on the CPU."""
    emit = on_event or ignore_events
    was_training = model.training
    model.eval()
    outputs = []
    try:
        for first in range(0, len(store), batch_size):
            if cancel is not None:
                cancel.check()
            images = store.batch(torch.arange(first, min(first + batch_size, len(store)))).to(device)
            outputs.append(model(normalize_only(images, store.size, mean, std)).float().cpu())
            emit(Progress(stage, min(first + batch_size, len(store)), len(store)))
    finally:
        model.train(was_training)
    return torch.cat(outputs)


def embed_run(run_dir: Union[str, Path], data_dir: str = "", device: str = "auto", cache_dir: str = "",
              on_event=None, cancel: Optional[CancelToken] = None,
              scan: Optional[ScanReport] = None) -> EmbeddedImages:
    """Backbone features of every image, from the run's cache when it is current. ``scan``: a
    scan of the folder the caller already has, used instead of scanning again."""
    emit = on_event or ignore_events
    torch_device = choose_device(device)
    backbone, meta = load_backbone(backbone_file(run_dir), torch_device)
    report, store = open_images(meta, data_dir, cache_dir, emit, cancel, scan)
    folder = PretrainRun(Path(meta["run_dir"])).embeddings_dir
    key = _embedding_key(report, meta)
    with holding(str(folder / key), cancel):
        features = _load_cached(folder, key, store.paths)
        if features is None:
            features = compute_features(backbone, store, meta["mean"], meta["std"], torch_device, emit,
                                        cancel).numpy()
            try:
                _save_cached(folder, key, features, store.paths)
            except OSError as error:
                emit(Warning(f"cannot cache the embeddings in {folder} ({atomic.refusal_reason(error)}); "
                             "they will be computed again next time"))
    return EmbeddedImages(report.root, store, features, backbone, meta, torch_device, folder / key)


def _embedding_key(report: ScanReport, meta: dict) -> str:
    mtime = os.stat(meta["path"]).st_mtime_ns
    text = f"{EMBED_VERSION}\0{cache_key(report, meta['image_size'], meta['in_channels'])}\0{mtime}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _load_cached(folder: Path, key: str, paths: list[str]) -> Optional[np.ndarray]:
    try:
        if json.loads((folder / f"{key}.json").read_text())["paths"] != paths:
            return None
        features = np.load(folder / f"{key}.npy")
    except (OSError, ValueError, KeyError):
        return None
    return features if features.shape[0] == len(paths) else None


def _save_cached(folder: Path, key: str, features: np.ndarray, paths: list[str]) -> None:
    """Write ``<key>.npy``, then ``<key>.json``; when either is refused, neither is left."""
    folder.mkdir(exist_ok=True)
    atomic.remove_stale_temps(folder)
    for stale in folder.iterdir():               # one current cache per run is enough
        if not stale.name.startswith((key, ".")):    # temporary files belong to writers at work
            stale.unlink(missing_ok=True)
    array = folder / f"{key}.npy"
    atomic.write_atomic(array, lambda handle: np.save(handle, features.astype(np.float32)))
    try:
        atomic.write_json(folder / f"{key}.json", {"paths": paths})
    except BaseException:
        array.unlink(missing_ok=True)
        raise
