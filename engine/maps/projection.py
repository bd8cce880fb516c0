"""2-D maps of embeddings: PCA for an instant first view, a neighbour-graph layout for the
real one.

The layout (:mod:`engine.maps.neighbour_layout`) runs on at most ``LAYOUT_POINTS`` images drawn
with the seed; every other image is placed at the similarity-weighted mean position of its
``PLACE_NEIGHBOURS`` nearest laid-out images, so 100k images cost one layout of 10k plus a
nearest-neighbour search. Both searches run on a PCA reduction to ``REDUCED_DIMS``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from engine.core.events import CancelToken, Progress, Stage, ignore_events
from engine.maps.neighbour_layout import neighbour_layout
from engine.maps.similarity import normalised, top_k

LAYOUT_POINTS = 10_000
REDUCED_DIMS = 48
PLACE_NEIGHBOURS = 5


@dataclass(frozen=True)
class Layout:
    """``xy``: float32 ``(N, 2)``; ``layout_rows``: the rows the layout was fitted on (all
    rows when ``placed`` is 0); ``placed``: how many rows were placed by their neighbours."""

    xy: np.ndarray
    layout_rows: np.ndarray
    placed: int


def pca(features, dims: int = 2) -> np.ndarray:
    """The first ``dims`` principal components of ``features`` ``(N, D)``: float32 ``(N, dims)``.

    Deterministic: each component's sign makes its largest loading positive."""
    x = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    x = x - x.mean(0)
    dims = min(dims, x.shape[1])
    _, vectors = torch.linalg.eigh(x.T @ x)
    components = vectors[:, -dims:].flip(1)                       # (D, dims), largest variance first
    signs = torch.sign(components.gather(0, components.abs().argmax(0, keepdim=True)))
    return (x @ (components * signs)).float().numpy()


def pca_map(features) -> np.ndarray:
    """The instant view: PCA of the unit-length features, float32 ``(N, 2)``."""
    return pca(normalised(features).numpy(), 2)


def layout_map(features, seed: int = 0, max_layout_points: int = LAYOUT_POINTS, on_event=None,
               cancel: Optional[CancelToken] = None) -> Layout:
    """The neighbour-graph map of ``features`` ``(N, D)``; the same seed gives the same map."""
    emit = on_event or ignore_events
    reduced = F.normalize(torch.from_numpy(pca(normalised(features).numpy(), REDUCED_DIMS)), dim=1)
    generator = torch.Generator().manual_seed(seed)
    count = len(reduced)
    if count > max_layout_points:
        rows = torch.randperm(count, generator=generator)[:max_layout_points].sort().values
    else:
        rows = torch.arange(count)
    sample = reduced[rows]
    laid_out = neighbour_layout(sample, torch.from_numpy(pca(sample.numpy(), 2)), generator, emit, cancel)
    xy = torch.empty(count, 2)
    xy[rows] = laid_out
    rest = torch.ones(count, dtype=torch.bool)
    rest[rows] = False
    if rest.any():
        emit(Progress(Stage.PLACING, 0, int(rest.sum())))
        sims, neighbours = top_k(reduced[rest], sample, PLACE_NEIGHBOURS, cancel=cancel)
        weights = torch.softmax(sims * 20.0, dim=1)                # the closest neighbours count most
        xy[rest] = (weights.unsqueeze(2) * laid_out[neighbours]).sum(1)
        emit(Progress(Stage.PLACING, int(rest.sum()), int(rest.sum())))
    return Layout(xy.numpy(), rows.numpy(), int(rest.sum()))
