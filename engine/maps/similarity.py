"""Cosine similarity searches over embeddings: nearest neighbours and near-duplicates.

Features are L2-normalised once, so a dot product is the cosine similarity. Every search
works in row blocks, so 100k × 100k similarities never sit in memory at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from engine.core.events import CancelToken, Progress, Stage, ignore_events

BLOCK_ROWS = 2048
MAX_DUPLICATE_PAIRS = 5000
DUPLICATE_SHARE = 0.01      # the default threshold lists about this share of the images
THRESHOLD_SAMPLE = 2000     # rows whose nearest neighbour sets that threshold
MIN_THRESHOLD = 0.8


@dataclass(frozen=True)
class Neighbour:
    index: int
    similarity: float


@dataclass(frozen=True)
class DuplicatePair:
    """Rows ``first < second`` whose embeddings have cosine ``similarity``."""

    first: int
    second: int
    similarity: float


def normalised(features) -> torch.Tensor:
    """float32 ``(N, D)`` rows of unit length."""
    return F.normalize(torch.as_tensor(np.asarray(features), dtype=torch.float32), dim=1)


def top_k(query: torch.Tensor, base: torch.Tensor, k: int, skip_self: bool = False,
          cancel: Optional[CancelToken] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of ``query`` ``(Q, D)``, the ``k`` most similar rows of ``base`` ``(N, D)``
    (both unit length): (similarities ``(Q, k)``, indices ``(Q, k)``), most similar first.
    ``skip_self`` (query is base) leaves each row out of its own list."""
    k = min(k, len(base) - (1 if skip_self else 0))
    values, indices = [], []
    for first in range(0, len(query), BLOCK_ROWS):
        if cancel is not None:
            cancel.check()
        sims = query[first:first + BLOCK_ROWS] @ base.T
        if skip_self:
            rows = torch.arange(len(sims))
            sims[rows, rows + first] = -float("inf")
        best = sims.topk(k, dim=1)
        values.append(best.values)
        indices.append(best.indices)
    return torch.cat(values), torch.cat(indices)


def nearest_neighbours(features, row: int, k: int = 20) -> list[Neighbour]:
    """The ``k`` images most similar to image ``row`` (itself excluded), most similar first."""
    z = normalised(features)
    sims = z @ z[row]
    sims[row] = -float("inf")
    best = sims.topk(min(k, len(z) - 1))
    return [Neighbour(int(i), float(s)) for s, i in zip(best.values, best.indices)]


def duplicate_threshold(features, share: float = DUPLICATE_SHARE, sample: int = THRESHOLD_SAMPLE, seed: int = 0,
                        cancel: Optional[CancelToken] = None) -> float:
    """A near-duplicate threshold set by the data: the similarity that only the most similar
    ``share`` of images reach with their nearest neighbour, measured on up to ``sample`` rows of
    ``features`` ``(N, D)`` against all of them, kept within [MIN_THRESHOLD, 1)."""
    z = normalised(features)
    if len(z) < 2:
        return 1.0
    rows = torch.randperm(len(z), generator=torch.Generator().manual_seed(seed))[:sample]
    nearest = torch.empty(len(rows))
    for first in range(0, len(rows), BLOCK_ROWS):
        if cancel is not None:
            cancel.check()
        chunk = rows[first:first + BLOCK_ROWS]
        sims = z[chunk] @ z.T
        sims[torch.arange(len(chunk)), chunk] = -float("inf")
        nearest[first:first + len(chunk)] = sims.max(dim=1).values
    cut = float(torch.quantile(nearest, 1 - share)) - 1e-6   # the rows at the cut itself are in
    return min(max(cut, MIN_THRESHOLD), 1.0 - 1e-6)


def near_duplicates(features, threshold: float = 0.95, limit: int = MAX_DUPLICATE_PAIRS, on_event=None,
                    cancel: Optional[CancelToken] = None) -> list[DuplicatePair]:
    """Pairs of images with cosine similarity ≥ ``threshold``, most similar first, at most
    ``limit`` of them. Each block of rows is compared with itself and the rows after it only."""
    emit = on_event or ignore_events
    z = normalised(features)
    found: list[tuple[float, int, int]] = []
    for first in range(0, len(z), BLOCK_ROWS):
        if cancel is not None:
            cancel.check()
        block = z[first:first + BLOCK_ROWS]
        sims = block @ z[first:].T
        sims = torch.triu(sims, diagonal=1)          # block row i against later rows only
        rows, cols = torch.nonzero(sims >= threshold, as_tuple=True)
        for r, c, s in zip(rows.tolist(), cols.tolist(), sims[rows, cols].tolist()):
            found.append((s, first + r, first + c))
        if len(found) > 4 * limit:
            found = sorted(found, reverse=True)[:limit]
        emit(Progress(Stage.DUPLICATES, min(first + BLOCK_ROWS, len(z)), len(z)))
    found.sort(key=lambda item: (-item[0], item[1], item[2]))
    return [DuplicatePair(i, j, float(s)) for s, i, j in found[:limit]]
