"""The gain probe: what a quick fine-tune on the user's labels reaches with the backbone as it is now.

Given a ``path,label`` CSV (``PretrainConfig.probe_labels``), the loop embeds the labeled images
only, with the current backbone in eval mode, and scores the features with the scorer it was
handed (:func:`engine.finetune.quick_probe.probe_accuracy`: the fine-tune's linear head,
cross-validated over the labels; this stage cannot import fine-tuning). The untrained backbone
is measured once, before the first step, from the initial weights (the same seed).

Probes cost time, so one runs at an epoch's end only while every probe so far plus one more
stays within :data:`PROBE_SHARE` of the training time (the optimiser steps' seconds): the
interval follows the measured cost. Each result records its cost and that share.

Bad labels never stop the run: unknown paths, a single class, or classes with one label become
one Warning each and the probe uses what it can (or stands down). Only a CSV that cannot be read
stops a run, before any work (:func:`read_probe_labels`).
"""
from __future__ import annotations

import time
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor, nn

from engine.core.config import ConfigError
from engine.core.events import CancelToken, ProbeResult, Warning
from engine.data.decoded_store import ImageStore
from engine.maps.embed import compute_features
from engine.store.project_db import ProjectError
from engine.store.project_io import read_labels_csv

PROBE_SHARE = 0.05

# (raw features (n, D), classes (n,), class names, seed, cancel) -> a dict with "accuracy", "evaluated", "scheme"
Scorer = Callable[[Tensor, Tensor, Sequence[str], int, Optional[CancelToken]], dict]


def read_probe_labels(path: str, data_dir: str) -> dict[str, str]:
    """``{path relative to data_dir: class}`` from the CSV at ``path``; ConfigError naming the
    file when it cannot be read or holds no ``path,label`` row."""
    try:
        read = read_labels_csv(path, root=data_dir)
    except ProjectError as error:
        raise ConfigError(f"probe labels: {error}") from error
    if not read.labels:
        raise ConfigError(f"probe labels: {path} holds no 'path,label' rows")
    return read.labels


class GainProbe:
    """The labeled images of one run and the probes measured on them so far."""

    def __init__(self, labels: dict[str, str], scorer: Scorer, store: ImageStore, mean: Sequence[float],
                 std: Sequence[float], device: torch.device, seed: int, emit, cancel: CancelToken) -> None:
        self.scorer, self.store, self.mean, self.std = scorer, store, mean, std
        self.device, self.seed, self.emit, self.cancel = device, seed, emit, cancel
        self.spent_s = 0.0          # every probe's seconds
        self.last_cost_s = 0.0
        self.untrained: Optional[float] = None
        self.trained_probes = 0
        self._warned_budget = False
        self.rows, self.y, self.classes = self._match(labels)

    @property
    def usable(self) -> bool:
        return len(self.classes) >= 2

    def _match(self, labels: dict[str, str]) -> tuple[Tensor, Tensor, tuple[str, ...]]:
        """Store rows ``(n,)`` and class indices ``(n,)`` of the labels whose image is being trained on."""
        index = {path: row for row, path in enumerate(self.store.paths)}
        found = {path: name for path, name in labels.items() if path in index}
        if len(found) < len(labels):
            self.emit(Warning(f"Gain probe: {len(labels) - len(found)} of {len(labels)} labeled images are not "
                              f"among the training images; using the other {len(found)}."))
        classes = tuple(sorted(set(found.values())))
        if len(classes) < 2:
            named = f"only one class ('{classes[0]}')" if classes else "no labeled image"
            self.emit(Warning(f"Gain probe: the labels name {named}; a quick fine-tune needs two classes, "
                              "so no probe figure is shown."))
            return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), classes
        rows = torch.tensor([index[path] for path in sorted(found)], dtype=torch.long)
        y = torch.tensor([classes.index(found[path]) for path in sorted(found)], dtype=torch.long)
        single = [name for i, name in enumerate(classes) if int((y == i).sum()) < 2]
        if len(single) == len(classes):
            self.emit(Warning("Gain probe: every class has a single label; validation needs 2 labels in a "
                              "class, so no probe figure is shown."))
        elif single:
            self.emit(Warning(f"Gain probe: {', '.join(single)} has a single label, which validation cannot "
                              "test; the figure rests on the other classes."))
        return rows, y, classes

    def measure(self, backbone: nn.Module, epoch: int, training_s: float) -> ProbeResult:
        """Probe ``backbone`` now: ``epoch`` epochs trained (0 = untrained), ``training_s`` seconds
        of training so far (for the share)."""
        started = time.perf_counter()
        images = ImageStore(self.store.batch(self.rows), [self.store.paths[i] for i in self.rows.tolist()],
                            self.store.size, self.store.channels, on_disk=False)
        features = compute_features(backbone, images, self.mean, self.std, self.device)
        scores = self.scorer(features, self.y, self.classes, self.seed, self.cancel)
        self.last_cost_s = time.perf_counter() - started
        self.spent_s += self.last_cost_s
        if epoch == 0:
            self.untrained = scores["accuracy"]
        else:
            self.trained_probes += 1
        return ProbeResult(
            epoch=epoch, labels=len(self.rows), classes=len(self.classes), evaluated=scores["evaluated"],
            scheme=scores["scheme"], cost_s=self.last_cost_s,
            share=self.spent_s / training_s if training_s > 0 else 0.0,
            accuracy=scores["accuracy"], untrained_accuracy=self.untrained)

    def due(self, training_s: float) -> bool:
        """Whether one more probe keeps every probe's time within PROBE_SHARE of ``training_s``."""
        return self.usable and self.spent_s + self.last_cost_s <= PROBE_SHARE * training_s

    def warn_if_never_due(self, planned_training_s: float) -> None:
        """Say once when the whole run's training (``planned_training_s``) is too short for any
        probe after the untrained one."""
        if self._warned_budget or self.trained_probes or not self.usable or self.due(planned_training_s):
            return
        self._warned_budget = True
        self.emit(Warning(f"Gain probe: one probe takes {self.last_cost_s:.1f} s, more than {PROBE_SHARE:.0%} of "
                          f"this run's {planned_training_s:.0f} s of training allows, so only the untrained "
                          "figure is shown."))
