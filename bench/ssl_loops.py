"""Shared pieces of the pretraining benchmarks: generated image folders, the plain
reference loop (per-sample PIL augmentation in a DataLoader), and a timed engine run."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import PretrainConfig, Progress, Stage, Started, run_pretraining  # noqa: E402
from engine.data.augment import default_mean_std  # noqa: E402
from engine.models.backbones import build_backbone  # noqa: E402
from engine.pretrain.methods import build_method  # noqa: E402


def make_folder(root: Path, count: int, size: int, suffix: str = ".png") -> Path:
    """Write ``count`` RGB images (coloured discs on noise) of ``size`` px as PNG or JPEG."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(count):
        img = rng.integers(0, 80, size=(size, size, 3), dtype=np.uint8)
        cx, cy, r = rng.integers(size // 4, 3 * size // 4, size=3)
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.integers(80, 256, size=3, dtype=np.uint8)
        Image.fromarray(img).save(root / f"{i:05d}{suffix}", quality=90)
    return root


class TwoViewFolder(Dataset):
    """Per-sample PIL decode + two augmented views, the way most SSL examples do it."""

    def __init__(self, root: Path, size: int) -> None:
        self.paths = sorted(p for p in root.iterdir() if p.suffix in (".png", ".jpg"))
        mean, std = default_mean_std(3)
        self.transform = transforms.Compose([
            transforms.RandomResizedCrop(size, scale=(0.2, 1.0)),
            transforms.RandomHorizontalFlip(),
            transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
            transforms.RandomGrayscale(p=0.2),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        image = Image.open(self.paths[index]).convert("RGB")
        return self.transform(image), self.transform(image)


def reference_loop(root: Path, size: int, batch: int, steps: int, warmup: int, workers: int,
                   device: str = "cpu") -> float:
    """Images/s of the plain loop (same ResNet-18 SimCLR model, SGD) after ``warmup`` steps."""
    torch.manual_seed(0)
    backbone, dim = build_backbone("resnet18", 3, size, small_stem=False)
    model = build_method("simclr", backbone, dim, size, 3).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.06, momentum=0.9, weight_decay=5e-4)
    loader = DataLoader(TwoViewFolder(root, size), batch_size=batch, shuffle=True, drop_last=True,
                        num_workers=workers, persistent_workers=workers > 0, pin_memory=device != "cpu")
    done, started = 0, 0.0
    while done < warmup + steps:
        for view_a, view_b in loader:
            if done == warmup:
                _sync(device)
                started = time.perf_counter()
            loss, _ = model([view_a.to(device, non_blocking=True), view_b.to(device, non_blocking=True)])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done += 1
            if done == warmup + steps:
                break
    _sync(device)
    return steps * batch / (time.perf_counter() - started)


def engine_loop(root: Path, size: int, batch: int, steps: int, warmup: int, work: Path, **overrides) -> dict:
    """Run ``engine.pretrain`` (ResNet-18 SimCLR) and time the steps after ``warmup``.

    Returns images/s, mean data-wait fraction, the device label and the GPU memory peak (GB).
    """
    stamps: dict[int, float] = {}
    waits: list[float] = []
    started: list = []     # the run's PretrainStart

    def on_event(event) -> None:
        if isinstance(event, Started) and event.stage is Stage.PRETRAIN:
            started.append(event.info)
        if isinstance(event, Progress) and event.stage is Stage.PRETRAIN:
            stamps[event.step] = time.perf_counter()
            if event.step > warmup:
                waits.append(event.metrics.data_wait)

    images = sum(1 for p in root.iterdir() if p.suffix in (".png", ".jpg"))
    epochs = -(-(warmup + steps) // max(1, images // batch))
    cfg = PretrainConfig(data_dir=str(root), out_dir=str(work / "runs"), cache_dir=str(work / "cache"),
                         method="simclr", backbone="resnet18", stem="standard", image_size=size, batch_size=batch,
                         epochs=epochs, checkpoint_every=10**6, **overrides)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    run_pretraining(cfg, on_event=on_event)
    peak = torch.cuda.max_memory_allocated() / 1e9 if torch.cuda.is_available() else 0.0
    rate = steps * batch / (stamps[warmup + steps] - stamps[warmup])
    return {"images_per_s": rate, "data_wait": sum(waits) / max(1, len(waits)),
            "device": started[0].device_label, "precision": started[0].precision, "gpu_peak_gb": peak}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
