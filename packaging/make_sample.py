"""Write the bundled sample dataset: Fashion-MNIST test images as 28×28 grayscale PNGs.

Usage: python packaging/make_sample.py [--count 1500] [--source /usr/share/datasets/fashion-mnist]

The images go to resources/sample/ (no labels inside, as a user's folder would be);
their classes go to resources/sample-labels.csv for benchmarks of what was learned.
"""
from __future__ import annotations

import argparse
import gzip
import struct
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat",
           "sandal", "shirt", "sneaker", "bag", "ankle-boot")
RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def read_idx(path: Path) -> np.ndarray:
    """Read an idx(.gz) file into an array of shape (N,) or (N, H, W)."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    _, _, dtype_code, ndim = struct.unpack(">BBBB", data[:4])
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--source", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    args = parser.parse_args()
    images = read_idx(args.source / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(args.source / "t10k-labels-idx1-ubyte.gz")
    out = RESOURCES / "sample"
    out.mkdir(parents=True, exist_ok=True)
    rows = ["path,label"]
    for index in range(args.count):
        name = f"fashion_{index:05d}.png"
        Image.fromarray(images[index], mode="L").save(out / name, optimize=True)
        rows.append(f"{name},{CLASSES[labels[index]]}")
    (RESOURCES / "sample-labels.csv").write_text("\n".join(rows) + "\n")
    print(f"wrote {args.count} images to {out}")


if __name__ == "__main__":
    main()
