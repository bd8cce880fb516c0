"""A neighbour-graph layout in 2-D, after UMAP (McInnes, Healy & Melville 2018), vectorised.

1. The ``NEIGHBOURS`` most similar points of each point, by cosine distance ``d``.
2. Fuzzy membership ``w = exp(-(d - rho) / sigma)``, with ``rho`` the distance to the
   nearest neighbour and ``sigma`` found by bisection so each row sums to log2(k); the
   directed graph is made symmetric by the fuzzy union ``w + wᵀ - w·wᵀ``.
3. Starting from the PCA view, every epoch samples each edge with probability ``w / max w``,
   pulls its ends together with UMAP's curve ``1 / (1 + a d^(2b))`` and pushes each head
   away from ``NEGATIVES`` random points. Where UMAP updates one edge at a time, we sum
   the clipped updates of all sampled edges per epoch (as GPU UMAP implementations do).
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from engine.core.events import CancelToken, Progress, Stage, ignore_events
from engine.maps.similarity import top_k

NEIGHBOURS = 15
NEGATIVES = 5
A, B = 1.577, 0.895        # UMAP's curve for min_dist 0.1, spread 1
GRAD_CLIP = 4.0
INIT_EXTENT = 10.0
EPOCHS = 200               # UMAP's count for large sets; on 10k Fashion-MNIST images 500 kept no more neighbours


def neighbour_layout(z: torch.Tensor, start: torch.Tensor, generator: torch.Generator, on_event=None,
                     cancel: Optional[CancelToken] = None, epochs: int = EPOCHS) -> torch.Tensor:
    """2-D positions ``(n, 2)`` for the unit-length rows of ``z`` ``(n, d)``, optimised from
    ``start`` ``(n, 2)`` (the PCA view)."""
    emit = on_event or ignore_events
    count = len(z)
    if count < 3:
        return torch.zeros(count, 2)
    heads, tails, weights = fuzzy_graph(z, min(NEIGHBOURS, count - 1), cancel)
    y = _initial_positions(start, generator)
    probability = weights / weights.max()
    keep = probability >= 1.0 / epochs                               # UMAP drops edges it would never sample
    heads, tails, probability = heads[keep], tails[keep], probability[keep]
    for epoch in range(epochs):
        if cancel is not None:
            cancel.check()
        rate = 1.0 - epoch / epochs
        sampled = torch.rand(len(probability), generator=generator) < probability
        h, t = heads[sampled], tails[sampled]
        step = torch.zeros_like(y)
        step.index_add_(0, h, _attraction(y[h] - y[t]))
        negatives = torch.randint(count, (len(h) * NEGATIVES,), generator=generator)
        h_rep = h.repeat_interleave(NEGATIVES)
        step.index_add_(0, h_rep, _repulsion(y[h_rep] - y[negatives]))
        y += rate * step
        if epoch % 10 == 9 or epoch == epochs - 1:
            emit(Progress(Stage.LAYOUT, epoch + 1, epochs))
    return y


def fuzzy_graph(z: torch.Tensor, k: int, cancel: Optional[CancelToken] = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The symmetric fuzzy kNN graph as directed edges (heads ``(E,)``, tails ``(E,)``,
    weights ``(E,)``), each undirected edge listed in both directions."""
    count = len(z)
    sims, neighbours = top_k(z, z, k, skip_self=True, cancel=cancel)
    distance = (1.0 - sims).clamp_min(0)
    rho = distance[:, :1]
    sigma = _bandwidths(distance - rho, math.log2(k))
    membership = torch.exp(-(distance - rho).clamp_min(0) / sigma)
    rows = torch.arange(count).repeat_interleave(k)
    forward = rows * count + neighbours.reshape(-1)
    backward = neighbours.reshape(-1) * count + rows
    keys, inverse = torch.unique(torch.cat([forward, backward]), return_inverse=True)
    w = membership.reshape(-1)
    p = torch.zeros(len(keys)).index_add_(0, inverse[:len(w)], w)    # w[i -> j]
    q = torch.zeros(len(keys)).index_add_(0, inverse[len(w):], w)    # w[j -> i]
    return keys // count, keys % count, p + q - p * q


def _bandwidths(offsets: torch.Tensor, target: float, iterations: int = 64) -> torch.Tensor:
    """Per row, the ``sigma`` ``(n, 1)`` with ``sum(exp(-offsets / sigma)) = target``, by bisection."""
    low = torch.zeros(len(offsets), 1)
    high = torch.full((len(offsets), 1), float("inf"))
    sigma = torch.ones(len(offsets), 1)
    for _ in range(iterations):
        total = torch.exp(-offsets.clamp_min(0) / sigma).sum(1, keepdim=True)
        too_wide = total > target
        high = torch.where(too_wide, sigma, high)
        low = torch.where(too_wide, low, sigma)
        sigma = torch.where(torch.isinf(high), sigma * 2, (low + high) / 2)
    return sigma.clamp_min(1e-3 * offsets.mean().clamp_min(1e-12))


def _initial_positions(start: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``start`` centred and scaled to ±``INIT_EXTENT``, with a little noise to split ties."""
    start = start.float() - start.float().mean(0)
    start *= INIT_EXTENT / start.abs().max().clamp_min(1e-12)
    return start + 1e-4 * torch.randn(start.shape, generator=generator)


def _attraction(diff: torch.Tensor) -> torch.Tensor:
    d2 = diff.square().sum(1, keepdim=True)
    coefficient = -2 * A * B * d2.clamp_min(1e-12).pow(B - 1) / (1 + A * d2.pow(B))
    return (coefficient * diff).clamp(-GRAD_CLIP, GRAD_CLIP)


def _repulsion(diff: torch.Tensor) -> torch.Tensor:
    d2 = diff.square().sum(1, keepdim=True)
    coefficient = 2 * B / ((1e-3 + d2) * (1 + A * d2.pow(B)))
    return (coefficient * diff).clamp(-GRAD_CLIP, GRAD_CLIP)
