"""Exported classifiers in fp32, fp16 and INT8 side by side: file size, CPU latency at batch 1
and 32, and (with Fashion-MNIST) the accuracy each keeps; torch eager fp32 for reference.

Models: the default CPU backbone (smallcnn) at the bundled sample's native 28 px
(grayscale) and at the 64 px CPU cap (RGB), and ResNet-18 at 224 px (RGB); each with a
10-class head, exported through the same code as ``pretext-studio-cli export``: the graph
of :mod:`engine.export.graph` (fp16: the backbone in float16 behind float32 input), the
INT8 model of :func:`engine.export.quantize.quantize_int8` (static QDQ, calibrated on 128
images). Weights are random, except with ``--fashion-mnist``: then the 28 px smallcnn is
first trained (supervised, ``--train-images`` images, ``--epochs`` epochs) and every
precision's accuracy is measured on the 10,000 test images, the INT8 model calibrated on
training images. Latency does not depend on the weights.

    python bench/onnx_latency.py [--repeats 30] [--threads N] [--cpu-time] [--fashion-mnist]

onnxruntime runs with its default session options, as ``engine.deploy.predict`` does, except
that its idle threads do not spin (spinning threads would take the cores from the contender
timed next); torch under ``inference_mode`` with ``--threads`` threads. Each figure is the median of
``--repeats`` calls (a quarter of that at batch 32), the contenders timed in turn, so a
load change on a shared machine hits them alike. ``--cpu-time`` times the calling thread
by its own CPU clock (``time.thread_time``, with one intra-op thread everywhere): on a busy
machine that leaves out the time it waits to be scheduled.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.label_efficiency import SOURCE, read_idx  # noqa: E402
from engine.data.augment import default_mean_std  # noqa: E402
from engine.deploy.onnx_meta import encode  # noqa: E402
from engine.export.graph import Half, WithProbabilities, to_onnx  # noqa: E402
from engine.export.quantize import quantize_int8  # noqa: E402
from engine.models.backbones import build_backbone  # noqa: E402
from engine.models.model_io import Classifier  # noqa: E402

CASES = (("smallcnn", 28, 1), ("smallcnn", 64, 3), ("resnet18", 224, 3))
BATCHES = (1, 32)
CLASSES = 10
WARMUP = 3
CALIBRATION = 128


def interleaved_medians(calls: dict, repeats: int, clock) -> dict[str, float]:
    """Median milliseconds of each call by ``clock``, the calls timed in turn."""
    for call in calls.values():
        for _ in range(WARMUP):
            call()
    times: dict[str, list[float]] = {label: [] for label in calls}
    for _ in range(repeats):
        for label, call in calls.items():
            start = clock()
            call()
            times[label].append(clock() - start)
    return {label: 1000 * statistics.median(values) for label, values in times.items()}


def session(model_bytes: bytes, threads: Optional[int]) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")   # idle threads would starve the others
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def fashion_mnist(train_images: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """uint8 (N, 28, 28) training images and labels (the first ``train_images``), then the 10k test set."""
    if not SOURCE.is_dir():
        sys.exit(f"Fashion-MNIST is not at {SOURCE}: apt-get install dataset-fashion-mnist")
    train = read_idx(SOURCE / "train-images-idx3-ubyte.gz")[:train_images]
    train_labels = read_idx(SOURCE / "train-labels-idx1-ubyte.gz")[:train_images]
    return train, train_labels, read_idx(SOURCE / "t10k-images-idx3-ubyte.gz"), read_idx(
        SOURCE / "t10k-labels-idx1-ubyte.gz")


def normalised(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28), normalised as training normalises grayscale."""
    mean, std = default_mean_std(1)
    return (torch.from_numpy(images.astype(np.float32) / 255.0)[:, None] - mean[0]) / std[0]


