"""Pretext Studio's engine: plain Python + torch, never Qt.

The API is a set of plain functions shared by the GUI worker, the CLI and the tests::

    report = engine.scan(root, on_event=sink, cancel=token)
    result = engine.pretrain(cfg, on_event=sink, cancel=token)
    result = engine.run_finetune(cfg, labels, on_event=sink, cancel=token)
    result = engine.export_model(run_dir, "model.onnx", on_event=sink, cancel=token)

Heavy modules (torch) load on first use, so importing ``engine`` stays cheap.
"""
from __future__ import annotations

import engine.scan  # noqa: F401  (loaded first, so the function below keeps the name `scan`)
from engine.config import ConfigError, PretrainConfig
from engine.events import (
    CancelToken, Cancelled, CheckpointSaved, EpochEnded, Finished, Preview, Progress, Started, Warning,
)

__all__ = [
    "scan", "pretrain", "run_finetune", "export_model", "PretrainConfig", "ConfigError", "CancelToken", "Cancelled",
    "Started", "Progress", "EpochEnded", "CheckpointSaved", "Preview", "Warning", "Finished",
]


def scan(root, on_event=None, cancel=None, verify=True):
    """Index the images under ``root``; see :func:`engine.scan.scan_folder`."""
    from engine.scan import scan_folder

    return scan_folder(root, on_event=on_event, cancel=cancel, verify=verify)


def pretrain(cfg, on_event=None, cancel=None, resume=None):
    """Run (or resume, given a run folder) self-supervised pretraining; see :mod:`engine.train`."""
    from engine.train import run_pretraining

    return run_pretraining(cfg, on_event=on_event, cancel=cancel, resume=resume)


def run_finetune(cfg, labels, on_event=None, cancel=None):
    """Train a classifier on a few labels; see :mod:`engine.finetune`."""
    from engine import finetune

    return finetune.run_finetune(cfg, labels, on_event=on_event, cancel=cancel)


def export_model(source, out_path, on_event=None, cancel=None, **options):
    """Export and verify an ONNX model; see :mod:`engine.export`."""
    from engine import export

    return export.export_model(source, out_path, on_event=on_event, cancel=cancel, **options)
