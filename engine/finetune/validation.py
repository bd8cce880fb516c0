"""How well a few-label classifier will do, estimated on its own labels.

With few labels a fixed hold-out split wastes them, so every label is used for both:
leave-one-out when the smallest class has fewer than ``LOO_BELOW`` labels (cheap on
frozen features), stratified k-fold otherwise. A label whose class has no other label
cannot be predicted by a model trained without it; such labels are left out of the
estimate and counted in ``skipped``. An estimate from a few dozen labels is rough (with 30,
the 95 % range spans about ±17 points), so :func:`likely_range` goes with it.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor

from engine.core.events import CancelToken, Progress, Stage, ignore_events

LOO_BELOW = 5
Z_95 = 1.96     # the normal quantile of a two-sided 95 % range

FitPredict = Callable[[Tensor, Tensor], Tensor]   # (train positions, test positions) -> probs (t, K)


def choose_folds(y: Tensor, num_classes: int, folds: int, seed: int,
                 allow_loo: bool = True) -> tuple[str, list[Tensor]]:
    """The scheme name and its test folds: lists of positions into ``y`` ``(n,)``.

    Only positions whose class keeps at least one label in training are tested.
    """
    counts = torch.bincount(y, minlength=num_classes)
    testable = torch.nonzero(counts[y] >= 2).flatten()
    if len(testable) == 0:
        return "none", []
    if allow_loo and int(counts.min()) < LOO_BELOW:
        return "leave-one-out", [position.view(1) for position in testable]
    k = max(2, min(folds, int(counts[counts >= 2].max())))
    generator = torch.Generator().manual_seed(seed)
    slots: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for label in range(num_classes):
        members = testable[y[testable] == label]
        members = members[torch.randperm(len(members), generator=generator)]
        for i, position in enumerate(members.tolist()):   # round robin: no fold holds all of a class
            slots[(offset + i) % k].append(position)
        offset += len(members)
    return f"{k}-fold", [torch.tensor(sorted(s), dtype=torch.long) for s in slots if s]


def cross_validate(fit_predict: FitPredict, y: Tensor, classes: Sequence[str], scheme: str,
                   test_folds: Sequence[Tensor], on_event=None, cancel: Optional[CancelToken] = None) -> dict:
    """Out-of-fold predictions of ``fit_predict`` over ``test_folds`` (see
    :func:`choose_folds`), scored as a plain dict::

        {"scheme", "accuracy" (balanced; None when nothing could be tested), "overall_accuracy",
         "evaluated", "skipped", "per_class": {class: accuracy or None}, "confusion": K×K counts
         (row = true class), "worst_class", "few_labels"}  (see :func:`summarise`)
    """
    emit = on_event or ignore_events
    k = len(classes)
    truth, predicted = [], []
    everything = torch.arange(len(y))
    for number, test in enumerate(test_folds, start=1):
        if cancel is not None:
            cancel.check()
        train = everything[~torch.isin(everything, test)]
        probabilities = fit_predict(train, test)
        truth.append(y[test])
        predicted.append(probabilities.argmax(1))
        emit(Progress(Stage.VALIDATE, number, len(test_folds)))
    confusion = torch.zeros(k, k, dtype=torch.long)
    if truth:
        confusion.index_put_((torch.cat(truth), torch.cat(predicted)), torch.ones(1, dtype=torch.long), accumulate=True)
    return summarise(confusion, classes, scheme, skipped=len(y) - int(confusion.sum()))


def summarise(confusion: Tensor, classes: Sequence[str], scheme: str, skipped: int = 0) -> dict:
    """The scores of a confusion matrix ``(K, K)`` (row = true class) as plain types.

    ``accuracy`` is the balanced accuracy, the mean of the classes' accuracies (recall), so one
    big class cannot hide a weak one; ``overall_accuracy`` is the share of tested labels that
    were right. ``worst_class`` names the weakest class, and ``few_labels`` the classes tested
    on far fewer labels than the others (under a third of the median).
    """
    evaluated = int(confusion.sum())
    per_class, tested = {}, {}
    for i, name in enumerate(classes):
        total = int(confusion[i].sum())
        tested[name] = total
        per_class[name] = float(confusion[i, i]) / total if total else None
    scored = {name: value for name, value in per_class.items() if value is not None}
    counts = sorted(tested.values())
    median = counts[len(counts) // 2] if counts else 0
    return {
        "scheme": scheme, "accuracy": sum(scored.values()) / len(scored) if scored else None,
        "overall_accuracy": float(confusion.trace()) / evaluated if evaluated else None,
        "evaluated": evaluated, "skipped": skipped, "per_class": per_class, "confusion": confusion.tolist(),
        "worst_class": min(scored, key=lambda name: (scored[name], name)) if len(scored) > 1 else None,
        "few_labels": [name for name, count in tested.items() if count * 3 < median],
    }


def shorter_folds_note(validation: dict) -> str:
    """"each fold trained N steps and the final model M" when a time budget gave the folds
    fewer steps than the final model (see :func:`engine.finetune.run.fold_steps`), else ""."""
    steps = validation.get("steps")
    if not steps or steps["fold"] >= steps["final"]:
        return ""
    return f"each fold trained {steps['fold']:,} steps and the final model {steps['final']:,}"


def likely_range(validation: dict, z: float = Z_95) -> Optional[tuple[float, float]]:
    """The Wilson score interval (95 % by default) of the validation accuracy over its
    ``evaluated`` labels: where the accuracy on new images likely lies. None without an estimate."""
    evaluated, accuracy = validation.get("evaluated") or 0, validation.get("accuracy")
    if accuracy is None or evaluated <= 0:
        return None
    spread = z * z / evaluated
    centre = (accuracy + spread / 2) / (1 + spread)
    half = z * math.sqrt(accuracy * (1 - accuracy) / evaluated + spread / (4 * evaluated)) / (1 + spread)
    return max(0.0, centre - half), min(1.0, centre + half)


def likely_range_text(validation: dict) -> str:
    """"likely 33%–67%", or "" without an estimate."""
    bounds = likely_range(validation)
    return f"likely {bounds[0]:.0%}–{bounds[1]:.0%}" if bounds else ""
