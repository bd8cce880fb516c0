"""SimCLR: contrast two views of each image against all other images in the batch
(Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations")."""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.data.augment import ViewSpec
from engine.pretrain.methods.base import SMALL_IMAGE, SSLMethod, default_crop_scale, encode_views, mlp

Gather = Callable[[Tensor], Tensor]


def nt_xent_loss(z1: Tensor, z2: Tensor, temperature: float = 0.5, gather: Optional[Gather] = None) -> Tensor:
    """Normalised temperature-scaled cross entropy over ``2N`` anchors.

    z1, z2: ``(N, d)`` projections of two views; row i of each is a positive pair, every
    other row of both is a negative. ``gather`` maps a local ``(N, d)`` to the global
    ``(N * world, d)`` batch (a differentiable all-gather under DDP, so each rank computes
    the same global loss); by default it is the identity. Returns a scalar.
    """
    if gather is not None:
        z1, z2 = gather(z1), gather(z2)
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    n = z1.shape[0]
    logits = (z @ z.T) / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.arange(2 * n, device=z.device).roll(n)   # i <-> i + N
    return F.cross_entropy(logits, positives)


def simclr_views(image_size: int) -> list[ViewSpec]:
    """Two views from one recipe: colour jitter strength 0.5 (the paper's CIFAR setting),
    blur with p = 0.5 only for images of 64 px and more."""
    spec = ViewSpec(
        size=image_size,
        crop_scale=default_crop_scale(image_size),
        jitter=(0.4, 0.4, 0.4, 0.1),
        blur_p=0.0 if image_size < SMALL_IMAGE else 0.5,
    )
    return [spec, spec]


class SimCLR(SSLMethod):
    """Backbone + projection MLP ``D -> hidden -> embed_dim`` (default 128) + NT-Xent.

    ``gather`` (identity when None) is handed to :func:`nt_xent_loss`; DDP sets it to add
    the negatives of the other ranks.
    """

    def __init__(self, backbone: nn.Module, feature_dim: int, image_size: int, embed_dim: int = 0,
                 temperature: float = 0.5):
        super().__init__(backbone)
        self.image_size = image_size
        self.temperature = temperature
        self.gather: Optional[Gather] = None
        hidden = min(max(feature_dim, 512), 2048)
        self.projector = mlp([feature_dim, hidden, embed_dim or 128])

    def view_specs(self) -> list[ViewSpec]:
        return simclr_views(self.image_size)

    def forward(self, views: list[Tensor]) -> tuple[Tensor, Tensor]:
        z1, z2 = encode_views(lambda x: self.projector(self.backbone(x)), views)
        return nt_xent_loss(z1, z2, self.temperature, self.gather), z1.detach()
