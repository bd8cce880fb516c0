"""``predict`` on a folder of 10,000 images: files/s end to end, against the model's own throughput.

The images are Fashion-MNIST training images written as PNGs (28 px grayscale), or with
``--size S`` the same images upscaled to S px RGB JPEGs (camera-like decode work). The
model is the default CPU classifier (smallcnn at 28 px, random weights: speed does not
depend on them), exported through the same graph code as ``pretext-studio-cli export`` with
the metadata ``engine.deploy.predict`` reads. Three figures:

* the model alone: ``session.run`` on already decoded batches of 32;
* ``predict`` with one decoding thread, batches decoded ahead while the model runs;
* ``predict`` with ``--workers`` decoding threads (default: ``decode_workers()``, one per
  CPU but one).

    python bench/predict_throughput.py [--images 10000] [--size 28] [--workers N]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.label_efficiency import SOURCE, read_idx  # noqa: E402
from engine.data.augment import default_mean_std  # noqa: E402
from engine.deploy import onnx_meta  # noqa: E402
from engine.deploy.predict import BATCH, decode_workers, image_files, load_model  # noqa: E402
from engine.export.graph import WithProbabilities, to_onnx  # noqa: E402
from engine.models.backbones import build_backbone  # noqa: E402
from engine.models.model_io import Classifier  # noqa: E402

SIZE = 28
CLASSES = [str(i) for i in range(10)]


def write_images(folder: Path, count: int, size: int) -> None:
    """``count`` Fashion-MNIST images as 28 px PNGs, or ``size`` px RGB JPEGs."""
    images = read_idx(SOURCE / "train-images-idx3-ubyte.gz")[:count]
    for i, pixels in enumerate(images):
        image = Image.fromarray(pixels, "L")
        if size == SIZE:
            image.save(folder / f"{i:05d}.png")
        else:
            image.resize((size, size), Image.Resampling.BILINEAR).convert("RGB").save(folder / f"{i:05d}.jpg",
                                                                                     quality=90)


def write_model(path: Path, channels: int) -> None:
    """smallcnn at 28 px with a 10-class head, float input, with the metadata predict needs."""
    torch.manual_seed(0)
    backbone, dim = build_backbone("smallcnn", channels, SIZE)
    model = WithProbabilities(Classifier(backbone, dim, len(CLASSES))).eval()
    proto = to_onnx(model, torch.zeros(2, channels, SIZE, SIZE), onnx_meta.FLOAT_INPUT,
                    onnx_meta.CLASSIFIER_OUTPUTS, {0: "batch"})
    mean, std = default_mean_std(channels)
    values = {onnx_meta.MARKER_KEY: onnx_meta.FORMAT_VERSION, "kind": "classifier", "classes": CLASSES,
              "input_name": onnx_meta.FLOAT_INPUT, "output_names": list(onnx_meta.CLASSIFIER_OUTPUTS),
              "input_dtype": "float32", "input_layout": "NCHW", "input_size": [SIZE, SIZE],
              "channel_order": onnx_meta.channel_order(channels), "mean": list(mean), "std": list(std)}
    onnx.helper.set_model_props(proto, onnx_meta.encode(values))
    path.write_bytes(proto.SerializeToString())


def model_alone(path: Path, channels: int, count: int) -> float:
    """Images/s of ``session.run`` on decoded, normalised batches of ``BATCH``."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((BATCH, channels, SIZE, SIZE)).astype(np.float32)
    for _ in range(3):
        session.run(None, {"input": x})
    runs = max(1, count // BATCH)
    start = time.perf_counter()
    for _ in range(runs):
        session.run(None, {"input": x})
    return runs * BATCH / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--size", type=int, default=SIZE, help="28: PNGs as they come; larger: RGB JPEGs")
    parser.add_argument("--workers", type=int, default=decode_workers(), help="decoding threads of the second run")
    args = parser.parse_args()
    channels = 1 if args.size == SIZE else 3
    with tempfile.TemporaryDirectory(prefix="predict-bench-") as work:
        folder, model_path = Path(work) / "images", Path(work) / "model.onnx"
        folder.mkdir()
        write_images(folder, args.images, args.size)
        write_model(model_path, channels)
        files = image_files(folder)
        model = load_model(model_path)
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"{len(files)} {'PNG' if args.size == SIZE else 'JPEG'} files at {args.size} px, "
              f"onnxruntime {ort.__version__}, {os.cpu_count()} CPU(s), load average {load}")
        alone = model_alone(model_path, channels, len(files))
        print(f"the model alone (decoded batches of {BATCH}): {alone:,.0f} images/s")
        for workers in sorted({1, args.workers}):
            start = time.perf_counter()
            predictions = model.predict(files, workers=workers)
            seconds = time.perf_counter() - start
            assert all(p.error is None for p in predictions)
            print(f"predict, {workers} decoding thread(s): {len(files) / seconds:,.0f} files/s ({seconds:.1f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
