"""The ways of fitting a classifier to a few labels, behind one small interface.

A learner ``fit(rows, y)`` trains on the images at ``rows`` (indices into the folder's
store, ``(n,)``) with classes ``y`` ``(n,)`` and returns a model; ``predict(model, rows)``
gives class probabilities ``(len(rows), K)``; ``classifier(model)`` the exportable
:class:`~engine.models.model_io.Classifier`. Validation calls ``fit`` once per fold.
"""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import Tensor, nn

from engine.core.events import CancelToken, FinetuneMetrics, Progress, Stage
from engine.data.decoded_store import ImageStore
from engine.finetune.consistency import train_consistency
from engine.finetune.full import train_full
from engine.finetune.probe import LBFGS_ITERATIONS, certainty, feature_statistics, fit_linear, knn_graph, propagate
from engine.maps.embed import EmbeddedImages, compute_features
from engine.models.model_io import Classifier


class LinearLearner:
    """Logistic regression on the frozen, standardised features of every image."""

    def __init__(self, images: EmbeddedImages, num_classes: int, l2: float) -> None:
        self.images, self.num_classes, self.l2 = images, num_classes, l2
        self.first_fit: Optional[nn.Module] = None
        raw = torch.from_numpy(images.features)
        self.mean, self.std = feature_statistics(raw)
        with torch.no_grad():
            self.x = self.new_classifier(images.backbone).standardize(raw)      # (N, D)

    @property
    def total_steps(self) -> int:
        return LBFGS_ITERATIONS

    def new_classifier(self, backbone: nn.Module) -> Classifier:
        """A classifier around ``backbone`` with this folder's feature statistics and a blank head."""
        classifier = Classifier(backbone, self.images.features.shape[1], self.num_classes)
        classifier.feature_mean.copy_(self.mean)
        classifier.feature_std.copy_(self.std)
        return classifier

    def fit(self, rows: Tensor, y: Tensor, on_event=None, budget_s: Optional[float] = None) -> nn.Module:
        """Train on ``rows``/``y``; with ``on_event``, report each iteration as Progress(Stage.FINETUNE).
        Later fits (the validation folds) start from the first one's solution, to converge sooner."""
        head = fit_linear(self.x[rows], y, self.num_classes, l2=self.l2, on_iteration=_reporter(on_event),
                          init=self.first_fit)
        if self.first_fit is None:
            self.first_fit = head
        return head

    def predict(self, head: nn.Module, rows: Optional[Tensor] = None) -> Tensor:
        x = self.x if rows is None else self.x[rows]
        with torch.no_grad():
            return head(x).softmax(1)

    def classifier(self, head: nn.Module) -> Classifier:
        classifier = self.new_classifier(self.images.backbone)
        classifier.head.load_state_dict(head.state_dict())
        return classifier.eval()


class SemiLearner(LinearLearner):
    """Label propagation over the kNN graph gives every unlabeled image a pseudo-label and a
    certainty weight (1 − normalised entropy); the linear head is fitted on all of them,
    each weighted by its certainty over its class's total certainty (class balance)."""

    def __init__(self, images: EmbeddedImages, num_classes: int, l2: float, neighbours: int) -> None:
        super().__init__(images, num_classes, l2)
        self.graph = knn_graph(torch.nn.functional.normalize(self.x, dim=1), neighbours)

    def fit(self, rows: Tensor, y: Tensor, on_event=None, budget_s: Optional[float] = None) -> nn.Module:
        scores = propagate(self.graph, rows, y, self.num_classes)
        targets = scores.argmax(1)
        weights = certainty(scores)
        targets[rows], weights[rows] = y, 1.0
        class_total = torch.zeros(self.num_classes).index_add_(0, targets, weights).clamp_min(1e-6)
        weights = weights / class_total[targets]
        return fit_linear(self.x, targets, self.num_classes, weights, self.l2, _reporter(on_event))


class NetworkLearner:
    """A learner whose model is a whole :class:`~engine.models.model_io.Classifier`: ``fit`` starts
    from the frozen-feature head of the learner it is mixed into, then trains the network
    with ``train_network``. A ``fit`` with a time budget sets ``steps`` to the count that
    met it; fits without one (the validation folds) train for ``steps``, which the caller
    may lower first (see :func:`engine.finetune.run.fold_steps`)."""

    images: EmbeddedImages
    steps: int
    seed: int
    cancel: Optional[CancelToken]

    @property
    def total_steps(self) -> int:
        return self.steps

    def fit(self, rows: Tensor, y: Tensor, on_event=None, budget_s: Optional[float] = None) -> nn.Module:
        classifier = self.new_classifier(copy.deepcopy(self.images.backbone))
        classifier.head.load_state_dict(super().fit(rows, y).state_dict())
        self.steps = self.train_network(classifier, rows, y, budget_s, on_event)
        return classifier.eval()

    def train_network(self, classifier: Classifier, rows: Tensor, y: Tensor, budget_s: Optional[float],
                      on_event) -> int:
        """Train ``classifier`` in place for ``self.steps`` (or the budget); return the steps run."""
        raise NotImplementedError

    def predict(self, classifier: nn.Module, rows: Optional[Tensor] = None) -> Tensor:
        store = self.images.store
        if rows is not None:
            store = ImageStore(store.images[rows], [store.paths[i] for i in rows.tolist()], store.size,
                               store.channels, on_disk=False)
        meta = self.images.meta
        logits = compute_features(classifier, store, meta["mean"], meta["std"], self.images.device,
                                  cancel=self.cancel, stage=Stage.PREDICT)
        return logits.softmax(1)

    def classifier(self, classifier: nn.Module) -> Classifier:
        return classifier.cpu().eval()


class FullLearner(NetworkLearner, LinearLearner):
    """The linear probe, then the whole network trained on the labels (see
    :mod:`engine.finetune.full`)."""

    def __init__(self, images: EmbeddedImages, num_classes: int, l2: float, steps: int, lr: float,
                 backbone_lr_scale: float, seed: int, cancel=None) -> None:
        super().__init__(images, num_classes, l2)
        self.steps, self.lr, self.backbone_lr_scale, self.seed, self.cancel = steps, lr, backbone_lr_scale, seed, cancel

    def train_network(self, classifier, rows, y, budget_s, on_event) -> int:
        meta = self.images.meta
        return train_full(classifier, self.images.store, rows, y, meta["mean"], meta["std"], self.images.device,
                          self.steps, self.lr, self.backbone_lr_scale, self.seed, budget_s, on_event, self.cancel)


class ConsistencyLearner(NetworkLearner, SemiLearner):
    """The propagation-fitted head, then the whole network trained on the labels and the
    unlabeled images (see :mod:`engine.finetune.consistency`)."""

    def __init__(self, images: EmbeddedImages, num_classes: int, l2: float, neighbours: int, steps: int, seed: int,
                 cancel=None) -> None:
        super().__init__(images, num_classes, l2, neighbours)
        self.steps, self.seed, self.cancel = steps, seed, cancel

    def train_network(self, classifier, rows, y, budget_s, on_event) -> int:
        meta = self.images.meta
        return train_consistency(classifier, self.images.store, rows, y, meta["mean"], meta["std"],
                                 self.images.device, self.steps, self.seed, budget_s, on_event, self.cancel)


def _reporter(on_event):
    """An L-BFGS ``on_iteration`` callback that emits Progress(Stage.FINETUNE), or None."""
    if on_event is None:
        return None
    return lambda i, loss, accuracy: on_event(Progress(Stage.FINETUNE, i, LBFGS_ITERATIONS,
                                                       FinetuneMetrics(loss=loss, accuracy=accuracy)))