def train(classifier: Classifier, images: np.ndarray, labels: np.ndarray, epochs: int) -> None:
    """A few epochs of plain supervised training, so the accuracy figures mean something."""
    x, y = normalised(images), torch.from_numpy(labels.astype(np.int64))
    optimiser = torch.optim.AdamW(classifier.parameters(), lr=2e-3)
    classifier.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 128):
            rows = order[start:start + 128]
            loss = F.cross_entropy(classifier(x[rows]), y[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        print(f"  trained epoch {epoch + 1}/{epochs}, last loss {loss.item():.3f}", flush=True)
    classifier.eval()


def accuracy(model: ort.InferenceSession, x: np.ndarray, y: np.ndarray) -> float:
    predicted = np.concatenate([model.run(["probabilities"], {"input": x[i:i + 500]})[0].argmax(1)
                                for i in range(0, len(x), 500)])
    return float((predicted == y).mean())


def models(name: str, size: int, channels: int, data) -> tuple[torch.nn.Module, dict[str, bytes], np.ndarray]:
    """(torch fp32 model, {precision: ONNX bytes}, calibration inputs)."""
    torch.manual_seed(0)
    backbone, dim = build_backbone(name, channels, size)
    classifier = Classifier(backbone, dim, CLASSES)
    classifier.feature_std.fill_(dim ** -0.5)    # unit-length features: about 1/sqrt(D) per dimension
    if data is not None and (name, size, channels) == CASES[0]:
        train(classifier, data[0], data[1], data[4])
        calibration = normalised(data[0][:CALIBRATION]).numpy()
    else:
        calibration = torch.randn(CALIBRATION, channels, size, size).numpy()
    classifier.eval()
    half = copy.deepcopy(classifier)
    half.backbone = Half(half.backbone)
    example = torch.zeros(2, channels, size, size)
    exported = {precision: to_onnx(WithProbabilities(model).eval(), example, "input", ("probabilities", "logits"),
                                   {0: "batch"}).SerializeToString()
                for precision, model in (("fp32", classifier), ("fp16", half))}
    batches = [calibration[i:i + 16] for i in range(0, len(calibration), 16)]
    exported["int8"] = quantize_int8(exported["fp32"], "input", batches, encode({}))
    return WithProbabilities(classifier).eval(), exported, calibration


def bench_case(name: str, size: int, channels: int, args: argparse.Namespace, clock, data) -> list[dict]:
    reference, exported, _ = models(name, size, channels, data)
    threads = 1 if args.cpu_time else None
    sessions = {precision: session(model_bytes, threads) for precision, model_bytes in exported.items()}
    rows = {precision: {"model": f"{name} {size}px", "precision": precision,
                        "MB": len(exported[precision]) / 1e6 if precision in exported else None}
            for precision in ("torch fp32", *exported)}
    for batch in BATCHES:
        x = torch.randn(batch, channels, size, size)
        feed = {"input": x.numpy()}
        calls = {"torch fp32": lambda: reference(x)}
        calls.update({precision: (lambda s=s: s.run(["probabilities"], feed)) for precision, s in sessions.items()})
        with torch.inference_mode():
            medians = interleaved_medians(calls, args.repeats if batch == 1 else max(3, args.repeats // 4), clock)
        for precision, value in medians.items():
            rows[precision][f"b{batch}"] = value
    if data is not None and (name, size, channels) == CASES[0]:
        test_x, test_y = normalised(data[2]).numpy(), data[3]
        for precision, s in sessions.items():
            rows[precision]["accuracy"] = accuracy(s, test_x, test_y)
    return list(rows.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed calls at batch 1 (a quarter at batch 32)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch's intra-op threads")
    parser.add_argument("--cpu-time", action="store_true", help="one thread, timed by its CPU clock")
    parser.add_argument("--fashion-mnist", action="store_true",
                        help="train the 28 px model on Fashion-MNIST and give each precision's test accuracy")
    parser.add_argument("--train-images", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--cases", nargs="*", type=int, help="indices into CASES (default: all)")
    args = parser.parse_args()
    if args.cpu_time:
        args.threads = 1
    torch.set_num_threads(args.threads)
    clock = time.thread_time if args.cpu_time else time.perf_counter
    data = (*fashion_mnist(args.train_images), args.epochs) if args.fashion_mnist else None
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {args.threads} torch thread(s), "
          f"{os.cpu_count()} CPU(s), load average {load}, {'thread CPU' if args.cpu_time else 'wall'} time")
    header = f"{'model':<16}{'precision':>11}{'size':>10}{'batch 1':>11}{'batch 32':>11}{'accuracy':>10}"
    print(header)
    print("-" * len(header))
    for index, case in enumerate(CASES):
        if args.cases and index not in args.cases:
            continue
        for row in bench_case(*case, args, clock, data):
            size = "" if row["MB"] is None else f"{row['MB']:.2f} MB"
            acc = f"{100 * row['accuracy']:.2f}%" if "accuracy" in row else ""
            print(f"{row['model']:<16}{row['precision']:>11}{size:>10}{row['b1']:>9.2f}ms{row['b32']:>9.2f}ms"
                  f"{acc:>10}", flush=True)


if __name__ == "__main__":
    main()
