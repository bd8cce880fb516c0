"""Batched multi-view augmentation on the training device.

Each call turns a uint8 batch ``(B, C, H, W)`` into one float view ``(B, C, S, S)``
with per-sample random parameters and no per-sample Python: random resized crop and
horizontal flip in one ``grid_sample`` pass, colour jitter, random grayscale, gaussian
blur (grouped conv) and solarisation, as in SimCLR (Chen et al. 2020) and BYOL
(Grill et al. 2020). All randomness comes from the given ``torch.Generator``, so a
seed repeats a run exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_GRAY_MEAN = (0.449,)   # the channel means and stds averaged, as for 1-channel transfer
IMAGENET_GRAY_STD = (0.226,)
_LUMA = (0.299, 0.587, 0.114)   # ITU-R 601, the weights of PIL's and torchvision's grayscale
_RGB_TO_YIQ = torch.tensor(((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312)))
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


@dataclass(frozen=True)
class ViewSpec:
    """How to draw one view; probabilities are per sample, ``jitter`` is
    (brightness, contrast, saturation, hue) strengths as in torchvision's ColorJitter."""

    size: int
    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip_p: float = 0.5
    jitter_p: float = 0.8
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.2, 0.1)
    grayscale_p: float = 0.2
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_p: float = 0.0


def default_mean_std(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """ImageNet statistics for RGB, their channel average for 1-channel images."""
    if channels == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    if channels == 1:
        return IMAGENET_GRAY_MEAN, IMAGENET_GRAY_STD
    raise ValueError(f"images must have 1 or 3 channels, not {channels}")


def augment_views(
    images_u8: Tensor,
    spec: ViewSpec,
    generator: torch.Generator,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
) -> Tensor:
    """One augmented view of every image: uint8 ``(B, C, H, W)`` -> normalised float
    ``(B, C, spec.size, spec.size)`` on the same device as the images.

    ``generator`` must live on that device. ``mean``/``std`` default to
    :func:`default_mean_std`. Saturation, hue and grayscale are skipped for C = 1.
    """
    x = _to_unit_float(images_u8)
    b, c = x.shape[:2]
    u = torch.rand(b, 14, generator=generator, device=x.device)   # every random number of the view
    x = _resized_crop_flip(x, spec, u[:, 0:5])
    x = _colour_jitter(x, spec, u[:, 5:10])
    if c == 3:
        gray = _uniform_matrix(_LUMA, x).expand(b, 3, 3)
        keep = (u[:, 10] >= spec.grayscale_p).view(b, 1, 1)
        x = _apply_matrix(x, torch.where(keep, torch.eye(3, device=x.device), gray))
    x = x.clamp_(0.0, 1.0)
    if spec.blur_p > 0:
        x = _gaussian_blur(x, spec, u[:, 11:13])
    solarize = (u[:, 13] < spec.solarize_p).view(b, 1, 1, 1)
    x = torch.where(solarize & (x >= 0.5), 1.0 - x, x)
    return _normalize(x, mean, std)


def normalize_only(
    images_u8: Tensor, size: int, mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None
) -> Tensor:
    """Evaluation transform: uint8 ``(B, C, H, W)`` -> normalised float ``(B, C, size, size)``,
    resized (bilinear, antialiased) only when H or W differ from ``size``."""
    x = _to_unit_float(images_u8)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        x = x.clamp_(0.0, 1.0)
    return _normalize(x, mean, std)


def _to_unit_float(images_u8: Tensor) -> Tensor:
    if images_u8.dtype != torch.uint8 or images_u8.dim() != 4:
        raise TypeError(f"expected a uint8 (B, C, H, W) batch, got {images_u8.dtype} of shape {tuple(images_u8.shape)}")
    default_mean_std(images_u8.shape[1])   # validates the channel count
    return images_u8.float().div_(255.0)


def _normalize(x: Tensor, mean: Optional[Sequence[float]], std: Optional[Sequence[float]]) -> Tensor:
    if mean is None or std is None:
        mean, std = default_mean_std(x.shape[1])
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean_t) / std_t


