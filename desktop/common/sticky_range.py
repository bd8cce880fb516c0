"""Plot ranges that change rarely while a curve grows.

A new range makes pyqtgraph rebuild the ticks and labels of both axes, the dearest part of
a repaint (about 6 ms of a 7 ms redraw); kept ranges make a redraw about 1 ms. So the x
range runs to the planned number of steps, and the y range moves only when the data
leaves it or fills less than ``MIN_FILL`` of it.
"""
from __future__ import annotations

from typing import Optional

MARGIN = 0.1
MIN_FILL = 0.4
GROWTH = 1.5


def x_range(current_end: float, last_x: float, total: float) -> tuple[float, float]:
    """[0, end] holding ``last_x``: the planned ``total`` when known, else grown by ``GROWTH``."""
    if total >= last_x and total > 0:
        return 0.0, float(total)
    if last_x <= current_end:
        return 0.0, float(current_end)
    return 0.0, float(max(last_x * GROWTH, 10.0))


def y_range(current: Optional[tuple[float, float]], low: float, high: float) -> tuple[float, float]:
    """The range to show data spanning [low, high]: ``current`` while the data stays inside and
    fills at least ``MIN_FILL`` of it, else the data's span with ``MARGIN`` on each side."""
    span = high - low
    if current is not None:
        bottom, top = current
        if bottom <= low and high <= top and span >= MIN_FILL * (top - bottom):
            return current
    pad = span * MARGIN if span > 0 else max(abs(high) * MARGIN, 1e-6)
    return low - pad, high + pad
