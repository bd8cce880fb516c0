"""Backbone factory: every backbone maps ``(B, C, H, W)`` float -> ``(B, D)`` pooled features.

``smallcnn``, ``mediumcnn`` and ``largecnn`` are our own plain CNNs for CPUs and small
images, in three sizes (see :data:`CNN_SHAPES`); the rest are torchvision
models with the classifier removed and the first conv adapted to the channel count.
For small images (<= 64 px) the stem keeps the resolution: ResNets get the CIFAR-style
3x3 stride-1 conv without max-pool (He et al. 2016, section 4.2), MobileNet and
EfficientNet a stride-1 first conv.
"""
from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn
from torchvision import models

from engine.core.atomic import remove_stale_temps, write_atomic
from engine.core.config import BACKBONES

BACKBONE_NAMES = tuple(name for name in BACKBONES if name != "auto")
SMALL_IMAGE_MAX = 64
DOWNLOAD_TIMEOUT_S = 30.0


CNN_SHAPES = {                  # name: (widths of the four stages, convs per stage)
    "smallcnn": ((32, 64, 128, 256), 1),     # about 0.39 M parameters
    "mediumcnn": ((32, 64, 128, 256), 2),    # about 1.2 M
    "largecnn": ((64, 128, 256, 512), 2),    # about 4.7 M
}


class PlainCNN(nn.Sequential):
    """Four stages of conv-BN-ReLU layers (the first conv of each with stride s-2-2-2, the
    others stride 1), global average pool. ``(B, C, H, W)`` -> ``(B, widths[-1])``."""

    def __init__(self, in_channels: int, stem_stride: int = 1, widths: tuple[int, ...] = (32, 64, 128, 256),
                 convs_per_stage: int = 1):
        layers: list[nn.Module] = []
        channels = in_channels
        for i, width in enumerate(widths):
            for j in range(convs_per_stage):
                stride = (stem_stride if i == 0 else 2) if j == 0 else 1
                layers += [
                    nn.Conv2d(channels, width, 3, stride=stride, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                channels = width
        super().__init__(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = channels


def build_backbone(
    name: str,
    in_channels: int,
    image_size: int,
    pretrained: bool = False,
    on_warning: Optional[Callable[[str], None]] = None,
    small_stem: Optional[bool] = None,
) -> tuple[nn.Module, int]:
    """Return ``(module, feature_dim)``. ``small_stem=None`` means ``image_size <= 64``.

    With ``pretrained`` the torchvision ImageNet weights are loaded from the torch hub
    cache (downloaded if missing); if that fails, ``on_warning`` gets the reason and
    the model keeps its random init. Never raises for missing weights.
    """
    if name not in BACKBONE_NAMES:
        raise ValueError(f"unknown backbone '{name}'; choose one of {', '.join(BACKBONE_NAMES)}")
    if in_channels not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, not {in_channels}")
    warn = on_warning or (lambda _message: None)
    small = image_size <= SMALL_IMAGE_MAX if small_stem is None else small_stem
    if name in CNN_SHAPES:
        if pretrained:
            warn(f"{name} has no pretrained weights; it starts from random init")
        widths, convs = CNN_SHAPES[name]
        model = PlainCNN(in_channels, stem_stride=1 if small else 2, widths=widths, convs_per_stage=convs)
        return model, model.feature_dim

    model = models.get_model(name, weights=None)
    if name.startswith("resnet"):
        stem_path, feature_dim = "conv1", model.fc.in_features
        model.fc = nn.Identity()
        if small:
            model.maxpool = nn.Identity()
    else:
        stem_path = "features.0.0"
        feature_dim = model.classifier[0 if name.startswith("mobilenet") else 1].in_features
        model.classifier = nn.Identity()
    _adapt_stem(model, stem_path, in_channels, small, resnet=name.startswith("resnet"))
    if pretrained:
        _load_pretrained(model, name, stem_path, in_channels, warn)
    return model, feature_dim


def _adapt_stem(model: nn.Module, path: str, in_channels: int, small: bool, resnet: bool) -> None:
    """Replace the first conv: new input channels, and for small images stride 1
    (plus a 3x3 kernel for ResNets)."""
    old: nn.Conv2d = model.get_submodule(path)
    if in_channels == old.in_channels and not small:
        return
    kernel, padding = (3, 1) if small and resnet else (old.kernel_size, old.padding)
    new = nn.Conv2d(in_channels, old.out_channels, kernel, stride=1 if small else old.stride,
                    padding=padding, bias=old.bias is not None)
    nn.init.kaiming_normal_(new.weight, mode="fan_out", nonlinearity="relu")
    model.set_submodule(path, new)


def _load_pretrained(model: nn.Module, name: str, stem_path: str, in_channels: int,
                     warn: Callable[[str], None]) -> None:
    """Load ImageNet weights into every layer whose shape fits; a 1-channel stem gets the
    sum of the RGB kernels."""
    try:
        state = _load_pretrained_state(name)
    except Exception as exc:  # offline, missing file, bad download: carry on untrained
        warn(f"could not load pretrained {name} weights ({exc}); training from random init")
        return
    stem_key = f"{stem_path}.weight"
    if in_channels == 1 and state[stem_key].shape[1] == 3:
        state[stem_key] = state[stem_key].sum(dim=1, keepdim=True)
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if stem_key not in fitting:
        warn(f"the small-image stem of {name} does not fit the pretrained first conv; that layer starts from random init")
    model.load_state_dict(fitting, strict=False)


def _load_pretrained_state(name: str) -> dict:
    """The torchvision DEFAULT weights of ``name``, from the torch hub cache or downloaded there."""
    url = models.get_model_weights(name).DEFAULT.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if not path.exists():
        _download(url, path)
    return torch.load(path, map_location="cpu", weights_only=True)


def _download(url: str, dest: Path) -> None:
    """Fetch ``url`` with a timeout into ``dest`` atomically, checking the sha256 prefix in its
    file name before the file takes its place."""
    remove_stale_temps(dest.parent)
    expected = torch.hub.HASH_REGEX.search(dest.name)
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        def fetch(out) -> None:
            digest = hashlib.sha256()
            for chunk in _chunks(response, url):
                out.write(chunk)
                digest.update(chunk)
            if expected and not digest.hexdigest().startswith(expected.group(1)):
                raise RuntimeError(f"download of {url} is corrupt (sha256 mismatch)")

        write_atomic(dest, fetch)


def _chunks(response, url: str):
    """The response body in 1 MiB pieces; a broken connection is a RuntimeError, so that it
    is never taken for a refused write."""
    while True:
        try:
            chunk = response.read(1 << 20)
        except OSError as error:
            raise RuntimeError(f"download of {url} failed ({error})") from None
        if not chunk:
            return
        yield chunk
