"""Every method trains: finite loss, gradients into the backbone, EMA targets that follow."""
from __future__ import annotations

import pytest
import torch

from engine.data.augment import augment_views
from engine.models.backbones import build_backbone
from engine.pretrain.methods import METHOD_NAMES, build_method, collapse_metric

SIZE = 16


def _method(name, channels=3, seed=0):
    torch.manual_seed(seed)
    backbone, dim = build_backbone("smallcnn", channels, SIZE)
    return build_method(name, backbone, dim, SIZE, channels)


def _views(method, channels=3, batch=6):
    images = torch.randint(0, 256, (batch, channels, SIZE, SIZE), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(2)
    return [augment_views(images, spec, generator) for spec in method.view_specs()]


@pytest.mark.parametrize("name", METHOD_NAMES)
@pytest.mark.parametrize("channels", [1, 3])
def test_step_gives_finite_loss_and_updates_backbone(name, channels):
    method = _method(name, channels)
    views = _views(method, channels)
    assert len(views) >= 2
    loss, embeddings = method(views)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert embeddings.shape[0] == 6 and not embeddings.requires_grad
    loss.backward()
    first = method.backbone[0].weight
    assert first.grad is not None and first.grad.abs().sum() > 0
    before = first.detach().clone()
    torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.1).step()
    assert not torch.equal(before, first.detach())


@pytest.mark.parametrize("name, target", [("byol", "target_backbone"), ("dino", "teacher_backbone")])
def test_ema_target_has_no_grads_and_follows_online(name, target):
    method = _method(name)
    target_net = getattr(method, target)
    assert all(not p.requires_grad for p in target_net.parameters())
    loss, _ = method(_views(method))
    loss.backward()
    assert all(p.grad is None for p in target_net.parameters())
    torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.5).step()
    online, ema = method.backbone[0].weight.detach(), target_net[0].weight
    before = ema.detach().clone()
    gap = (online - before).abs().sum()
    method.after_step(0.0)
    moved = (ema - before).abs().sum()
    assert 0 < moved < gap                         # a small step towards the online weights
    assert (online - ema).abs().sum() < gap
    frozen = ema.detach().clone()
    method.after_step(1.0)                         # momentum 1 at the end: frozen
    assert torch.equal(frozen, ema.detach())


def test_dino_centre_moves_and_local_crops_are_smaller():
    method = _method("dino")
    sizes = [spec.size for spec in method.view_specs()]
    assert sizes == [SIZE, SIZE, SIZE // 2, SIZE // 2]
    method(_views(method))
    assert method.center.abs().sum() > 0


def test_unknown_method_and_bad_channels():
    backbone, dim = build_backbone("smallcnn", 3, SIZE)
    with pytest.raises(ValueError, match="simclr"):
        build_method("moco", backbone, dim, SIZE, 3)
    with pytest.raises(ValueError, match="channels"):
        build_method("simclr", backbone, dim, SIZE, 4)


def test_collapse_metric_healthy_vs_collapsed():
    healthy = torch.randn(512, 64, generator=torch.Generator().manual_seed(0))
    assert abs(collapse_metric(healthy) - 64 ** -0.5) < 0.02
    assert collapse_metric(torch.ones(512, 64) + 1e-6 * healthy) < 1e-3
