"""Few-label fine-tuning: a pretrained backbone and a handful of labels become a classifier.

:func:`run_finetune` embeds every image (cached per pretraining run), fits the chosen
mode (see :mod:`engine.finetune.config`), estimates its accuracy on the labels
(:mod:`engine.finetune.validation`), predicts every image, and writes a fine-tune run folder
(:class:`engine.store.runs.FinetuneRun`): its resolved config (mode, classes and the
absolute pretraining run filled in), the labels trained on, the metrics, the classifier and
every image's prediction. The folder is written when the run completes; a cancelled run
leaves nothing behind, and neither does one whose files cannot be written (a full disk:
:class:`~engine.core.atomic.DiskWriteError`).

A training-time budget (``minutes``) goes mostly to the model the user gets: the final
network trains for ``FINAL_SHARE`` of it, and the validation folds share the rest, each
with proportionally fewer steps. Their estimate is then a cautious one, and the
validation dict says so with ``steps: {"final", "fold"}``.
"""
from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import torch
from torch import Tensor

from engine.core.atomic import write_text
from engine.core.events import (
    Cancelled, CancelToken, FinetuneStart, FinetuneSummary, Finished, Progress, Stage, Started, Warning, ignore_events,
)
from engine.data.scan import ScanReport
from engine.finetune.config import FinetuneConfig, resolve_mode
from engine.finetune.consistency import MAX_STEPS as CONSISTENCY_MAX_STEPS
from engine.finetune.full import auto_steps
from engine.finetune.learners import ConsistencyLearner, FullLearner, LinearLearner, SemiLearner
from engine.finetune.probe import DEFAULT_L2
from engine.finetune.validation import choose_folds, cross_validate
from engine.maps.embed import EmbeddedImages, embed_run
from engine.models.model_io import save_classifier
from engine.store.project_io import path_in_root, write_labels_csv
from engine.store.runs import (
    FinetuneRun, PretrainRun, backbone_file, create_finetune_run, prepare_runs_dir, removed_on_failure,
)

BACKBONE_META = ("image_size", "in_channels", "mean", "std", "backbone", "small_stem", "feature_dim", "method")
PREDICTION_COLUMNS = ("path", "prediction", "confidence", "runner_up", "runner_up_confidence", "label")
FINAL_SHARE = 0.85           # of a training-time budget, for the final model; the validation folds share the rest.
                             # 0.85 instead of 0.5: +0.9 points at K = 10 after 6 + 2 min (3 label seeds, each better)


@dataclass(frozen=True)
class FinetuneResult:
    run_dir: str                 # "" when cancelled
    status: str                  # "completed" or "cancelled"
    mode: str
    mode_reason: str
    classes: tuple
    labels_used: int
    validation: dict             # see engine.finetune.validation.cross_validate; {} when cancelled


@dataclass(frozen=True)
class Prediction:
    path: str
    prediction: str
    confidence: float
    runner_up: str
    runner_up_confidence: float
    label: str                   # "" when the image has no label


