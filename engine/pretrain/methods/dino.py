"""DINO: self-distillation with no labels; a student matches a centred, sharpened EMA
teacher across global and local crops (Caron et al. 2021, "Emerging Properties in
Self-Supervised Vision Transformers")."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.data.augment import ViewSpec
from engine.pretrain.distributed import all_reduce_mean_
from engine.pretrain.methods.base import (
    SMALL_IMAGE, SSLMethod, cosine_momentum, ema_update, encode_views, frozen_copy, mlp,
)
from engine.pretrain.methods.byol import byol_views


def dino_loss(student_out: list[Tensor], teacher_out: list[Tensor], center: Tensor,
              student_temp: float = 0.1, teacher_temp: float = 0.04) -> Tensor:
    """Cross entropy ``-sum_k q_k log p_k`` averaged over the batch and over every pair
    (teacher view t, student view s) with s != t.

    student_out: per view ``(B, K)`` logits, the teacher's views first; teacher_out: per
    global view ``(B, K)`` logits; center: ``(1, K)``. Returns a scalar.
    """
    log_p = [F.log_softmax(s.float() / student_temp, dim=-1) for s in student_out]
    q = [F.softmax((t.float() - center) / teacher_temp, dim=-1) for t in teacher_out]
    terms = [-(qt * lp).sum(dim=-1).mean() for it, qt in enumerate(q) for iv, lp in enumerate(log_p) if iv != it]
    return torch.stack(terms).mean()


class DINOHead(nn.Module):
    """MLP ``D -> hidden -> hidden -> bottleneck`` (GELU), L2 normalisation, then a
    weight-normalised linear layer with fixed unit norm to ``out_dim`` logits: ``(B, D) -> (B, K)``."""

    def __init__(self, in_dim: int, out_dim: int = 1024, hidden: int = 1024, bottleneck: int = 256):
        super().__init__()
        self.mlp = mlp([in_dim, hidden, hidden, bottleneck], batch_norm=False, activation=nn.GELU)
        self.last = nn.Parameter(torch.randn(out_dim, bottleneck) * 0.02)

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.mlp(x), dim=-1) @ F.normalize(self.last, dim=-1).T


class DINO(SSLMethod):
    """Student backbone + head, EMA teacher (momentum 0.996 -> 1, cosine), centring with
    momentum 0.9, temperatures 0.1 (student) and 0.04 (teacher); two global views plus
    ``local_crops`` crops at half size that only the student sees."""

    momentum_base = 0.996
    center_momentum = 0.9
    student_temp = 0.1
    teacher_temp = 0.04

    def __init__(self, backbone: nn.Module, feature_dim: int, image_size: int, embed_dim: int = 0,
                 local_crops: int = 2):
        super().__init__(backbone)
        self.image_size = image_size
        self.local_crops = local_crops
        self.head = DINOHead(feature_dim, out_dim=embed_dim or 1024)
        self.teacher_backbone = frozen_copy(backbone)
        self.teacher_head = frozen_copy(self.head)
        self.register_buffer("center", torch.zeros(1, embed_dim or 1024))

    def view_specs(self) -> list[ViewSpec]:
        """Global views (area 0.4-1 with local crops, else the usual range), then local ones (0.05-0.4)."""
        small = self.image_size < SMALL_IMAGE
        global_views = byol_views(self.image_size, (0.4, 1.0) if self.local_crops else None)
        local = ViewSpec(size=max(self.image_size // 2, 8), crop_scale=(0.05, 0.4), blur_p=0.0 if small else 0.5)
        return global_views + [local] * self.local_crops

    def forward(self, views: list[Tensor]) -> tuple[Tensor, Tensor]:
        student = encode_views(lambda x: self.head(self.backbone(x)), views)
        with torch.no_grad():
            teacher = encode_views(lambda x: self.teacher_head(self.teacher_backbone(x)), views[:2])
        loss = dino_loss(student, teacher, self.center, self.student_temp, self.teacher_temp)
        with torch.no_grad():
            batch_center = torch.cat(teacher).float().mean(dim=0, keepdim=True)
            self.center.lerp_(all_reduce_mean_(batch_center), 1.0 - self.center_momentum)
        return loss, student[0].detach()

    def after_step(self, progress: float) -> None:
        momentum = cosine_momentum(self.momentum_base, progress)
        ema_update(self.teacher_backbone, self.backbone, momentum)
        ema_update(self.teacher_head, self.head, momentum)
