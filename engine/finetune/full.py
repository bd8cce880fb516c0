"""Full fine-tuning: the whole classifier trained on the labeled images, after its linear probe.

The head starts from the linear probe and the backbone learns at ``backbone_lr_scale``
times the head's rate (LP-FT, Kumar et al. 2022), so the first steps do not wreck the
pretrained features. Batch norm keeps its pretrained statistics (the model stays in eval
mode; batches of a few labels would make noisy statistics). Views are lightly augmented
with :func:`engine.data.augment.augment_views`: crops of 60-100 % of the image, flips and a
mild colour jitter.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.core.events import CancelToken, FinetuneMetrics, Progress, Stage, ignore_events
from engine.data.augment import ViewSpec, augment_views
from engine.data.decoded_store import ImageStore
from engine.finetune.probe import balanced_weights
from engine.models.model_io import Classifier
from engine.pretrain.schedule import StepPlan, WarmupCosine
from engine.pretrain.state import batch_generator

HEAD_LR = 1e-3            # AdamW, for a head that starts from the linear probe
BATCH = 64
MIN_STEPS, MAX_STEPS = 40, 400
EPOCHS_AUTO = 30          # auto steps: this many passes over the labels, within the bounds above


def light_view(size: int) -> ViewSpec:
    return ViewSpec(size=size, crop_scale=(0.6, 1.0), hflip_p=0.5, jitter_p=0.5,
                    jitter=(0.2, 0.2, 0.1, 0.0), grayscale_p=0.0)


def auto_steps(labeled: int) -> int:
    """Enough steps for ``EPOCHS_AUTO`` passes over the labels, within [MIN_STEPS, MAX_STEPS]."""
    return max(MIN_STEPS, min(MAX_STEPS, EPOCHS_AUTO * math.ceil(labeled / BATCH)))


def train_full(classifier: Classifier, store: ImageStore, rows: Tensor, y: Tensor, mean, std,
               device: torch.device, steps: int, lr: float = 0.0, backbone_lr_scale: float = 0.1,
               seed: int = 0, budget_s: Optional[float] = None, on_event=None,
               cancel: Optional[CancelToken] = None) -> int:
    """Train ``classifier`` in place on the images ``rows`` ``(n,)`` of ``store`` with classes
    ``y`` ``(n,)``; return the steps run. With ``budget_s`` the step count is fixed from the
    measured speed so training ends within the budget. Emits Progress(Stage.FINETUNE, step,
    total, FinetuneMetrics) with loss, accuracy (of the batch) and lr."""
    emit = on_event or ignore_events
    classifier.to(device).eval().requires_grad_(True)
    head_lr = lr or HEAD_LR
    groups = [{"params": classifier.head.parameters(), "lr_scale": 1.0},
              {"params": classifier.backbone.parameters(), "lr_scale": backbone_lr_scale}]
    optimizer = torch.optim.AdamW(groups, lr=head_lr, weight_decay=1e-4)
    schedule = WarmupCosine(optimizer, head_lr, steps, warmup_fraction=0.1)
    weights = balanced_weights(y, classifier.head.out_features).to(device)
    images = store.images[rows].to(device)
    y = y.to(device)
    spec = light_view(store.size)
    batch = min(BATCH, len(rows))
    plan = StepPlan(steps, budget_s)
    for step in plan.steps(cancel):
        generator = batch_generator(seed, step, device)
        pick = torch.randint(len(rows), (batch,), generator=generator, device=device)
        views = augment_views(images[pick], spec, generator, mean, std)
        schedule.total_steps = plan.total
        schedule.apply(step)
        logits = classifier(views)
        loss = (F.cross_entropy(logits, y[pick], reduction="none") * weights[pick]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        accuracy = float((logits.argmax(1) == y[pick]).float().mean())
        emit(Progress(Stage.FINETUNE, step + 1, plan.total, FinetuneMetrics(
            loss=float(loss.detach()), accuracy=accuracy, lr=optimizer.param_groups[0]["lr"])))
    classifier.requires_grad_(False)
    return plan.total