def run_finetune(cfg: FinetuneConfig, labels: Mapping[str, str], on_event=None,
                 cancel: Optional[CancelToken] = None, scan: Optional[ScanReport] = None) -> FinetuneResult:
    """Fine-tune on ``labels`` (``{path relative to the image root: class name}``). ``scan``: a
    scan of the image folder the caller already has, used instead of scanning again.

    Raises ValueError (ConfigError, ScanError, ...) with a one-line reason for bad input:
    no labels, fewer than two classes, a class without labels, no finished pretraining.
    Cancelled never escapes: a cancelled run returns ``status="cancelled"``.
    """
    emit = on_event or ignore_events
    cancel = cancel or CancelToken()
    cfg.validate()
    classes = check_labels(labels, cfg.classes)
    backbone = backbone_file(cfg.pretrain_run)
    if not backbone.is_file():
        raise ValueError(f"no finished pretraining in {cfg.pretrain_run}: run pretraining first")
    pretrain_run = PretrainRun(backbone.parent.resolve())
    parent = prepare_runs_dir(cfg.out_dir or pretrain_run.finetune_dir)
    torch.manual_seed(cfg.seed)
    try:
        images = embed_run(cfg.pretrain_run, cfg.data_dir, cfg.device, cfg.cache_dir, emit, cancel, scan)
        rows, y = _match(images, labels, classes, emit)
        per_class = torch.bincount(y, minlength=len(classes))
        mode, reason = resolve_mode(cfg.mode, int(per_class.min()), len(rows), len(images.paths))
        cfg = cfg.replace(mode=mode, classes=tuple(classes), pretrain_run=str(pretrain_run.path),
                          data_dir=str(Path(images.root).resolve()))
        learner = _learner(cfg, images, len(rows), cancel)
        scheme, folds = choose_folds(y, len(classes), cfg.folds, cfg.seed, allow_loo=mode == "linear")
        records: list[dict] = []
        emit(Started(Stage.FINETUNE, learner.total_steps, FinetuneStart(
            mode=mode, mode_reason=reason, classes=tuple(classes), labels=len(rows),
            images=len(images.paths), validation=scheme, device=str(images.device))))
        budget = _budget(cfg, len(folds))
        model = learner.fit(rows, y, on_event=_recorder(emit, cancel, records), budget_s=budget)
        steps = {}
        if budget is not None and folds:
            steps = {"final": learner.steps, "fold": fold_steps(learner.steps, len(folds))}
            learner.steps = steps["fold"]
        validation = cross_validate(lambda train, test: learner.predict(learner.fit(rows[train], y[train]), rows[test]),
                                    y, classes, scheme, folds, emit, cancel)
        if steps:
            validation["steps"] = steps
        probabilities = learner.predict(model)
    except Cancelled:
        emit(Finished(Stage.FINETUNE, "cancelled"))
        return FinetuneResult("", "cancelled", cfg.mode, "", tuple(classes), len(labels), {})
    run = create_finetune_run(parent, mode)
    used = {images.paths[int(r)]: classes[int(c)] for r, c in zip(rows, y)}
    meta = {key: images.meta.get(key) for key in BACKBONE_META}
    meta.update(classes=list(classes), mode=mode, labels_used=len(rows),
                labels_per_class=dict(zip(classes, per_class.tolist())), validation=validation,
                pretrain_run=cfg.pretrain_run, data_dir=cfg.data_dir, created=time.time())
    with removed_on_failure(run):
        cfg.save(run.config_path)
        write_labels_csv(used, run.labels_path)
        run.append_metrics(records + [{"validation": validation}])
        save_classifier(run.classifier_path, learner.classifier(model), meta)
        write_predictions(run.predictions_path, images.paths, probabilities, classes, used)
    summary = FinetuneSummary(run_dir=str(run.path), mode=mode, accuracy=validation["accuracy"], scheme=scheme)
    emit(Finished(Stage.FINETUNE, "completed", summary))
    return FinetuneResult(str(run.path), "completed", mode, reason, tuple(classes), len(rows), validation)


def check_labels(labels: Mapping[str, str], classes: Sequence[str] = ()) -> list[str]:
    """The class order to train with, or ValueError saying what is wrong with ``labels``."""
    if not labels:
        raise ValueError("there are no labels: label a few images of each class (at least two classes) first")
    named = sorted(set(labels.values()))
    classes = list(classes) or named
    unknown = sorted(set(named) - set(classes))
    if unknown:
        raise ValueError(f"labels name classes that are not in the class list: {', '.join(unknown)}")
    if len(classes) < 2:
        raise ValueError(f"there is only one class ('{classes[0]}'): a classifier needs at least two")
    empty = [name for name in classes if name not in set(named)]
    if empty:
        raise ValueError(f"class {', '.join(repr(n) for n in empty)} has no label: label at least one of its "
                         "images, or delete the class")
    return classes


