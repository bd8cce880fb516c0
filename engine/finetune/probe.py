"""Learning on frozen features: a weighted logistic-regression head and label propagation.

Both work on the standardised features of :class:`engine.models.model_io.Classifier`
(L2-normalised, then centred and scaled with statistics of all the images, labeled or
not, which uses no label).
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.core.device import one_cpu_thread

LBFGS_ITERATIONS = 100
DEFAULT_L2 = 1e-2       # the head's L2 strength on the mean loss (see bench/label_efficiency.py)
PROPAGATION_ALPHA = 0.99
PROPAGATION_STEPS = 20
SIMILARITY_POWER = 3    # edge weight = cosine similarity ** 3 (Iscen et al. 2019)
KNN_CHUNK = 2048


def feature_statistics(raw: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and std ``(D,)`` of the L2-normalised raw features ``(N, D)``."""
    z = F.normalize(raw.float(), dim=1)
    return z.mean(0), z.std(0).clamp_min(1e-6) if len(z) > 1 else torch.ones(z.shape[1])


def balanced_weights(y: Tensor, num_classes: int) -> Tensor:
    """Per-sample weights ``(n,)`` that give every class the same total weight, mean 1."""
    counts = torch.bincount(y, minlength=num_classes).float()
    return (len(y) / (num_classes * counts.clamp_min(1)))[y]


@one_cpu_thread()
def fit_linear(x: Tensor, y: Tensor, num_classes: int, weights: Optional[Tensor] = None, l2: float = DEFAULT_L2,
               on_iteration: Optional[Callable[[int, float, float], None]] = None,
               iterations: int = LBFGS_ITERATIONS, init: Optional[nn.Linear] = None) -> nn.Linear:
    """Multinomial logistic regression by L-BFGS: features ``(n, D)``, classes ``(n,)``,
    optional sample weights ``(n,)`` (default: class-balanced). Minimises the weighted mean
    cross-entropy plus ``l2/2 · ||W||²``. ``on_iteration(i, loss, train accuracy)`` is called
    after every iteration (it may raise to stop). ``init`` starts from a head's weights (the
    objective is strictly convex, so only the iterations needed change). Returns the head
    ``D -> num_classes``. Runs on one CPU thread: its operations are too small to share."""
    x, y = x.float(), y.long()
    weights = balanced_weights(y, num_classes) if weights is None else weights.float()
    weights = weights / weights.sum()
    head = nn.Linear(x.shape[1], num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    if init is not None:
        head.load_state_dict(init.state_dict())
    optimizer = torch.optim.LBFGS(head.parameters(), lr=1, max_iter=1, history_size=20,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = (F.cross_entropy(head(x), y, reduction="none") * weights).sum() + 0.5 * l2 * head.weight.square().sum()
        loss.backward()
        return loss

    previous = None
    for i in range(iterations):
        loss = float(optimizer.step(closure).detach())
        if on_iteration is not None:
            with torch.no_grad():
                accuracy = float((head(x).argmax(1) == y).float().mean())
            on_iteration(i + 1, loss, accuracy)
        if previous is not None and abs(previous - loss) < 1e-7 * max(1.0, abs(loss)):
            break
        previous = loss
    return head.requires_grad_(False)


@one_cpu_thread()
def knn_graph(z: Tensor, k: int) -> Tensor:
    """Symmetric sparse affinity ``(N, N)`` of the L2-normalised ``z`` ``(N, D)``: each row's
    ``k`` most similar other rows, weight ``max(cos, 0) ** SIMILARITY_POWER``. One CPU thread:
    on a busy 2-core machine 12-16 s on two threads against 1-3 s on one for 5,000 × 256."""
    n = len(z)
    k = min(k, n - 1)
    rows, cols, values = [], [], []
    for first in range(0, n, KNN_CHUNK):
        block = z[first:first + KNN_CHUNK] @ z.T
        block[torch.arange(len(block)), torch.arange(first, first + len(block))] = -2.0   # no self loops
        similarity, index = block.topk(k, dim=1)
        rows.append(torch.arange(first, first + len(block)).repeat_interleave(k))
        cols.append(index.flatten())
        values.append(similarity.clamp_min(0).pow(SIMILARITY_POWER).flatten())
    indices = torch.stack([torch.cat(rows), torch.cat(cols)])
    graph = torch.sparse_coo_tensor(indices, torch.cat(values), (n, n), check_invariants=True)
    return (graph + graph.t()).coalesce()


@one_cpu_thread()
def propagate(graph: Tensor, rows: Tensor, y: Tensor, num_classes: int) -> Tensor:
    """Label propagation (Zhou et al. 2004): ``Z = (I - α S)⁻¹ Y`` by ``PROPAGATION_STEPS``
    fixed-point steps, ``S = D^-½ W D^-½``. ``rows`` ``(n,)`` are the labeled images with
    classes ``y`` (each class weighted ``1/count``). Returns class scores ``(N, K)``, each
    row summing to 1 (uniform where nothing reached). One CPU thread: under load, 1.1 s on two
    threads against 0.04 s on one for 5,000 images."""
    n = graph.shape[0]
    degree = torch.sparse.sum(graph, dim=1).to_dense().clamp_min(1e-12)
    scale = degree.rsqrt()
    values = graph.values() * scale[graph.indices()[0]] * scale[graph.indices()[1]]
    normalised = torch.sparse_coo_tensor(graph.indices(), values, graph.shape, check_invariants=True).coalesce()
    seeds = torch.zeros(n, num_classes)
    counts = torch.bincount(y, minlength=num_classes).float().clamp_min(1)
    seeds[rows, y] = 1.0 / counts[y]
    scores = seeds.clone()
    for _ in range(PROPAGATION_STEPS):
        scores = PROPAGATION_ALPHA * torch.sparse.mm(normalised, scores) + (1 - PROPAGATION_ALPHA) * seeds
    scores = scores.clamp_min(0)
    total = scores.sum(1, keepdim=True)
    return torch.where(total > 0, scores / total.clamp_min(1e-30), torch.full_like(scores, 1.0 / num_classes))


def certainty(probabilities: Tensor) -> Tensor:
    """``1 - entropy / log K`` per row ``(N,)``: 1 for one-hot rows, 0 for uniform ones."""
    k = probabilities.shape[1]
    entropy = -(probabilities * probabilities.clamp_min(1e-12).log()).sum(1)
    return 1.0 - entropy / torch.log(torch.tensor(float(max(k, 2))))
