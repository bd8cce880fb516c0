"""The interface every self-supervised method implements, and the helpers they share."""
from __future__ import annotations

import copy
import math
from typing import Callable

import torch
from torch import Tensor, nn

from engine.data.augment import ViewSpec

SMALL_IMAGE = 64   # below this size: milder crops, no blur (as in the CIFAR-10 setups)


class SSLMethod(nn.Module):
    """A backbone plus the heads and loss of one method.

    ``base_lr`` is the learning rate for a global batch of 256 with SGD (momentum 0.9,
    cosine schedule), to be scaled linearly with the batch size by the loop; with
    ``default_weight_decay`` it follows the lightly CIFAR-10 benchmark settings.
    """

    base_lr = 0.12
    default_weight_decay = 5e-4

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def view_specs(self) -> list[ViewSpec]:
        """The views to draw from every image, in the order ``forward`` expects them."""
        raise NotImplementedError

    def forward(self, views: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Views ``(B, C, S_i, S_i)`` -> (scalar loss, detached ``(B, d)`` embeddings for
        :func:`collapse_metric`)."""
        raise NotImplementedError

    def after_step(self, progress: float) -> None:
        """Called after each optimiser step with ``progress`` in [0, 1] (EMA updates)."""


def collapse_metric(embeddings: Tensor) -> float:
    """Mean over dimensions of the batch std of L2-normalised ``(B, d)`` embeddings:
    about ``1/sqrt(d)`` when healthy, 0 when every sample maps to one point
    (Chen & He 2021, SimSiam, section 4.1)."""
    z = nn.functional.normalize(embeddings.detach().float(), dim=1)
    return z.std(dim=0).mean().item()


def mlp(dims: list[int], batch_norm: bool = True, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear layers ``dims[0] -> ... -> dims[-1]``; each hidden layer gets BN (optional)
    and ``activation``; the output layer is plain linear."""
    layers: list[nn.Module] = []
    for d_in, d_out in zip(dims[:-2], dims[1:-1]):
        layers.append(nn.Linear(d_in, d_out, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(d_out))
        layers.append(activation())
    layers.append(nn.Linear(dims[-2], dims[-1]))
    return nn.Sequential(*layers)


def encode_views(encoder: Callable[[Tensor], Tensor], views: list[Tensor]) -> list[Tensor]:
    """Run ``encoder`` once per run of same-sized views (concatenated along the batch),
    and split the result back into one ``(B, ...)`` tensor per view."""
    outputs: list[Tensor] = []
    i = 0
    while i < len(views):
        j = i
        while j < len(views) and views[j].shape == views[i].shape:
            j += 1
        outputs += encoder(torch.cat(views[i:j])).chunk(j - i)
        i = j
    return outputs


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy with gradients off: the EMA target/teacher network."""
    target = copy.deepcopy(module)
    target.requires_grad_(False)
    return target


def cosine_momentum(base: float, progress: float) -> float:
    """EMA momentum rising from ``base`` to 1 on a cosine over training (Grill et al. 2020)."""
    return 1.0 - (1.0 - base) * (math.cos(math.pi * min(max(progress, 0.0), 1.0)) + 1.0) / 2.0


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """``target = momentum * target + (1 - momentum) * online`` for every parameter."""
    target_params = list(target.parameters())
    online_params = [p.detach() for p in online.parameters()]
    torch._foreach_lerp_(target_params, online_params, 1.0 - momentum)


def default_crop_scale(image_size: int) -> tuple[float, float]:
    """Random-resized-crop area range: (0.08, 1) as on ImageNet, (0.2, 1) for small images."""
    return (0.2, 1.0) if image_size < SMALL_IMAGE else (0.08, 1.0)
