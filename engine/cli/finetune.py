"""The CLI's labeling commands, registered by :mod:`engine.cli`::

    pretext-studio-cli suggest RUN_DIR [--n 20] [--labels labels.csv]
    pretext-studio-cli finetune RUN_DIR --labels labels.csv [--mode auto|linear|full|semi] [--minutes M] [--out DIR]

``suggest`` takes a pretraining run folder, or a fine-tune run folder to also pick the
images its model is unsure of. Paths in and out are relative to the image root.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.core.config import DEVICES, check_device, check_seed
from engine.finetune.config import MODES

COMMANDS = ("suggest", "finetune")
CANCELLED = 130


def add_parsers(commands: argparse._SubParsersAction) -> None:
    suggest = commands.add_parser("suggest", help="print the images worth labeling first, and why")
    suggest.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a pretraining or fine-tune run folder")
    suggest.add_argument("--n", type=int, default=20, help="how many images (default 20)")
    suggest.add_argument("--labels", type=Path, metavar="LABELS.csv", help="path,label rows already labeled")
    _add_common(suggest)

    tune = commands.add_parser("finetune", help="train a classifier on a few labels")
    tune.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a pretraining run folder")
    tune.add_argument("--labels", type=Path, required=True, metavar="LABELS.csv",
                      help="path,label rows, paths relative to the image root")
    tune.add_argument("--mode", choices=MODES, default="auto")
    tune.add_argument("--minutes", type=float,
                      help="time budget of a full fine-tune, or of semi-supervised training of the whole network")
    tune.add_argument("--steps", type=int, default=0,
                      help="optimiser steps of a full fine-tune (0 = auto), or of semi-supervised training "
                           "of the whole network (0 = none)")
    tune.add_argument("--out", type=Path, help="parent folder for fine-tune runs (default: RUN_DIR/finetune)")
    _add_common(tune)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="the image folder, if it moved since pretraining")
    parser.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICES)} or cuda:N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, help="where decoded images are cached (default: the user cache dir)")


def run(args: argparse.Namespace) -> int:
    return _suggest(args) if args.command == "suggest" else _finetune(args)


def _suggest(args: argparse.Namespace) -> int:
    from engine.cli.console import ConsoleProgress
    from engine.finetune.run import read_predictions
    from engine.maps.embed import embed_run
    from engine.maps.suggest import suggest
    from engine.store.runs import FinetuneRun

    if args.n < 1:
        raise ValueError(f"--n must be at least 1, not {args.n}")
    check_device(args.device)
    check_seed(args.seed)
    pretrain_run, labeled, predictions = args.run_dir, set(), []
    tuned = FinetuneRun(args.run_dir)
    if tuned.classifier_path.is_file():        # a fine-tune run: use its model and labels too
        from engine.models.model_io import load_classifier

        pretrain_run = load_classifier(tuned.classifier_path)[1]["pretrain_run"]
        predictions = read_predictions(args.run_dir)
        labeled |= set(_read_labels(tuned.labels_path))
    if args.labels:
        labeled |= set(_read_labels(args.labels))
    progress = ConsoleProgress()
    try:
        images = embed_run(pretrain_run, str(args.data_dir or ""), args.device, str(args.cache_dir or ""),
                           progress, progress.cancel_token)
    finally:
        progress.close()
    picks = suggest(images.features, images.paths, args.n, labeled, predictions, seed=args.seed)
    print(f"# {len(picks)} images worth labeling first, paths relative to {images.root}")
    for pick in picks:
        print(f"{pick.path}\t{pick.reason}")
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from engine.cli.console import ConsoleProgress
    from engine.finetune.config import FinetuneConfig
    from engine.finetune.run import run_finetune

    labels = _read_labels(args.labels)
    cfg = FinetuneConfig(pretrain_run=str(args.run_dir), out_dir=str(args.out or ""), data_dir=str(args.data_dir or ""),
                         mode=args.mode, steps=args.steps, minutes=args.minutes, device=args.device, seed=args.seed,
                         cache_dir=str(args.cache_dir or "")).validate()
    progress = ConsoleProgress()
    try:
        result = run_finetune(cfg, labels, on_event=progress, cancel=progress.cancel_token)
    finally:
        progress.close()
    if result.status == "cancelled":
        print("cancelled: no run folder was written")
        return CANCELLED
    print(f"mode: {result.mode_reason}")
    print(_validation_text(result.validation, result.labels_used))
    print(f"run folder: {result.run_dir}")
    return 0


def _read_labels(path: Path) -> dict[str, str]:
    from engine.store.project_io import read_labels_csv

    read = read_labels_csv(path)
    if read.bad_rows:
        raise ValueError(f"{path}: line(s) {', '.join(map(str, read.bad_rows[:10]))} are not 'path,label' rows")
    for conflict in read.conflicts:
        print(f"warning: {path}: {conflict.describe()}", file=sys.stderr)
    return read.labels


def _validation_text(validation: dict, labels: int) -> str:
    if validation["accuracy"] is None:
        return "validation: not possible yet, every class needs at least 2 labels"
    per_class = ", ".join(f"{name} {'n/a' if acc is None else f'{acc:.0%}'}"
                          for name, acc in validation["per_class"].items())
    from engine.finetune.validation import likely_range_text, shorter_folds_note

    text = (f"validation ({validation['scheme']} on {validation['evaluated']} of {labels} labels): "
            f"accuracy {validation['accuracy']:.1%} ({likely_range_text(validation)} on new images)\n"
            f"  per class: {per_class}")
    note = shorter_folds_note(validation)
    return text + (f"\n  {note}: a cautious estimate of the final model" if note else "")
