"""VICReg: invariance, variance and covariance terms on expanded embeddings
(Bardes et al. 2022, "VICReg: Variance-Invariance-Covariance Regularization")."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.data.augment import ViewSpec
from engine.pretrain.methods.base import SSLMethod, encode_views, mlp
from engine.pretrain.methods.byol import byol_views


def _variance_term(z: Tensor, eps: float = 1e-4) -> Tensor:
    """Hinge on the batch std of every dimension: mean_j relu(1 - sqrt(var_j + eps))."""
    return F.relu(1.0 - torch.sqrt(z.var(dim=0) + eps)).mean()


def _covariance_term(z: Tensor) -> Tensor:
    """Sum of squared off-diagonal covariances divided by the dimension d."""
    n, d = z.shape
    z = z - z.mean(dim=0)
    cov = (z.T @ z) / (n - 1)
    return (cov.square().sum() - cov.diagonal().square().sum()) / d


def vicreg_loss(z1: Tensor, z2: Tensor, sim_coeff: float = 25.0, std_coeff: float = 25.0,
                cov_coeff: float = 1.0) -> Tensor:
    """z1, z2: ``(N, d)`` expander outputs of two views -> scalar
    ``sim * MSE + std * (v(z1) + v(z2)) / 2 + cov * (c(z1) + c(z2))`` (paper eq. 6)."""
    z1, z2 = z1.float(), z2.float()
    invariance = F.mse_loss(z1, z2)
    variance = (_variance_term(z1) + _variance_term(z2)) / 2
    covariance = _covariance_term(z1) + _covariance_term(z2)
    return sim_coeff * invariance + std_coeff * variance + cov_coeff * covariance


class VICReg(SSLMethod):
    """Backbone + 3-layer expander (width 8192 / 2048 / 1024 for D >= 2048 / >= 512 / less)
    + :func:`vicreg_loss`; views as in BYOL (as the paper does)."""

    def __init__(self, backbone: nn.Module, feature_dim: int, image_size: int, embed_dim: int = 0):
        super().__init__(backbone)
        self.image_size = image_size
        width = embed_dim or (8192 if feature_dim >= 2048 else 2048 if feature_dim >= 512 else 1024)
        self.expander = mlp([feature_dim, width, width, width])

    def view_specs(self) -> list[ViewSpec]:
        return byol_views(self.image_size)

    def forward(self, views: list[Tensor]) -> tuple[Tensor, Tensor]:
        z1, z2 = encode_views(lambda x: self.expander(self.backbone(x)), views)
        return vicreg_loss(z1, z2), z1.detach()
