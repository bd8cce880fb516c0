"""Pretraining throughput on the CPU: our loop against a plain reference loop, side by side.

Both train the same model (ResNet-18 with its standard stem at 32 px, SimCLR, batch 128,
SGD) on the same folder of generated 32×32 RGB PNGs. The reference loop does what most
SSL examples do: per-sample PIL augmentations in a torch DataLoader. Ours is
``engine.pretrain``: a decode-once uint8 store, then batched augmentation.

    python bench/pretrain_throughput.py [--steps 30] [--warmup 5] [--workers 2] [--precision auto]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from ssl_loops import engine_loop, make_folder, reference_loop

SIZE, BATCH, IMAGES = 32, 128, 2048


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--precision", default="auto", help="precision of our loop: auto, fp32 or bf16")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"ResNet-18 SimCLR, {SIZE} px, batch {BATCH}, {args.steps} timed steps after {args.warmup}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(Path(tmp) / "images", IMAGES, SIZE)
        ref = reference_loop(folder, SIZE, BATCH, args.steps, args.warmup, args.workers)
        print(f"reference (PIL per sample, DataLoader, {args.workers} workers): {ref:8.1f} images/s")
        ours = engine_loop(folder, SIZE, BATCH, args.steps, args.warmup, Path(tmp), device="cpu",
                           precision=args.precision)
        print(f"engine.pretrain ({ours['precision']}, uint8 store, batched augmentation): "
              f"{ours['images_per_s']:8.1f} images/s, data wait {100 * ours['data_wait']:.1f}%")
        print(f"ratio: {ours['images_per_s'] / ref:.2f}x")


if __name__ == "__main__":
    main()
