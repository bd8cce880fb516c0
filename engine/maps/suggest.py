""""What should I label next?": diverse images first, then the ones the model is unsure of.

Diversity: k-means on the L2-normalised embeddings with one cluster per labeled image plus
one per wanted pick (k-means++ seeding, Arthur & Vassilvitskii 2007); the medoids of the
largest clusters that hold no label yet are suggested. We use medoids rather than plain
k-center greedy (Sener & Savarese 2018) because k-center picks the farthest points, which
on real data are outliers, while a medoid is a typical member of its group, so ten clicks
cover ten groups. Once a model exists, part of the picks are the unlabeled images with
the smallest margin between the two likeliest classes (Scheffer et al. 2001), spread over
the embedding space by taking the least certain image of each of several clusters of the
uncertain pool (as in cluster-margin sampling, Citovsky et al. 2021).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from engine.core.device import one_cpu_thread

KMEANS_ITERATIONS = 25
KMEANS_RESTARTS = 3
KMEANS_MAX_POINTS = 20_000
SEED_TRIALS = 10
UNCERTAIN_SHARE = 0.7       # with a model: share of picks by uncertainty, the rest by diversity
UNCERTAIN_POOL = 4          # the uncertain pool holds this many candidates per pick


@dataclass(frozen=True)
class Suggestion:
    """An image worth labeling: its row, path, why, and ``kind`` ("diversity"/"uncertainty").
    ``cluster``: for a cluster's medoid, the paths of that cluster (a label on any of them
    covers it, and the reason no longer holds); empty otherwise."""

    index: int
    path: str
    reason: str
    kind: str
    cluster: frozenset = frozenset()


def suggest(features, paths: Sequence[str], n: int, labeled: Iterable[str] = (), predictions: Iterable = (),
            seed: int = 0) -> list[Suggestion]:
    """Up to ``n`` unlabeled images to label next.

    ``features``: ``(N, D)`` embeddings, row i is ``paths[i]``; ``labeled``: paths that
    have a label; ``predictions``: a model's :class:`engine.finetune.run.Prediction` rows (none
    before any model), which add uncertainty picks.
    """
    with one_cpu_thread():
        return _suggest(F.normalize(torch.as_tensor(np.asarray(features), dtype=torch.float32), dim=1), paths, n,
                        labeled, predictions, seed)


def _suggest(z: torch.Tensor, paths: Sequence[str], n: int, labeled: Iterable[str], predictions: Iterable,
             seed: int) -> list[Suggestion]:
    """:func:`suggest` on the L2-normalised features ``z`` ``(N, D)``."""
    rows = {path: i for i, path in enumerate(paths)}
    labeled_rows = sorted({rows[p] for p in labeled if p in rows})
    n = min(n, len(paths) - len(labeled_rows))
    if n <= 0:
        return []
    generator = torch.Generator().manual_seed(seed)
    by_row = {rows[p.path]: p for p in predictions if p.path in rows}
    picks: list[Suggestion] = []
    if by_row:
        picks = _uncertain(z, by_row, paths, labeled_rows, round(n * UNCERTAIN_SHARE), generator)
    taken = labeled_rows + [s.index for s in picks]
    diverse = _diverse(z, paths, labeled_rows, taken, n - len(picks), generator)
    return _interleave(picks, diverse)


def kmeans(z: torch.Tensor, k: int, generator: torch.Generator,
           restarts: int = KMEANS_RESTARTS) -> tuple[torch.Tensor, torch.Tensor]:
    """k-means on ``z`` ``(N, D)``, the best (lowest inertia) of ``restarts`` runs, fitted on
    at most ``KMEANS_MAX_POINTS`` random rows. Returns (assignment ``(N,)``, centroids ``(k, D)``)."""
    sample = z
    if len(z) > KMEANS_MAX_POINTS:
        sample = z[torch.randperm(len(z), generator=generator)[:KMEANS_MAX_POINTS]]
    best = None
    for _ in range(restarts):
        centroids = _lloyd(sample, _seed_centroids(sample, min(k, len(sample)), generator))
        inertia = float(torch.cdist(sample, centroids).min(1).values.square().sum())
        if best is None or inertia < best[0]:
            best = (inertia, centroids)
    return torch.cdist(z, best[1]).argmin(1), best[1]


def _seed_centroids(z: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Greedy k-means++: each step keeps the best of ``SEED_TRIALS`` candidates drawn by
    squared distance (scikit-learn draws ``2 + log k``; more trials stop two seeds landing in
    one large cluster while a small one gets none): ``(k, D)`` rows of ``z``."""
    first = int(torch.randint(len(z), (1,), generator=generator))
    centres, nearest = [first], (z - z[first]).square().sum(1)
    for _ in range(1, k):
        weights = nearest.clamp_min(0)
        if weights.sum() <= 0:
            weights = torch.ones_like(weights)
        candidates = torch.multinomial(weights, SEED_TRIALS, replacement=True, generator=generator)
        options = torch.minimum(nearest.unsqueeze(0), torch.cdist(z[candidates], z).square())
        best = int(options.sum(1).argmin())
        centres.append(int(candidates[best]))
        nearest = options[best]
    return z[centres].clone()


