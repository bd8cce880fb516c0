"""Pretraining throughput: our loop against a plain reference loop, side by side.

Both train the same model (ResNet-18 at 32 px, SimCLR, batch 128, SGD) on the same
folder of generated 32×32 RGB PNGs. The reference loop does what most SSL examples do:
per-sample PIL augmentations in a torch DataLoader. Ours is ``engine.pretrain``: a
decode-once uint8 store, then batched augmentation on the training device.

    python bench/pretrain_throughput.py [--steps 30] [--warmup 5] [--workers 2]

Prints images/s of each (after warm-up steps) and the ratio.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import PretrainConfig, Progress, pretrain  # noqa: E402
from engine.augment import default_mean_std  # noqa: E402
from engine.backbones import build_backbone  # noqa: E402
from engine.methods import build_method  # noqa: E402

SIZE = 32
BATCH = 128
IMAGES = 2048


def make_folder(root: Path, count: int) -> Path:
    """Write ``count`` 32×32 RGB PNGs of coloured shapes on noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    for i in range(count):
        img = rng.integers(0, 80, size=(SIZE, SIZE, 3), dtype=np.uint8)
        cx, cy, r = rng.integers(8, 24, size=3)
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.integers(80, 256, size=3, dtype=np.uint8)
        Image.fromarray(img).save(root / f"{i:05d}.png")
    return root


class TwoViewFolder(Dataset):
    """Per-sample PIL decode + two augmented views, the way most SSL examples do it."""

    def __init__(self, root: Path) -> None:
        self.paths = sorted(root.glob("*.png"))
        mean, std = default_mean_std(3)
        self.transform = transforms.Compose([
            transforms.RandomResizedCrop(SIZE, scale=(0.2, 1.0)),
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


def reference_loop(root: Path, steps: int, warmup: int, workers: int) -> float:
    """Images/s of the plain loop after ``warmup`` steps."""
    torch.manual_seed(0)
    backbone, dim = build_backbone("resnet18", 3, SIZE, small_stem=False)
    model = build_method("simclr", backbone, dim, SIZE, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.06, momentum=0.9, weight_decay=5e-4)
    loader = DataLoader(TwoViewFolder(root), batch_size=BATCH, shuffle=True, drop_last=True,
                        num_workers=workers, persistent_workers=workers > 0)
    done, started = 0, 0.0
    while done < warmup + steps:
        for view_a, view_b in loader:
            if done == warmup:
                started = time.perf_counter()
            loss, _ = model([view_a, view_b])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done += 1
            if done == warmup + steps:
                break
    return steps * BATCH / (time.perf_counter() - started)


def engine_loop(root: Path, steps: int, warmup: int, out: Path, precision: str) -> float:
    """Images/s of ``engine.pretrain`` after ``warmup`` steps (scan and decode excluded)."""
    stamps: dict[int, float] = {}

    def on_event(event) -> None:
        if isinstance(event, Progress) and event.stage == "pretrain":
            stamps[event.step] = time.perf_counter()

    epochs = -(-(warmup + steps) // (IMAGES // BATCH))
    cfg = PretrainConfig(data_dir=str(root), out_dir=str(out / "runs"), cache_dir=str(out / "cache"),
                         method="simclr", backbone="resnet18", stem="standard", image_size=SIZE, batch_size=BATCH,
                         epochs=epochs, device="cpu", precision=precision, checkpoint_every=10**6)
    pretrain(cfg, on_event=on_event)
    return steps * BATCH / (stamps[warmup + steps] - stamps[warmup])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--precision", default="auto", help="precision of our loop (auto, fp32, bf16)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"ResNet-18 SimCLR, {SIZE} px, batch {BATCH}, {args.steps} timed steps")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        make_folder(folder, IMAGES)
        ref = reference_loop(folder, args.steps, args.warmup, args.workers)
        print(f"reference (PIL per sample, DataLoader, {args.workers} workers): {ref:8.1f} images/s")
        ours = engine_loop(folder, args.steps, args.warmup, Path(tmp), args.precision)
        print(f"engine.pretrain (uint8 store, batched augmentation):      {ours:8.1f} images/s")
        print(f"ratio: {ours / ref:.2f}x")


if __name__ == "__main__":
    main()
