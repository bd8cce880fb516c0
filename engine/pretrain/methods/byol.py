"""BYOL: predict an EMA target network's projection of the other view
(Grill et al. 2020, "Bootstrap Your Own Latent")."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.data.augment import ViewSpec
from engine.pretrain.methods.base import (
    SMALL_IMAGE, SSLMethod, cosine_momentum, default_crop_scale, ema_update, encode_views, frozen_copy, mlp,
)


def byol_loss(p: Tensor, z: Tensor) -> Tensor:
    """Mean over the batch of ``2 - 2 cos(p_i, z_i)``; p: ``(B, d)`` online predictions,
    z: ``(B, d)`` target projections (no gradient). Returns a scalar in [0, 4]."""
    return (2.0 - 2.0 * F.cosine_similarity(p.float(), z.float(), dim=-1)).mean()


def byol_views(image_size: int, crop_scale: Optional[tuple[float, float]] = None) -> list[ViewSpec]:
    """The paper's asymmetric pair: view 1 always blurred, view 2 rarely blurred and
    sometimes solarised; no blur below 64 px."""
    scale = crop_scale or default_crop_scale(image_size)
    small = image_size < SMALL_IMAGE
    return [
        ViewSpec(size=image_size, crop_scale=scale, blur_p=0.0 if small else 1.0),
        ViewSpec(size=image_size, crop_scale=scale, blur_p=0.0 if small else 0.1, solarize_p=0.2),
    ]


class BYOL(SSLMethod):
    """Online backbone + projector + predictor; target = EMA of backbone + projector with
    momentum rising 0.99 -> 1 (cosine). Loss symmetrised over the two views (paper eq. 2)."""

    momentum_base = 0.99

    def __init__(self, backbone: nn.Module, feature_dim: int, image_size: int, embed_dim: int = 0):
        super().__init__(backbone)
        self.image_size = image_size
        hidden = 4096 if feature_dim >= 2048 else 1024
        out = embed_dim or 256
        self.projector = mlp([feature_dim, hidden, out])
        self.predictor = mlp([out, hidden, out])
        self.target_backbone = frozen_copy(backbone)
        self.target_projector = frozen_copy(self.projector)

    def view_specs(self) -> list[ViewSpec]:
        return byol_views(self.image_size)

    def forward(self, views: list[Tensor]) -> tuple[Tensor, Tensor]:
        z1, z2 = encode_views(lambda x: self.projector(self.backbone(x)), views)
        p1, p2 = self.predictor(torch.cat([z1, z2])).chunk(2)
        with torch.no_grad():
            t1, t2 = encode_views(lambda x: self.target_projector(self.target_backbone(x)), views)
        return byol_loss(p1, t2) + byol_loss(p2, t1), z1.detach()

    def after_step(self, progress: float) -> None:
        momentum = cosine_momentum(self.momentum_base, progress)
        ema_update(self.target_backbone, self.backbone, momentum)
        ema_update(self.target_projector, self.projector, momentum)
