"""Pretext Studio's engine: plain Python + torch, never Qt.

The API is a set of plain functions shared by the GUI worker, the CLI and the tests::

    report = engine.scan(root, on_event=sink, cancel=token)
    result = engine.run_pretraining(cfg, on_event=sink, cancel=token)
    result = engine.run_finetune(cfg, labels, on_event=sink, cancel=token)
    result = engine.export_model(run_dir, "model.onnx", on_event=sink, cancel=token)

The stage packages, each importing only those listed before it (import-linter holds the order)::

    core      events, config types, device, locks, user cache, atomic writes
    data      scan, scan memory, image io, decoded store, GPU decode, augmentation
    models    backbones, model files
    store     run folders, the project database and its label files
    maps      embeddings, projection, layout, similarity, lasso, suggestions
    pretrain  the self-supervised loop, its session, state, schedule and methods
    finetune  learners, semi-supervised training, probe, validation
    deploy    running an exported model: onnxruntime only, never torch
    export    the ONNX graph, its verification and the files beside it
    cli       the headless commands

Heavy modules (torch) load on first use, so importing ``engine`` stays cheap.
"""
from __future__ import annotations

from engine.core.config import ConfigError, PretrainConfig
from engine.core.events import (
    Cancelled, CancelToken, CheckpointSaved, EpochEnded, Finished, Preview, Progress, Stage, Started, Warning,
)

__all__ = [
    "scan", "run_pretraining", "run_finetune", "export_model", "PretrainConfig", "ConfigError", "CancelToken", "Cancelled",
    "Stage", "Started", "Progress", "EpochEnded", "CheckpointSaved", "Preview", "Warning", "Finished",
]


def scan(root, on_event=None, cancel=None, verify=True):
    """Index the images under ``root``; see :func:`engine.data.scan.scan_folder`."""
    from engine.data.scan import scan_folder

    return scan_folder(root, on_event=on_event, cancel=cancel, verify=verify)


def run_pretraining(cfg, on_event=None, cancel=None, resume=None, scan=None):
    """Run (or resume, given a run folder) self-supervised pretraining; see :mod:`engine.pretrain.loop`.
    The gain probe (``cfg.probe_labels``) scores with the fine-tune's linear head and validation."""
    from engine.finetune.quick_probe import probe_accuracy
    from engine.pretrain.loop import run_pretraining

    return run_pretraining(cfg, on_event=on_event, cancel=cancel, resume=resume, scan=scan,
                           probe_scorer=probe_accuracy)


def run_finetune(cfg, labels, on_event=None, cancel=None, scan=None):
    """Train a classifier on a few labels; see :mod:`engine.finetune.run`."""
    from engine.finetune import run

    return run.run_finetune(cfg, labels, on_event=on_event, cancel=cancel, scan=scan)


def export_model(source, out_path, on_event=None, cancel=None, **options):
    """Export and verify an ONNX model; see :mod:`engine.export.run`."""
    from engine.export import run

    return run.export_model(source, out_path, on_event=on_event, cancel=cancel, **options)
