"""Trained runs to export, shared by the export and predict tests (built once per session).

* ``finetuned``: a linear probe on the grayscale pattern images of :mod:`fewlabel_data`;
* ``rgb_run``: a 2-step RGB pretraining run on 32 px shapes at 16 px;
* ``well_labeled``: the same probe on 7 labels per class (21: enough to compare INT8 by accuracy);
* ``exported``: a cached ``export_model`` call per set of options.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from engine import PretrainConfig, run_pretraining
from engine.data.augment import normalize_only
from engine.data.decoded_store import build_store
from engine.data.scan import scan_folder
from engine.export.run import ExportResult, export_model
from engine.finetune.config import FinetuneConfig
from engine.finetune.run import run_finetune
from engine.store.runs import open_run_folder
from tests.engine.fewlabel_data import pick, pretrained  # noqa: F401 - the fixture
from tests.image_files import write_shape_images

__all__ = ["finetuned", "well_labeled", "rgb_run", "exported", "pretrained"]


def _probe(pretrained, tmp_path_factory, per_class: int) -> tuple[Path, Path, dict[str, str]]:   # noqa: F811
    run_dir, root, truth = pretrained
    cfg = FinetuneConfig(pretrain_run=str(run_dir), out_dir=str(tmp_path_factory.mktemp("ft")), mode="linear",
                         device="cpu", cache_dir=str(run_dir.parent.parent / "cache"))
    return Path(run_finetune(cfg, pick(truth, per_class)).run_dir), root, truth


@pytest.fixture(scope="session")
def finetuned(pretrained, tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:   # noqa: F811
    """(fine-tune run folder, image root, every image's true class) of a probe on 9 labels."""
    return _probe(pretrained, tmp_path_factory, 3)


@pytest.fixture(scope="session")
def well_labeled(pretrained, tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:   # noqa: F811
    """Like ``finetuned``, on 21 labels."""
    return _probe(pretrained, tmp_path_factory, 7)


@pytest.fixture(scope="session")
def rgb_run(tmp_path_factory) -> tuple[Path, Path]:
    """(pretraining run folder, image root) of RGB images."""
    base = tmp_path_factory.mktemp("rgb")
    root = base / "images"
    write_shape_images(root / "a", 8, seed=1)
    write_shape_images(root / "b", 8, size=40, seed=2)
    cfg = PretrainConfig(data_dir=str(root), out_dir=str(base / "runs"), cache_dir=str(base / "cache"),
                         backbone="smallcnn", method="simclr", image_size=16, batch_size=8, epochs=1,
                         device="cpu", seed=0)
    return Path(run_pretraining(cfg).run_dir), root


@pytest.fixture(scope="session")
def exported(finetuned, rgb_run, tmp_path_factory):
    """``exported(kind="classifier", raw_input=False, fp16=False, int8=False) -> ExportResult``,
    cached: classifiers come from ``finetuned``, embeddings from ``rgb_run``."""
    folder = tmp_path_factory.mktemp("onnx")
    cache: dict[tuple, ExportResult] = {}

    def export(kind: str = "classifier", raw_input: bool = False, fp16: bool = False,
               int8: bool = False) -> ExportResult:
        key = (kind, raw_input, fp16, int8)
        if key not in cache:
            source = finetuned[0] if kind == "classifier" else rgb_run[0]
            name = f"{kind}{'-raw' if raw_input else ''}{'-fp16' if fp16 else ''}{'-int8' if int8 else ''}.onnx"
            cache[key] = export_model(source, folder / name[:-5] / name, kind=kind, raw_input=raw_input, fp16=fp16,
                                      int8=int8)
        return cache[key]

    return export


def session_of(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def training_images(pretrain_run: Path, channels: int) -> torch.Tensor:
    """uint8 (N, C, S, S): the run's images as training decoded them (from its cache)."""
    cfg = open_run_folder(pretrain_run).config()
    store, _ = build_store(scan_folder(cfg.data_dir, verify=False), cfg.image_size, channels, cache_dir=cfg.cache_dir)
    return store.images


def model_input(images: torch.Tensor, raw_input: bool, meta: dict) -> np.ndarray:
    """uint8 (B, C, S, S) -> raw uint8 (B, S, S, C), or normalised float (B, C, S, S)."""
    if raw_input:
        return images.permute(0, 2, 3, 1).numpy()
    return normalize_only(images, meta["image_size"], meta["mean"], meta["std"]).numpy()
