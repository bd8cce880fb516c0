"""What ``"auto"`` means: defaults picked from the device, the dataset size and the image size.

Each choice comes with a one-line reason, stored in the run and shown in the UI.

- Image size: the data's median side, so small images train at native resolution;
  capped at 64 px on a CPU (about 4× less compute than 128 px) and at 224 px on a GPU.
- Backbone: on a GPU ResNet-18, or ResNet-50 for 50k images and more. On a CPU the small
  CNN with the stride-2 stem at every budget, because nothing larger paid within the planned
  training time (the time budget, or the epochs at the small CNN's speed; see
  :func:`planned_minutes`). ``bench/budget_choices.py`` (Fashion-MNIST, 5,000 images, two CPU
  threads; a linear head on the frozen features with 10 labels per class, mean of three label
  seeds / with all 5,000 labels; the 3- and 12-minute runs on a shared machine, the 30-minute
  ones on a quiet one):

  ==========================  ==================  ==================  ==================
  network                     3 minutes           12 minutes          30 minutes
  ==========================  ==================  ==================  ==================
  small CNN, stride-2 stem    72.6 % / 83.7 %     73.7 % / 85.5 %     76.0 % / 87.7 %
  small CNN, stride-1 stem                        72.6 % / 85.0 %     74.1 % / 84.7 %
  medium CNN (two convs)      70.7 % / 73.5 %     71.9 % / 81.1 %     74.8 % / 85.8 %
  large CNN (twice as wide)   66.6 % / 75.9 %
  ==========================  ==================  ==================  ==================

  The larger networks fit fewer epochs (the large CNN 2 in 3 minutes, the medium CNN 604 in
  30 against the small CNN's 1,080); ResNet-18 at 32 px reached 73.3 % after the same
  fine-tune in 12 + 3 minutes against 76.6 % for the small CNN in 6 + 2. The small CNN levels
  off past 30 minutes: 75.8 % / 87.8 % after 60 (68,392 steps, a later, slower machine, where
  its 6-minute run scored 74.0 % / 85.9 %). Through the CLI with a 2-minute fine-tune at K = 10,
  60 minutes gave 78.9 % with random labels and 81.9 % with the suggested ones, against 79.2 and
  80.3 % after 6 (``bench/label_picks.py``). Past an hour on a CPU the run says that more time
  adds little (:func:`budget_advice`).
- Method: SimCLR when the batch holds enough negatives (≥ 64): it is simple and robust at
  small resolutions. With smaller batches BYOL, which needs no negatives.
- Stem: on a CPU the stride-2 stem (the table above; in fp32 it trains about 4× faster than
  the stride-1 stem). A GPU affords the stride-1 stem for images up to 64 px.
- Batch size: 256 on a GPU (512 with ≥ 40 GB), 128 elsewhere, never more than half the
  images, so an epoch has at least two steps.
- Live embedding map: every 5 epochs on a GPU (a map of 2,000 images takes about a second
  of CPU time); off on a CPU, where that time is better spent training.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import torch

from engine.core.config import PretrainConfig
from engine.core.device import choose_precision

CPU_MAX_SIZE = 64
GPU_MAX_SIZE = 224
LARGE_DATASET = 50_000
LIVE_MAP_EVERY = 5
SMALL_CNN_IMAGES_PER_S = 2700   # SimCLR on the small CNN at 28 px, two CPU threads, a quiet machine
LONG_CPU_MINUTES = 60


def planned_minutes(cfg: PretrainConfig, image_count: int, image_size: int) -> tuple[float, str]:
    """The training time the run is given: its time budget, or its epochs at the small CNN's speed
    on this CPU (scaled by threads and pixels); and how that was found, for the reasons."""
    if cfg.minutes:
        return cfg.minutes, f"a {cfg.minutes:g}-minute budget"
    speed = SMALL_CNN_IMAGES_PER_S * torch.get_num_threads() / 2 * (28 / max(image_size, 1)) ** 2
    minutes = cfg.epochs * image_count / speed / 60
    return minutes, f"{cfg.epochs} epochs, about {max(minutes, 1):.0f} min at the small CNN's speed"


def budget_advice(cfg: PretrainConfig, image_count: int, device: torch.device) -> Optional[str]:
    """A warning for a resolved config whose CPU training is planned past ``LONG_CPU_MINUTES``, else None."""
    if device.type != "cpu" or cfg.backbone != "smallcnn":
        return None
    minutes, how = planned_minutes(cfg, image_count, cfg.image_size)
    if minutes <= LONG_CPU_MINUTES:
        return None
    return (f"{how[0].upper()}{how[1:]} on the CPU: on Fashion-MNIST the small CNN's model gained at most "
            f"2 points from 6 to 60 minutes, so hours add little. The run saves a checkpoint every "
            f"{cfg.checkpoint_every} steps: pause or stop it at any time and resume later; keep the computer "
            "awake meanwhile.")


def resolve(cfg: PretrainConfig, image_count: int, median_side: int, device: torch.device,
            gpu_memory_gb: float = 0.0) -> tuple[PretrainConfig, dict]:
    """Replace every "auto"/0 field of ``cfg``; return the new config and the reasons."""
    reasons: dict[str, str] = {}
    changes: dict = {"device": str(device)}
    on_gpu = device.type in ("cuda", "mps")

    image_size = cfg.image_size
    if image_size == 0:
        cap = GPU_MAX_SIZE if on_gpu else CPU_MAX_SIZE
        image_size = max(16, min(median_side, cap))
        reasons["image_size"] = (f"{image_size} px: the images' median side is {median_side} px"
                                 + (f", capped at {cap} px on this device" if median_side > cap else ""))
        changes["image_size"] = image_size

    if cfg.batch_size == 0:
        batch = 512 if gpu_memory_gb >= 40 else 256 if on_gpu else 128
        batch = max(2, min(batch, image_count // 2))
        reasons["batch_size"] = f"{batch}: {'GPU' if on_gpu else 'CPU'} default, at most half of {image_count} images"
        changes["batch_size"] = batch
    batch = changes.get("batch_size", cfg.batch_size)

    if cfg.backbone == "auto":
        if not on_gpu:
            backbone = "smallcnn"
            _, how = planned_minutes(cfg, image_count, image_size)
            reasons["backbone"] = (f"small CNN ({how}): on a CPU it beat the larger CNNs at every budget "
                                   "measured, up to 30 minutes (bench/budget_choices.py)")
        elif image_count >= LARGE_DATASET:
            backbone = "resnet50"
            reasons["backbone"] = f"ResNet-50: a GPU and {image_count} images can feed a larger model"
        else:
            backbone = "resnet18"
            reasons["backbone"] = "ResNet-18: a GPU with a dataset of moderate size"
        changes["backbone"] = backbone

    if cfg.stem == "auto":
        small = on_gpu and image_size <= CPU_MAX_SIZE
        changes["stem"] = "small" if small else "standard"
        reasons["stem"] = ("stride-1 stem: keeps the detail of small images on a GPU" if small
                           else "stride-2 stem: as good as the stride-1 stem on a CPU, and faster")

    if cfg.method == "auto":
        method = "simclr" if batch >= 64 else "byol"
        reasons["method"] = ("SimCLR: batches of 64+ give enough negatives; robust on small images"
                             if method == "simclr" else "BYOL: small batches, and BYOL needs no negatives")
        changes["method"] = method

    if cfg.map_every == -1:
        changes["map_every"] = LIVE_MAP_EVERY if on_gpu else 0
        reasons["map_every"] = (f"a live embedding map every {LIVE_MAP_EVERY} epochs: a GPU leaves time for it"
                                if on_gpu else "no live embedding map: on a CPU its time goes to training")

    changes["precision"] = choose_precision(cfg.precision, device, changes.get("backbone", cfg.backbone),
                                            changes.get("method", cfg.method))
    return dataclasses.replace(cfg, **changes), reasons
