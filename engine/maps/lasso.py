"""Which map points a lasso (a closed polygon) or a rectangle encloses, vectorised over points."""
from __future__ import annotations

import numpy as np


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Boolean ``(N,)``: whether each point of ``xy`` ``(N, 2)`` lies inside ``polygon``
    ``(V, 2)`` (closed implicitly), by the even-odd rule: a ray to the right crosses the
    boundary an odd number of times. One pass per edge, each over all points at once."""
    xy, polygon = np.asarray(xy, dtype=np.float64), np.asarray(polygon, dtype=np.float64)
    inside = np.zeros(len(xy), dtype=bool)
    if len(polygon) < 3:
        return inside
    x, y = xy[:, 0], xy[:, 1]
    for (x1, y1), (x2, y2) in zip(polygon, np.roll(polygon, -1, axis=0)):
        if y1 == y2:
            continue                      # a horizontal edge never crosses a horizontal ray
        straddles = (y1 > y) != (y2 > y)
        crossing_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= straddles & (x < crossing_x)
    return inside


def rectangle(corner_a, corner_b) -> np.ndarray:
    """The polygon ``(4, 2)`` of the axis-aligned rectangle with opposite corners a and b."""
    (xa, ya), (xb, yb) = corner_a, corner_b
    return np.array([[xa, ya], [xb, ya], [xb, yb], [xa, yb]], dtype=np.float64)
