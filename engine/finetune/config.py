"""The fine-tuning job's frozen, JSON-serialisable configuration, and what ``mode="auto"`` picks.

Modes:

- ``linear``: a logistic-regression head on the frozen backbone's features; seconds.
- ``semi``: label propagation over the kNN graph of every image's features (Zhou et al.
  2004; Iscen et al. 2019) turns the unlabeled pool into weighted pseudo-labels, then
  the same linear head is fitted on both; seconds. Given ``minutes`` (or ``steps``), the
  whole network then trains on the labels and the unlabeled images with FixMatch-style
  consistency (see :mod:`engine.finetune.consistency`): minutes, and several points more accurate.
- ``full``: the linear head first, then the whole network with light augmentation and a
  lower backbone learning rate (LP-FT, Kumar et al. 2022).

``auto`` follows the label count (the fewest labels of any class, ``m``): with
``m < FULL_MIN_PER_CLASS`` the backbone cannot be trained without over-fitting the few
labels, while the unlabeled images still hold the shape of the classes, so ``semi``
(when the unlabeled pool is at least ``SEMI_MIN_POOL`` times the labels) else ``linear``.
With many labels per class the labels carry enough signal to move the backbone: ``full``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from engine.core.config import ConfigError, JsonConfig, check_device, check_seed

MODES = ("auto", "linear", "full", "semi")
FULL_MIN_PER_CLASS = 50
SEMI_MIN_POOL = 3


@dataclass(frozen=True)
class FinetuneConfig(JsonConfig):
    pretrain_run: str              # a pretraining run folder (or its backbone.pt)
    out_dir: str = ""              # parent of fine-tune run folders; "" = <pretrain_run>/finetune
    data_dir: str = ""             # "" = the folder the backbone was pretrained on
    mode: str = "auto"
    classes: tuple = ()            # class order (the logit order); () = sorted label names
    steps: int = 0                 # full mode: optimiser steps, 0 = auto; semi: consistency steps, 0 = none
    minutes: Optional[float] = None   # full and semi modes: a time budget for the network training and its folds
    lr: float = 0.0                # full mode: head learning rate; 0 = auto
    backbone_lr_scale: float = 0.1
    weight_decay: float = 0.0      # linear head L2 strength; 0 = auto
    folds: int = 5                 # k of k-fold validation (leave-one-out below 5 labels per class)
    neighbours: int = 10           # semi mode: the kNN graph's degree
    device: str = "auto"
    seed: int = 0
    cache_dir: str = ""

    def validate(self) -> "FinetuneConfig":
        """Raise :class:`ConfigError` with a one-line reason for the first bad field."""
        if self.mode not in MODES:
            raise ConfigError(f"unknown fine-tuning mode '{self.mode}'; choose one of {', '.join(MODES)}")
        check_device(self.device)
        check_seed(self.seed)
        if self.steps < 0:
            raise ConfigError(f"steps must be 0 (auto) or more, not {self.steps}")
        if self.minutes is not None and not 0 < self.minutes < math.inf:
            raise ConfigError(f"minutes must be positive, not {self.minutes}")
        if not (0 <= self.lr < math.inf and 0 <= self.weight_decay < math.inf):
            raise ConfigError("learning rate and weight decay must be 0 (auto) or a positive number")
        if not 0 < self.backbone_lr_scale <= 1:
            raise ConfigError(f"backbone lr scale must be in (0, 1], not {self.backbone_lr_scale}")
        if self.folds < 2:
            raise ConfigError(f"validation needs at least 2 folds, not {self.folds}")
        if self.neighbours < 1:
            raise ConfigError(f"the kNN graph needs at least 1 neighbour, not {self.neighbours}")
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError("a class is listed twice")
        return self

    def to_dict(self) -> dict:
        return {**super().to_dict(), "classes": list(self.classes)}

    @classmethod
    def decode(cls, data: dict) -> dict:
        return {**data, "classes": tuple(data.get("classes", ()))}


def resolve_mode(mode: str, fewest_per_class: int, labeled: int, images: int) -> tuple[str, str]:
    """The mode to run and the one-line reason for it (see the module docstring)."""
    if mode != "auto":
        return mode, f"{mode}: chosen"
    if fewest_per_class >= FULL_MIN_PER_CLASS:
        return "full", f"full fine-tune: every class has at least {FULL_MIN_PER_CLASS} labels"
    if images - labeled >= SEMI_MIN_POOL * labeled:
        return "semi", (f"semi-supervised: {fewest_per_class} label(s) in the smallest class, and "
                        f"{images - labeled} unlabeled images to learn the classes' shape from")
    return "linear", f"linear probe: few labels ({fewest_per_class} in the smallest class), few unlabeled images"
