"""Backbone factory: every name builds for 1 and 3 channels and returns pooled features."""
from __future__ import annotations

import hashlib

import pytest
import torch
from torch import nn

from engine.core import atomic
from engine.core.config import BACKBONES, OWN_CNNS
from engine.models import backbones
from engine.models.backbones import BACKBONE_NAMES, build_backbone


@pytest.mark.parametrize("name", BACKBONE_NAMES)
@pytest.mark.parametrize("channels", [1, 3])
def test_builds_and_returns_pooled_features(name, channels):
    model, dim = build_backbone(name, channels, 32)
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, channels, 32, 32))
    assert out.shape == (2, dim)
    assert torch.isfinite(out).all()


def test_smallcnn_is_small():
    model, dim = build_backbone("smallcnn", 3, 32)
    assert dim == 256
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


def test_own_cnns_grow_in_size_and_each_config_name_builds():
    assert tuple(backbones.CNN_SHAPES) == OWN_CNNS
    sizes = [sum(p.numel() for p in build_backbone(name, 1, 28)[0].parameters()) for name in OWN_CNNS]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert set(BACKBONE_NAMES) == set(BACKBONES) - {"auto"}


def test_small_stem_is_automatic_and_overridable():
    auto_small, _ = build_backbone("resnet18", 3, 32)
    auto_large, _ = build_backbone("resnet18", 3, 128)
    forced, _ = build_backbone("resnet18", 3, 32, small_stem=False)
    assert auto_small.conv1.kernel_size == (3, 3) and auto_small.conv1.stride == (1, 1)
    assert isinstance(auto_small.maxpool, nn.Identity)
    assert auto_large.conv1.kernel_size == (7, 7) and isinstance(auto_large.maxpool, nn.MaxPool2d)
    assert forced.conv1.stride == (2, 2)
    mobile, _ = build_backbone("mobilenet_v3_small", 1, 32)
    assert mobile.features[0][0].stride == (1, 1) and mobile.features[0][0].in_channels == 1


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="resnet18"):
        build_backbone("vgg11", 3, 32)


def test_pretrained_offline_warns_and_keeps_random_init(monkeypatch):
    def offline(_name):
        raise OSError("network is unreachable")

    monkeypatch.setattr(backbones, "_load_pretrained_state", offline)
    messages = []
    model, dim = build_backbone("resnet18", 3, 32, pretrained=True, on_warning=messages.append)
    assert dim == 512 and len(messages) == 1
    assert "random init" in messages[0] and "unreachable" in messages[0]


def test_pretrained_weights_load_with_summed_gray_stem(monkeypatch):
    reference, _ = build_backbone("resnet18", 3, 224)
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    state["fc.weight"] = torch.zeros(1000, 512)   # the classifier is dropped, not an error
    monkeypatch.setattr(backbones, "_load_pretrained_state", lambda _name: state)
    messages = []
    gray, _ = build_backbone("resnet18", 1, 224, pretrained=True, on_warning=messages.append)
    assert messages == []
    torch.testing.assert_close(gray.conv1.weight, state["conv1.weight"].sum(dim=1, keepdim=True))
    torch.testing.assert_close(gray.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])
    small, _ = build_backbone("resnet18", 3, 32, pretrained=True, on_warning=messages.append)
    assert len(messages) == 1 and "stem" in messages[0]
    torch.testing.assert_close(small.layer1[0].conv1.weight, state["layer1.0.conv1.weight"])


def test_downloaded_weights_take_their_place_only_when_their_checksum_matches(tmp_path):
    weights = b"weights" * 1000
    digest = hashlib.sha256(weights).hexdigest()
    source = tmp_path / "served.pth"
    source.write_bytes(weights)
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / f".old-{digest[:8]}.pth.999999999-1{atomic.TEMP_SUFFIX}").write_bytes(b"left by a killed download")

    backbones._download(source.as_uri(), cache / f"net-{digest[:8]}.pth")
    assert (cache / f"net-{digest[:8]}.pth").read_bytes() == weights
    with pytest.raises(RuntimeError, match="corrupt"):
        backbones._download(source.as_uri(), cache / "net-0000beef.pth")
    assert [p.name for p in cache.iterdir()] == [f"net-{digest[:8]}.pth"]