def _resized_crop_flip(x: Tensor, spec: ViewSpec, u: Tensor) -> Tensor:
    """Random resized crop (area fraction ``crop_scale``, log-uniform aspect ``crop_ratio``)
    and horizontal flip as one affine sampling grid per sample; u: (B, 5) uniforms."""
    b, _, h, w = x.shape
    scale = spec.crop_scale[0] + (spec.crop_scale[1] - spec.crop_scale[0]) * u[:, 0]
    log_lo, log_hi = math.log(spec.crop_ratio[0]), math.log(spec.crop_ratio[1])
    ratio = torch.exp(log_lo + (log_hi - log_lo) * u[:, 1])
    # box width and height as fractions of the image side; aspect is measured in pixels
    bw = torch.sqrt(scale * ratio * h / w).clamp(max=1.0)
    bh = torch.sqrt(scale / ratio * w / h).clamp(max=1.0)
    cx = (1.0 - bw) * (2.0 * u[:, 2] - 1.0)   # box centre in [-1, 1] grid coordinates
    cy = (1.0 - bh) * (2.0 * u[:, 3] - 1.0)
    flip = torch.where(u[:, 4] < spec.hflip_p, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = bw * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = bh
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, [b, x.shape[1], spec.size, spec.size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _colour_jitter(x: Tensor, spec: ViewSpec, u: Tensor) -> Tensor:
    """Brightness, contrast, then (RGB only) saturation and hue as one 3x3 colour matrix,
    each with a per-sample factor, all applied with probability ``jitter_p``; u: (B, 5)."""
    b, c = x.shape[:2]
    on = u[:, 0] < spec.jitter_p

    def factor(strength: float, v: Tensor) -> Tensor:
        low = max(0.0, 1.0 - strength)
        f = low + (1.0 + strength - low) * v
        return torch.where(on, f, 1.0).view(b, 1, 1, 1)

    bright, contrast, saturation, hue = spec.jitter
    x = (x * factor(bright, u[:, 1])).clamp_(0.0, 1.0)
    mean = _luma(x).mean(dim=(1, 2, 3), keepdim=True)
    x = (mean + factor(contrast, u[:, 2]) * (x - mean)).clamp_(0.0, 1.0)
    if c == 1:
        return x
    s = factor(saturation, u[:, 3]).view(b, 1, 1)
    eye = torch.eye(3, device=x.device)
    sat = s * eye + (1.0 - s) * _uniform_matrix(_LUMA, x)
    # hue: rotate the chroma plane (I, Q) of YIQ by a per-sample angle in [-hue, hue] turns
    angle = torch.where(on, 2.0 * math.pi * hue * (2.0 * u[:, 4] - 1.0), 0.0)
    rot = torch.zeros(b, 3, 3, device=x.device)
    rot[:, 0, 0] = 1.0
    rot[:, 1, 1] = rot[:, 2, 2] = torch.cos(angle)
    rot[:, 1, 2] = -torch.sin(angle)
    rot[:, 2, 1] = torch.sin(angle)
    hue_m = _YIQ_TO_RGB.to(x.device) @ rot @ _RGB_TO_YIQ.to(x.device)
    return _apply_matrix(x, hue_m @ sat)


def _luma(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, 1, H, W) grayscale (the image itself when C = 1)."""
    if x.shape[1] == 1:
        return x
    return (x * torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)


def _uniform_matrix(weights: Sequence[float], x: Tensor) -> Tensor:
    """(1, 3, 3) matrix whose every row is ``weights``: maps RGB to replicated gray."""
    return torch.tensor(weights, device=x.device).view(1, 1, 3).expand(1, 3, 3)


def _apply_matrix(x: Tensor, m: Tensor) -> Tensor:
    """Per-sample colour matrix: x (B, 3, H, W), m (B, 3, 3) -> m @ pixel for every pixel."""
    return torch.einsum("bij,bjhw->bihw", m.to(x.dtype), x)


def _gaussian_blur(x: Tensor, spec: ViewSpec, u: Tensor) -> Tensor:
    """Separable gaussian blur with per-sample sigma (unblurred samples get a delta
    kernel), as two grouped convolutions; kernel ~10% of the view size, odd, >= 3."""
    b, c, h, w = x.shape
    k = max(3, int(0.1 * spec.size) // 2 * 2 + 1)
    sigma = spec.blur_sigma[0] + (spec.blur_sigma[1] - spec.blur_sigma[0]) * u[:, 1]
    offsets = torch.arange(k, device=x.device, dtype=x.dtype) - k // 2
    kernel = torch.exp(-offsets.square() / (2.0 * sigma.view(b, 1).square()))
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    delta = (offsets == 0).to(x.dtype).expand(b, k)
    kernel = torch.where((u[:, 0] < spec.blur_p).view(b, 1), kernel, delta)
    kernel = kernel.repeat_interleave(c, dim=0)                 # (B*C, k): one per channel plane
    pad = k // 2
    mode = "reflect" if min(h, w) > pad else "replicate"
    planes = F.pad(x.reshape(1, b * c, h, w), (pad, pad, pad, pad), mode=mode)
    planes = F.conv2d(planes, kernel.view(b * c, 1, 1, k), groups=b * c)
    planes = F.conv2d(planes, kernel.view(b * c, 1, k, 1), groups=b * c)
    return planes.view(b, c, h, w)
