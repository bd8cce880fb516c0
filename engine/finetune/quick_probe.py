"""What a quick fine-tune reaches on a few labels: the linear head, cross-validated.

The pretraining loop's gain probe (:mod:`engine.pretrain.gain_probe`) is handed
:func:`probe_accuracy` as its scorer (pretraining sits below fine-tuning and cannot import
it), so the probe measures with the head and the validation scheme of the fine-tune's
"linear" mode: :func:`~engine.finetune.probe.fit_linear` with the default L2 strength,
over :func:`~engine.finetune.validation.choose_folds` with the default fold count.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.core.events import CancelToken
from engine.finetune.config import FinetuneConfig
from engine.finetune.probe import DEFAULT_L2, feature_statistics, fit_linear
from engine.finetune.validation import choose_folds, cross_validate


def probe_accuracy(raw: Tensor, y: Tensor, classes: Sequence[str], seed: int,
                   cancel: Optional[CancelToken] = None) -> dict:
    """Cross-validated accuracy of a linear head on the raw backbone features ``(n, D)`` of the
    labeled images, classes ``y`` ``(n,)``. The features are L2-normalised and standardised with
    statistics of these images (which use no label). Returns
    :func:`~engine.finetune.validation.cross_validate`'s dict ("accuracy" is None when no class
    has two labels)."""
    mean, std = feature_statistics(raw)
    x = (F.normalize(raw.float(), dim=1) - mean) / std
    scheme, folds = choose_folds(y, len(classes), FinetuneConfig.folds, seed, allow_loo=True)

    def fit_predict(train: Tensor, test: Tensor) -> Tensor:
        head = fit_linear(x[train], y[train], len(classes), l2=DEFAULT_L2)
        with torch.no_grad():
            return head(x[test]).softmax(1)

    return cross_validate(fit_predict, y, classes, scheme, folds, cancel=cancel)
