"""GPU pretraining benchmark: ResNet-18 SimCLR at 32 px and at 224 px, ours beside a plain loop.

- 32 px: generated PNGs (decoded once into the uint8 store, kept on the GPU);
- 224 px: generated JPEGs, decoded in batches on the GPU (nvJPEG) into the store;
- for each: images/s, GPU memory peak and data-wait % of ``engine.pretrain`` (bf16,
  channels_last, GPU augmentation), and the images/s of the per-sample PIL DataLoader loop.

    python bench/gpu_bench.py                       # on a CUDA machine, about 4 minutes
    python bench/gpu_bench.py --device cpu --quick  # the same code path, tiny, on a CPU
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from ssl_loops import engine_loop, make_folder, reference_loop

SETTINGS = {  # name: (image px, stored px, file type, batch, images, timed steps)
    "full": [("32 px", 32, 32, ".png", 512, 20_000, 60), ("224 px", 224, 256, ".jpg", 256, 4_000, 40)],
    "quick": [("32 px", 32, 32, ".png", 32, 256, 4), ("224 px", 64, 72, ".jpg", 8, 64, 2)],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script on a CPU")
    parser.add_argument("--compile", action="store_true", help="also torch.compile our model")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.exit(2, "gpu_bench: no CUDA device here; use --device cpu --quick\n")
    print(f"torch {torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else ""))
    warmup = 2 if args.quick else 10
    for name, size, stored, suffix, batch, count, steps in SETTINGS["quick" if args.quick else "full"]:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            folder = make_folder(Path(tmp) / "images", count, stored, suffix)
            print(f"\n{name}: {count} generated {suffix} files of {stored} px in {time.perf_counter() - started:.0f} s; "
                  f"training at {size} px, batch {batch}")
            ours = engine_loop(folder, size, batch, steps, warmup, Path(tmp), device=args.device,
                               compile=args.compile)
            print(f"  engine.pretrain ({ours['precision']}): {ours['images_per_s']:9.0f} images/s, "
                  f"data wait {100 * ours['data_wait']:.1f}%, GPU peak {ours['gpu_peak_gb']:.2f} GB")
            ref = reference_loop(folder, size, batch, steps, warmup, args.workers, device=args.device)
            print(f"  reference (PIL DataLoader, {args.workers} workers, fp32): {ref:9.0f} images/s")
            print(f"  ratio: {ours['images_per_s'] / ref:.2f}x")


if __name__ == "__main__":
    main()
