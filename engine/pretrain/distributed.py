"""torchrun / DistributedDataParallel helpers.

``torchrun --nproc_per_node N -m engine.cli pretrain DIR ...`` runs the same job on N
processes: :func:`init_from_env` joins the process group that torchrun describes in the
environment, :func:`wrap_for_ddp` synchronises batch statistics across ranks and wraps
the model, and SimCLR's negatives come from the global batch through
:func:`gather_with_grad` (as the SimCLR paper does across TPU cores).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    backend: str


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env() -> DistInfo:
    """Join the process group described by torchrun's environment variables.

    NCCL when this process has a CUDA GPU, gloo otherwise (CPU nodes, tests).
    """
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, backend)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    return rank_and_world()[0] == 0


def local_device(device: torch.device) -> torch.device:
    """Each rank trains on its own GPU (``cuda:LOCAL_RANK``); CPU stays CPU."""
    if device.type == "cuda" and launched_by_torchrun():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def gather_with_grad(x: Tensor, group=None) -> Tensor:
    """(n, d) per rank → (n · world, d) in rank order; gradients flow back to every rank."""
    return torch.cat(dist_fn.all_gather(x.contiguous(), group=group))


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose backward sums the incoming gradients over ranks too."""

    @staticmethod
    def forward(ctx, x: Tensor, group) -> Tensor:
        ctx.group = group
        out = x.clone()
        dist.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        grad = grad.clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one (for cancel and stop)."""
    if rank_and_world()[1] == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def all_reduce_mean_(x: Tensor) -> Tensor:
    """Average ``x`` in place over ranks (no gradient); a no-op in one process."""
    if rank_and_world()[1] > 1:
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        x /= dist.get_world_size()
    return x


class CrossRankBatchNorm(_BatchNorm):
    """Batch norm whose training statistics span the global batch on every backend.

    torch's SyncBatchNorm only runs on GPUs; this one all-reduces (sum, sum of squares,
    count) with a differentiable all-reduce, so it also works with gloo on CPUs.
    Input: (N, C) or (N, C, *spatial). Same parameters and buffers as BatchNorm.
    ``group`` is a process group apart from DDP's, so the all-reduces inside backward
    never interleave with DDP's gradient buckets.
    """

    group = None

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or rank_and_world()[1] == 1:
            return super().forward(x)
        channels = x.shape[1]
        dims = [0, *range(2, x.dim())]
        xf = x.float()
        count = torch.full((1,), xf.numel() / channels, dtype=torch.float32, device=x.device)
        totals = _SumOverRanks.apply(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count]), self.group)
        n = totals[-1]
        mean = totals[:channels] / n
        var = (totals[channels:2 * channels] / n - mean * mean).clamp_min(0)
        with torch.no_grad():
            self.num_batches_tracked += 1
            self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
            unbiased = var.detach() * n / (n - 1).clamp_min(1)
            self.running_var.lerp_(unbiased.to(self.running_var.dtype), self.momentum)
        shape = [1, channels] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def sync_batch_norm(module: nn.Module, device: torch.device, group=None) -> nn.Module:
    """Replace every BatchNorm with a cross-rank one: torch's SyncBatchNorm on CUDA, ours elsewhere."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module, process_group=group)
    for name, child in module.named_children():
        if isinstance(child, _BatchNorm) and not isinstance(child, CrossRankBatchNorm):
            replacement = CrossRankBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                             child.track_running_stats).to(device)
            replacement.load_state_dict(child.state_dict())
            if child.affine:   # keep frozen (EMA target) parameters frozen
                replacement.weight.requires_grad_(child.weight.requires_grad)
                replacement.bias.requires_grad_(child.bias.requires_grad)
            replacement.group = group
            setattr(module, name, replacement)
        else:
            sync_batch_norm(child, device, group)
    return module


def wrap_for_ddp(method: nn.Module, device: torch.device) -> nn.Module:
    """Sync batch norm across ranks, let contrastive methods see the global batch, wrap in DDP.

    Every rank must call this, in the same order: it creates a process group.
    """
    group = dist.new_group()
    sync_batch_norm(method, device, group)
    if hasattr(method, "gather"):
        method.gather = functools.partial(gather_with_grad, group=group)
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(method, device_ids=ids)
