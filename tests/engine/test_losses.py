"""Each loss against a hand-written per-sample reference on a tiny random batch."""
from __future__ import annotations

import math

import torch

from engine.pretrain.methods.byol import byol_loss
from engine.pretrain.methods.dino import dino_loss
from engine.pretrain.methods.simclr import nt_xent_loss
from engine.pretrain.methods.vicreg import vicreg_loss


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).float()


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_nt_xent_matches_per_anchor_formula():
    n, t = 5, 0.5
    z1, z2 = _randn(n, 4, seed=1), _randn(n, 4, seed=2)
    z = torch.cat([z1, z2]).tolist()
    losses = []
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        denominator = sum(math.exp(_cos(z[i], z[k]) / t) for k in range(2 * n) if k != i)
        losses.append(-math.log(math.exp(_cos(z[i], z[positive]) / t) / denominator))
    expected = torch.tensor(sum(losses) / len(losses))
    torch.testing.assert_close(nt_xent_loss(z1, z2, temperature=t), expected)


def test_nt_xent_gather_adds_negatives():
    z1, z2 = _randn(4, 3, seed=3), _randn(4, 3, seed=4)
    extra1, extra2 = _randn(4, 3, seed=5), _randn(4, 3, seed=6)
    full = nt_xent_loss(torch.cat([z1, extra1]), torch.cat([z2, extra2]))
    gathered = nt_xent_loss(z1, z2, gather=lambda z: torch.cat([z, extra1 if z is z1 else extra2]))
    torch.testing.assert_close(gathered, full)
    assert not torch.allclose(nt_xent_loss(z1, z2), full)


def test_byol_loss_is_mean_of_per_sample_two_minus_two_cos():
    p, z = _randn(6, 5, seed=1), _randn(6, 5, seed=2)
    expected = sum(2 - 2 * _cos(pi, zi) for pi, zi in zip(p.tolist(), z.tolist())) / 6
    torch.testing.assert_close(byol_loss(p, z), torch.tensor(expected))
    torch.testing.assert_close(byol_loss(p, 3 * p), torch.tensor(0.0), atol=1e-6, rtol=0)


def _vicreg_reference(a, b, sim, std, cov):
    n, d = len(a), len(a[0])
    invariance = sum((a[i][j] - b[i][j]) ** 2 for i in range(n) for j in range(d)) / (n * d)

    def stats(x):
        means = [sum(x[i][j] for i in range(n)) / n for j in range(d)]
        c = [[sum((x[i][j] - means[j]) * (x[i][k] - means[k]) for i in range(n)) / (n - 1) for k in range(d)]
             for j in range(d)]
        variance = sum(max(0.0, 1 - math.sqrt(c[j][j] + 1e-4)) for j in range(d)) / d
        covariance = sum(c[j][k] ** 2 for j in range(d) for k in range(d) if j != k) / d
        return variance, covariance

    (va, ca), (vb, cb) = stats(a), stats(b)
    return sim * invariance + std * (va + vb) / 2 + cov * (ca + cb)


def test_vicreg_matches_elementwise_terms():
    z1, z2 = 0.4 * _randn(7, 4, seed=1), 0.4 * _randn(7, 4, seed=2) + 0.3 * _randn(7, 4, seed=1)
    for coeffs in [(25.0, 25.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]:
        expected = _vicreg_reference(z1.tolist(), z2.tolist(), *coeffs)
        torch.testing.assert_close(vicreg_loss(z1, z2, *coeffs), torch.tensor(expected))


def test_dino_loss_matches_cross_entropy_over_pairs_of_different_views():
    b, k, ts, tt = 3, 6, 0.1, 0.04
    student = [_randn(b, k, seed=s) for s in range(4)]   # 2 global + 2 local views
    teacher = [_randn(b, k, seed=10 + s) for s in range(2)]
    center = 0.1 * _randn(1, k, seed=20)

    def softmax(row, temp):
        exps = [math.exp(v / temp) for v in row]
        return [e / sum(exps) for e in exps]

    terms = []
    for it, t_view in enumerate(teacher):
        for iv, s_view in enumerate(student):
            if iv == it:
                continue
            per_sample = []
            for i in range(b):
                q = softmax([t_view[i, j].item() - center[0, j].item() for j in range(k)], tt)
                p = softmax(s_view[i].tolist(), ts)
                per_sample.append(-sum(qj * math.log(pj) for qj, pj in zip(q, p)))
            terms.append(sum(per_sample) / b)
    expected = torch.tensor(sum(terms) / len(terms))
    torch.testing.assert_close(dino_loss(student, teacher, center, ts, tt), expected)
