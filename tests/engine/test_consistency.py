"""Consistency training of the whole classifier: budget, teacher, events, cancel."""
import time
from types import SimpleNamespace

import pytest
import torch

from engine.core.events import Cancelled, CancelToken, Progress
from engine.data.decoded_store import ImageStore
from engine.finetune.consistency import train_consistency
from engine.models.backbones import build_backbone
from engine.models.model_io import Classifier
from engine.pretrain.schedule import steps_within

SIZE = 16


def tiny_setup(count: int = 48):
    """A store of ``count`` random gray images, 12 labeled rows in 3 classes, and a classifier."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (count, 1, SIZE, SIZE), dtype=torch.uint8, generator=generator)
    store = ImageStore(images, [f"{i}.png" for i in range(count)], SIZE, 1, on_disk=False)
    torch.manual_seed(0)
    backbone, dim = build_backbone("smallcnn", 1, SIZE)
    return store, torch.arange(12), torch.arange(12) % 3, Classifier(backbone, dim, 3)


def test_steps_within_fits_the_budget_from_the_measured_speed():
    started = time.monotonic() - 1.0              # 2 steps took a second: 0.5 s a step
    assert steps_within(3.0, started, 2, 100) in (5, 6)
    assert steps_within(1000.0, started, 2, 100) == 100     # never more than asked
    assert steps_within(0.1, started, 2, 100) == 2          # never fewer than already run


def test_training_runs_the_steps_reports_them_and_keeps_the_teacher():
    store, rows, y, classifier = tiny_setup()
    before = {k: v.clone() for k, v in classifier.state_dict().items()}
    events = []
    steps = train_consistency(classifier, store, rows, y, (0.5,), (0.25,), torch.device("cpu"), 4,
                              on_event=events.append)
    assert steps == 4
    progress = [e for e in events if isinstance(e, Progress)]
    assert [e.step for e in progress] == [1, 2, 3, 4]
    assert progress[-1].metrics.lr > 0 and 0.0 <= progress[-1].metrics.accuracy <= 1.0
    assert 0.0 <= progress[-1].metrics.confident <= 1.0
    after = classifier.state_dict()
    changed = [k for k in before if before[k].dtype.is_floating_point and not torch.equal(before[k], after[k])]
    assert "head.weight" in changed and any(k.startswith("backbone.") for k in changed)
    assert not any(p.requires_grad for p in classifier.parameters())


def test_a_budget_cuts_the_step_count():
    store, rows, y, classifier = tiny_setup()
    steps = train_consistency(classifier, store, rows, y, (0.5,), (0.25,), torch.device("cpu"), 100_000,
                              budget_s=0.5)
    assert 3 <= steps < 100_000


def test_cancel_stops_training():
    store, rows, y, classifier = tiny_setup()
    token = CancelToken()

    def cancel_after_two(event):
        if isinstance(event, Progress) and event.step == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        train_consistency(classifier, store, rows, y, (0.5,), (0.25,), torch.device("cpu"), 50,
                          on_event=cancel_after_two, cancel=token)


def test_a_budget_plan_uses_the_speed_after_the_slow_first_steps_and_ends_within_the_budget(monkeypatch):
    """The first 3 steps take 2 s each, the rest 0.1 s: a plan from the first steps alone stops
    after 5 steps (10 s); the whole 10 s budget holds 3 + 40 steps."""
    from engine.pretrain import schedule

    clock = {"now": 100.0}
    monkeypatch.setattr(schedule, "time", SimpleNamespace(monotonic=lambda: clock["now"]))
    plan = schedule.StepPlan(100_000, budget_s=10.0)
    done = 0
    for step in plan.steps():
        clock["now"] += 2.0 if step < 3 else 0.1
        done += 1
    assert 42 <= done <= 44
    assert clock["now"] - 100.0 <= 10.0 + 0.1
