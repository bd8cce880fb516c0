"""Learning-rate schedule: linear warm-up, then cosine decay to a floor; and the step count
that fits a time budget."""
from __future__ import annotations

import math
import time
from typing import Iterator

WARMUP_STEPS = 3     # a fine-tune's first steps, slowed by first-call work: its budget plan starts after them


def steps_within(budget_s: float, started: float, step: int, steps: int) -> int:
    """The step count that ends a loop within ``budget_s`` of ``started`` (a
    ``time.monotonic()`` reading), from the speed of its first ``step`` steps; never fewer
    than ``step`` nor more than ``steps``."""
    per_step = (time.monotonic() - started) / step
    return max(step, min(steps, int(budget_s / max(per_step, 1e-9))))


class StepPlan:
    """The steps of a fine-tune loop: ``total`` is the steps asked for, or with a time budget
    the count that ends within it (never more than asked). After ``WARMUP_STEPS`` a first
    guess from the speed so far; after every later step the time left is divided by the
    speed since the warm-up, so slow first steps or a machine that gets busier or quieter
    neither cut the training short nor run it past the budget. Iterate over :meth:`steps`."""

    def __init__(self, steps: int, budget_s: float | None = None) -> None:
        self.total, self.limit, self.budget_s, self.started = steps, steps, budget_s, time.monotonic()
        self._steady_from = self.started      # when the warm-up steps ended

    def steps(self, cancel=None) -> Iterator[int]:
        """Yield 0, 1, ... up to ``total`` (re-planned as the steps are done), checking
        ``cancel`` (a :class:`~engine.core.events.CancelToken`) before each."""
        step = 0
        while step < self.total:
            if cancel is not None:
                cancel.check()
            yield step
            step += 1
            if self.budget_s is not None and step >= WARMUP_STEPS:
                self._replan(step)

    def _replan(self, step: int) -> None:
        now = time.monotonic()
        if step == WARMUP_STEPS:
            self._steady_from = now
            self.total = steps_within(self.budget_s, self.started, step, self.limit)
            return
        per_step = (now - self._steady_from) / (step - WARMUP_STEPS)
        left = self.budget_s - (now - self.started)
        self.total = max(step, min(self.limit, step + int(left / max(per_step, 1e-9))))


class WarmupCosine:
    """lr(step) = peak · warm-up ramp, then cosine to ``floor · peak`` at ``total_steps``.

    The total can be changed while training (a time budget sets it once the speed is
    known); ``state_dict`` keeps what a resumed run needs.
    """

    def __init__(self, optimizer, peak_lr: float, total_steps: int, warmup_fraction: float = 0.05,
                 floor: float = 0.01) -> None:
        self.optimizer = optimizer
        self.peak_lr = peak_lr
        self.total_steps = max(1, total_steps)
        self.warmup_fraction = warmup_fraction
        self.floor = floor

    def lr_at(self, step: int) -> float:
        warmup = max(1, int(self.warmup_fraction * self.total_steps))
        if step < warmup:
            return self.peak_lr * (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, self.total_steps - warmup))
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.peak_lr * (self.floor + (1.0 - self.floor) * cosine)

    def apply(self, step: int) -> float:
        """Set every parameter group's lr for ``step``; return it."""
        lr = self.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def state_dict(self) -> dict:
        return {"peak_lr": self.peak_lr, "total_steps": self.total_steps,
                "warmup_fraction": self.warmup_fraction, "floor": self.floor}

    def load_state_dict(self, state: dict) -> None:
        self.peak_lr = state["peak_lr"]
        self.total_steps = state["total_steps"]
        self.warmup_fraction = state["warmup_fraction"]
        self.floor = state["floor"]