def _match(images: EmbeddedImages, labels: Mapping[str, str], classes: list[str], emit) -> tuple[Tensor, Tensor]:
    """Store rows ``(n,)`` and class indices ``(n,)`` of the labels whose image is in the folder."""
    index = images.rows()
    labels = {path_in_root(path, images.root) or path: name for path, name in labels.items()}
    missing = sorted(path for path in labels if path not in index)
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        emit(Warning(f"{len(missing)} labeled file(s) are not in {images.root} any more and were left out: {shown}"))
        try:
            check_labels({p: c for p, c in labels.items() if p in index}, classes)
        except ValueError as error:
            raise ValueError(f"after leaving out the labels of missing files, {error}") from None
    found = [(index[p], classes.index(c)) for p, c in sorted(labels.items()) if p in index]
    return torch.tensor([r for r, _ in found]), torch.tensor([c for _, c in found])


def _learner(cfg: FinetuneConfig, images: EmbeddedImages, labeled: int, cancel):
    l2 = cfg.weight_decay or DEFAULT_L2
    if cfg.mode == "linear":
        return LinearLearner(images, len(cfg.classes), l2)
    if cfg.mode == "semi" and (cfg.minutes or cfg.steps):
        return ConsistencyLearner(images, len(cfg.classes), l2, cfg.neighbours, cfg.steps or CONSISTENCY_MAX_STEPS,
                                  cfg.seed, cancel)
    if cfg.mode == "semi":
        return SemiLearner(images, len(cfg.classes), l2, cfg.neighbours)
    return FullLearner(images, len(cfg.classes), l2, cfg.steps or auto_steps(labeled), cfg.lr,
                       cfg.backbone_lr_scale, cfg.seed, cancel)


def _budget(cfg: FinetuneConfig, folds: int) -> Optional[float]:
    """Seconds for the final network training (full, or semi with a budget): ``FINAL_SHARE``
    of the budget when ``folds`` validation folds follow, all of it when none do."""
    if not cfg.minutes or cfg.mode not in ("full", "semi"):
        return None
    return cfg.minutes * 60 * (FINAL_SHARE if folds else 1.0)


def fold_steps(final_steps: int, folds: int) -> int:
    """Steps for each of ``folds`` validation folds, so that together they take the
    budget's other ``1 - FINAL_SHARE`` at the pace that gave the final model ``final_steps``."""
    return max(1, round(final_steps * (1 - FINAL_SHARE) / (FINAL_SHARE * folds)))


def _recorder(emit, cancel: CancelToken, records: list):
    """An ``on_event`` that checks ``cancel``, keeps each training step for the metrics, and emits."""
    def record(event):
        cancel.check()
        if isinstance(event, Progress):
            records.append({"step": event.step, **event.metrics.as_dict()})
        emit(event)
    return record


def write_predictions(path: Path, paths: Sequence[str], probabilities: Tensor, classes: Sequence[str],
                      labels: Mapping[str, str]) -> None:
    """One row per image: the likeliest class and the runner-up with their probabilities."""
    top = probabilities.topk(2, dim=1)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(PREDICTION_COLUMNS)
    for i, image in enumerate(paths):
        (p1, p2), (c1, c2) = top.values[i].tolist(), top.indices[i].tolist()
        writer.writerow([image, classes[c1], f"{p1:.4f}", classes[c2], f"{p2:.4f}", labels.get(image, "")])
    write_text(path, text.getvalue())


def read_predictions(run_dir: Union[str, Path]) -> list[Prediction]:
    """The predictions of a fine-tune run folder; ValueError when it has none."""
    path = FinetuneRun(Path(run_dir)).predictions_path
    if not path.is_file():
        raise ValueError(f"no predictions in {run_dir}: run fine-tuning first")
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from error
    predictions = []
    for line, row in enumerate(rows, start=2):
        try:
            predictions.append(Prediction(row["path"], row["prediction"], float(row["confidence"]), row["runner_up"],
                                          float(row["runner_up_confidence"]), row["label"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path} is damaged: line {line} is not a prediction row "
                             f"({', '.join(PREDICTION_COLUMNS)}); fine-tune again to write it anew") from None
    return predictions