def _lloyd(z: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Lloyd iterations from ``centroids`` ``(k, D)`` until they settle; an empty cluster keeps its centre."""
    k = len(centroids)
    for _ in range(KMEANS_ITERATIONS):
        assignment = torch.cdist(z, centroids).argmin(1)
        sums = torch.zeros_like(centroids).index_add_(0, assignment, z)
        counts = torch.bincount(assignment, minlength=k).unsqueeze(1)
        updated = torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
        if torch.allclose(updated, centroids):
            break
        centroids = updated
    return centroids


def _diverse(z, paths, labeled_rows, taken, count, generator) -> list[Suggestion]:
    """Medoids of the largest clusters without a label, then (when every cluster has one)
    the images farthest from everything taken."""
    if count <= 0:
        return []
    assignment, centroids = kmeans(z, len(labeled_rows) + count, generator)
    covered = set(assignment[list(taken)].tolist()) if taken else set()
    sizes = torch.bincount(assignment, minlength=len(centroids))
    distance = (z - centroids[assignment]).square().sum(1)
    out: list[Suggestion] = []
    blocked = set(taken)
    for cluster in sorted(range(len(centroids)), key=lambda c: -int(sizes[c])):
        if len(out) == count:
            break
        members = [int(i) for i in torch.nonzero(assignment == cluster).flatten() if int(i) not in blocked]
        if cluster in covered or not members:
            continue
        medoid = min(members, key=lambda i: float(distance[i]))
        everyone = torch.nonzero(assignment == cluster).flatten().tolist()
        out.append(Suggestion(medoid, paths[medoid], f"covers a cluster not yet labeled "
                                                      f"({int(sizes[cluster])} similar images)", "diversity",
                              frozenset(paths[i] for i in everyone)))
        blocked.add(medoid)
    while len(out) < count and len(blocked) < len(z):
        chosen = torch.tensor(sorted(blocked))
        gap = torch.cdist(z, z[chosen]).min(1).values if len(chosen) else torch.ones(len(z))
        gap[chosen] = -1
        far = int(gap.argmax())
        out.append(Suggestion(far, paths[far], "unlike every image labeled or suggested so far", "diversity"))
        blocked.add(far)
    return out


def _uncertain(z, by_row: dict, paths, labeled_rows, count, generator) -> list[Suggestion]:
    """The least certain unlabeled image of each of ``count`` clusters of the pool of the
    ``UNCERTAIN_POOL * count`` images with the smallest top-two margin."""
    if count <= 0:
        return []
    margin = torch.full((len(z),), float("inf"))
    for row, p in by_row.items():
        margin[row] = p.confidence - p.runner_up_confidence
    margin[labeled_rows] = float("inf")
    candidates = int(torch.isfinite(margin).sum())
    if candidates == 0:
        return []
    pool = margin.argsort()[:min(candidates, UNCERTAIN_POOL * count)]
    assignment, _ = kmeans(z[pool], count, generator)
    out = []
    for cluster in assignment.unique().tolist():
        members = pool[assignment == cluster]
        row = int(members[margin[members].argmin()])
        p = by_row[row]
        reason = (f"the model is unsure: {p.confidence:.0%} {p.prediction} vs "
                  f"{p.runner_up_confidence:.0%} {p.runner_up}")
        out.append((float(margin[row]), Suggestion(row, paths[row], reason, "uncertainty")))
    return [s for _, s in sorted(out, key=lambda pair: pair[0])][:count]


def _interleave(first: list[Suggestion], second: list[Suggestion]) -> list[Suggestion]:
    out = []
    for i in range(max(len(first), len(second))):
        out += first[i:i + 1] + second[i:i + 1]
    return out
