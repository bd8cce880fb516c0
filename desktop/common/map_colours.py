"""How the embedding map colours its points: by label, by prediction, or by confidence.

Points are grouped by colour, so the map draws one scatter per group (a single brush is
pyqtgraph's fast path at 100k points). Plain data, no Qt.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

UNKNOWN_COLOUR = "#8a8f98"
CONFIDENCE_BINS = ((0.5, "#d64541", "below 50%"), (0.7, "#e8923a", "50–70%"), (0.9, "#e6c84a", "70–90%"),
                   (1.01, "#3fa66b", "90% or more"))
MODES = (("Label", "label"), ("Prediction", "prediction"), ("Confidence", "confidence"))


@dataclass(frozen=True)
class ColourGroup:
    """The rows (indices into the map's paths) drawn in ``colour``, named ``name`` in the legend."""

    name: str
    colour: str
    rows: np.ndarray


def colour_groups(paths: Sequence[str], mode: str, class_colours: Mapping[str, str],
                  labels: Mapping[str, str], predictions: Mapping) -> list[ColourGroup]:
    """Groups for ``mode`` ("label", "prediction" or "confidence"). ``labels`` maps a path
    to its class name; ``predictions`` maps a path to an ``engine.finetune.run.Prediction``.
    Points without a value form a grey group listed first, so coloured points draw on top."""
    if mode == "confidence":
        confidence = np.array([getattr(predictions.get(p), "confidence", np.nan) for p in paths], dtype=float)
        bins = np.full(len(paths), -1)
        known = ~np.isnan(confidence)
        bins[known] = np.searchsorted([edge for edge, _c, _n in CONFIDENCE_BINS], confidence[known], side="right")
        names = ["no prediction"] + [name for _e, _c, name in CONFIDENCE_BINS]
        colours = [UNKNOWN_COLOUR] + [colour for _e, colour, _n in CONFIDENCE_BINS]
        return _groups(bins + 1, names, colours)
    if mode == "prediction":
        values = [getattr(predictions.get(p), "prediction", None) for p in paths]
        empty = "no prediction"
    else:
        values = [labels.get(p) for p in paths]
        empty = "unlabeled"
    names = [empty] + list(class_colours)
    index = {name: i + 1 for i, name in enumerate(class_colours)}
    codes = np.fromiter((index.get(v, 0) for v in values), dtype=np.int64, count=len(values))
    return _groups(codes, names, [UNKNOWN_COLOUR] + list(class_colours.values()))


def _groups(codes: np.ndarray, names: list[str], colours: list[str]) -> list[ColourGroup]:
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    return [ColourGroup(names[i], colours[i], order[bounds[i]:bounds[i + 1]])
            for i in range(len(names)) if bounds[i + 1] > bounds[i]]
