"""Folder scan cost on camera-sized photos: the header-only scan, the verifying scan (every
file decoded, on a thread per core, to find truncated ones), the Data step's scan of a folder
opened before (only changed files decoded), and a full-size decode per file on one thread.

    python bench/scan_speed.py [--count 60] [--width 3000] [--height 2000]

Writes ``--count`` smooth-noise JPEGs (quality 90) to a temporary folder, scans it twice
each way (the second run is reported, with the files in the page cache) and prints
milliseconds per image.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.data import imageio  # noqa: E402
from engine.data.scan import scan_folder  # noqa: E402
from engine.data.scan_memory import scan_remembered  # noqa: E402


def write_photos(folder: Path, count: int, width: int, height: int) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    photo = Image.fromarray(noise).filter(ImageFilter.GaussianBlur(3))
    for i in range(count):
        photo.save(folder / f"photo_{i:04d}.jpg", quality=90)


def per_image_ms(run, count: int) -> float:
    run()
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--width", type=int, default=3000)
    parser.add_argument("--height", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scan-speed-") as temp:
        folder = Path(temp) / "photos"
        folder.mkdir()
        write_photos(folder, args.count, args.width, args.height)
        paths = sorted(folder.iterdir())
        rows = [
            ("header only", lambda: scan_folder(folder, verify=False)),
            ("verifying scan", lambda: scan_folder(folder, verify=True)),
            ("opened before", lambda: scan_remembered(folder, folder=Path(temp) / "scans")),
            ("full decode", lambda: [imageio.decode(p, 3) for p in paths]),
        ]
        print(f"{args.count} JPEGs of {args.width} x {args.height} px")
        for name, run in rows:
            print(f"{name:>15}: {per_image_ms(run, args.count):7.2f} ms per image")


if __name__ == "__main__":
    main()
