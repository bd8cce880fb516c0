"""The Pretrain page's status texts: the step line and the metrics line of a running step."""
from __future__ import annotations

from engine.core.events import PretrainMetrics


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def step_status(step: int, total: int, eta_s: float | None) -> str:
    """The status line of a running step: "Step 40 of 1,100  ·  about 2:05 left", or while a time
    budget measures the speed that sets its step count (``total`` 0) "Step 4  ·  measuring speed…"."""
    if not total:
        return f"Step {step:,}  ·  measuring speed…"
    return f"Step {step:,} of {total:,}  ·  about {format_duration(eta_s or 0.0)} left"


def metrics_line(metrics: PretrainMetrics) -> str:
    """"loss 4.1234  ·  1,200 images/s  ·  waiting for data 3%  ·  epoch 2.5". A narrow pane wraps
    it after a "·", never inside an item (no-break spaces, word joiners)."""
    items = (f"loss {metrics.loss:.4f}", f"{metrics.images_per_s:,.0f} images/s",
             f"waiting for data {100 * metrics.data_wait:.0f}%", f"epoch {metrics.epoch:.1f}")
    unbroken = (item.replace(" ", "\u00a0").replace("/", "\u2060/\u2060") for item in items)
    return "\u00a0\u00a0·  ".join(unbroken)
