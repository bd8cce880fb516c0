"""Self-supervised methods, one per file, built by name."""
from __future__ import annotations

from torch import nn

from engine.pretrain.methods.base import SSLMethod, collapse_metric
from engine.pretrain.methods.byol import BYOL
from engine.pretrain.methods.dino import DINO
from engine.pretrain.methods.simclr import SimCLR
from engine.pretrain.methods.vicreg import VICReg

_METHODS = {"simclr": SimCLR, "byol": BYOL, "vicreg": VICReg, "dino": DINO}
METHOD_NAMES = tuple(_METHODS)

__all__ = ["METHOD_NAMES", "SSLMethod", "build_method", "collapse_metric"]


def build_method(name: str, backbone: nn.Module, feature_dim: int, image_size: int, channels: int,
                 embed_dim: int = 0) -> SSLMethod:
    """The method ``name`` around ``backbone`` (which outputs ``(B, feature_dim)``);
    ``embed_dim`` 0 keeps the method's default head output size."""
    if name not in _METHODS:
        raise ValueError(f"unknown method '{name}'; choose one of {', '.join(METHOD_NAMES)}")
    if channels not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, not {channels}")
    return _METHODS[name](backbone, feature_dim, image_size, embed_dim)
