"""Everything a pretraining run is built from: data store, model, optimiser, schedule.

:func:`build_session` goes from a config to a ready :class:`TrainingSession`; the
session also knows how to save itself into a checkpoint and restore from one.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

import torch

from engine.core.config import PretrainConfig
from engine.core.device import available_devices, choose_precision
from engine.core.events import Warning
from engine.data.augment import ViewSpec, augment_views, default_mean_std
from engine.data.decoded_store import ImageStore, build_store, decode_one
from engine.data.gpu_decode import BatchedJpegDecoder
from engine.data.scan import ScanError, ScanReport, reuse_or_scan
from engine.models.backbones import SMALL_IMAGE_MAX, build_backbone
from engine.models.model_io import BACKBONE_VERSION
from engine.pretrain import auto
from engine.pretrain.distributed import rank_and_world, wrap_for_ddp
from engine.pretrain.methods import build_method
from engine.pretrain.methods.base import SSLMethod, collapse_metric
from engine.pretrain.schedule import WarmupCosine
from engine.pretrain.state import LoopState

GPU_STORE_FRACTION = 0.25    # keep the uint8 images on the GPU when they take at most this share
MOMENTUM = 0.9
CHECKPOINT_VERSION = 1


class Augmenter:
    """Normalised augmented views on the images' own device; also maps views back to [0, 1]."""

    def __init__(self, channels: int) -> None:
        self.mean, self.std = default_mean_std(channels)

    def __call__(self, images_u8: torch.Tensor, spec: ViewSpec, generator: torch.Generator) -> torch.Tensor:
        return augment_views(images_u8, spec, generator, self.mean, self.std)

    def denormalize(self, views: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) normalised → (B, C, H, W) in [0, 1]."""
        mean = torch.tensor(self.mean, device=views.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=views.device).view(1, -1, 1, 1)
        return views.float() * std + mean


@dataclass
class TrainingSession:
    cfg: PretrainConfig
    device: torch.device
    device_label: str
    precision: str
    report: ScanReport
    store: ImageStore
    method: SSLMethod
    model: torch.nn.Module          # the method, possibly compiled or wrapped for DDP
    optimizer: torch.optim.Optimizer
    schedule: WarmupCosine
    scaler: torch.amp.GradScaler
    augment: Augmenter
    reasons: dict
    rank: int = 0
    world_size: int = 1
    feature_dim: int = 0
    channels_last: bool = False
    small_stem: bool = False
    images_on_device: torch.Tensor | None = None
    collapse_healthy: float = 0.0

    def local_slice(self, indices: torch.Tensor) -> torch.Tensor:
        """This rank's share of a global batch of indices."""
        local = len(indices) // self.world_size
        return indices[self.rank * local:(self.rank + 1) * local]

    def load_batch(self, indices: torch.Tensor) -> torch.Tensor:
        """uint8 (b, C, S, S) images on the training device."""
        if self.images_on_device is not None:
            return self.images_on_device[indices.to(self.device)]
        batch = self.store.batch(indices)
        if self.device.type == "cuda":
            return batch.pin_memory().to(self.device, non_blocking=True)
        return batch.to(self.device)

    def collapse(self, embeddings: torch.Tensor) -> float:
        self.collapse_healthy = 1.0 / math.sqrt(embeddings.shape[1])
        return collapse_metric(embeddings)

    def state_dict(self, state: LoopState) -> dict:
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "version": CHECKPOINT_VERSION, "config": self.cfg.to_dict(), "loop": state.to_dict(),
            "model": self.method.state_dict(), "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(), "scaler": self.scaler.state_dict(), "rng": rng,
        }

    def restore(self, saved: dict) -> LoopState:
        self.method.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.schedule.load_state_dict(saved["schedule"])
        self.scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["rng"]["torch"].cpu())
        if "cuda" in saved["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(saved["rng"]["cuda"].cpu(), self.device)
        return LoopState.from_dict(saved["loop"])

    def backbone_export(self) -> dict:
        """What later steps (fine-tuning, export) need to rebuild the backbone."""
        mean, std = default_mean_std(self.store.channels)
        return {
            "version": BACKBONE_VERSION,
            "backbone": self.cfg.backbone, "method": self.cfg.method, "image_size": self.cfg.image_size,
            "in_channels": self.store.channels, "feature_dim": self.feature_dim,
            "mean": list(mean), "std": list(std), "config": self.cfg.to_dict(), "small_stem": self.small_stem,
            "state_dict": self.method.backbone.state_dict(),
        }


def build_session(cfg: PretrainConfig, device: torch.device, emit, cancel, resolve: bool = True,
                  scan: Optional[ScanReport] = None) -> TrainingSession:
    """Scan (unless ``scan`` is one of the folder already), decode, and build the model;
    ``resolve`` fills the config's "auto" fields."""
    report = reuse_or_scan(cfg.data_dir, scan, emit, cancel, verify=False).require_usable()
    info = next(d for d in available_devices() if d.name == str(device) or d.kind == str(device))
    reasons: dict = {}
    if resolve:
        cfg, reasons = auto.resolve(cfg, report.usable, report.median_side(), device, info.memory_gb)
        advice = auto.budget_advice(cfg, report.usable, device)
        if advice:
            emit(Warning(advice))
    precision = choose_precision(cfg.precision, device, cfg.backbone, cfg.method)
    jpeg_decoder = (BatchedJpegDecoder(cfg.image_size, report.channels, device, fallback=decode_one)
                    if device.type == "cuda" else None)
    store, problems = build_store(report, cfg.image_size, report.channels, cache_dir=cfg.cache_dir or None,
                                  on_event=emit, cancel=cancel, batch_decoder=jpeg_decoder)
    if problems:
        report = report.without(problems)
        names = ", ".join(p.path for p in problems[:5]) + (" …" if len(problems) > 5 else "")
        emit(Warning(f"{len(problems)} image(s) could not be decoded and were left out: {names}"))
    if len(store) < 2:
        raise ScanError(f"{cfg.data_dir} has fewer than 2 usable images; pretraining needs more")

    torch.manual_seed(cfg.seed)
    small_stem = {"auto": None, "small": True, "standard": False}[cfg.stem]
    backbone, feature_dim = build_backbone(cfg.backbone, report.channels, cfg.image_size, pretrained=cfg.pretrained,
                                           on_warning=lambda m: emit(Warning(m)), small_stem=small_stem)
    method = build_method(cfg.method, backbone, feature_dim, cfg.image_size, report.channels,
                          embed_dim=cfg.embed_dim).to(device)
    channels_last = device.type == "cuda" or precision == "bf16"   # fp32 batch norm is slower so on a CPU
    if channels_last:
        method = method.to(memory_format=torch.channels_last)
    batch = min(cfg.batch_size, len(store))
    if cfg.lr == 0:
        cfg = dataclasses.replace(cfg, lr=method.base_lr * batch / 256)
    params = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=MOMENTUM, weight_decay=cfg.weight_decay)
    schedule = WarmupCosine(optimizer, cfg.lr, 1, cfg.warmup_fraction)
    rank, world = rank_and_world()
    if cfg.batch_size < 2 * world:
        raise ValueError(f"the global batch size {cfg.batch_size} is too small for {world} processes")
    model = wrap_for_ddp(method, device) if world > 1 else method
    model = torch.compile(model) if cfg.compile else model
    session = TrainingSession(
        cfg=cfg, device=device, device_label=info.label, precision=precision, report=report, store=store,
        method=method, model=model, optimizer=optimizer, schedule=schedule,
        scaler=torch.amp.GradScaler(device.type, enabled=precision == "fp16"), augment=Augmenter(report.channels),
        reasons=reasons, rank=rank, world_size=world, feature_dim=feature_dim, channels_last=channels_last,
        small_stem=cfg.image_size <= SMALL_IMAGE_MAX if small_stem is None else small_stem)
    if device.type == "cuda" and store.images.numel() < GPU_STORE_FRACTION * info.memory_gb * 1e9:
        session.images_on_device = store.images.to(device)
    return session

