"""CPU latency of an exported classifier: onnxruntime against torch eager, side by side.

Models: the default CPU backbone (smallcnn) at the bundled sample's native 28 px
(grayscale) and at the 64 px CPU cap (RGB), and ResNet-18 at 224 px (RGB); each with a
10-class head, exported through the same code path as ``pretext-studio-cli export``
(probabilities + logits, float NCHW input). Weights are random: latency does not
depend on them.

    python bench/onnx_latency.py [--repeats 30] [--threads N] [--cpu-time]

Torch runs under ``inference_mode`` with ``--threads`` threads (default: torch's own
count). onnxruntime runs with its default session options (what ``engine.deploy.predict``
uses: one thread per physical core) and "tuned": ``intra_op_num_threads`` equal to
torch's, sequential execution, every graph optimisation on. Each figure is the median of
``--repeats`` calls (a quarter of that at batch 32), the contenders timed in turn, so a
load change on a shared machine hits them alike.

``--cpu-time`` times one thread by its own CPU clock (``time.thread_time``): on a busy
machine that leaves out the time the thread waits to be scheduled. Both torch and
onnxruntime then compute on the calling thread, so "ort default" is left out.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.export.graph import WithProbabilities, to_onnx  # noqa: E402
from engine.models.backbones import build_backbone  # noqa: E402
from engine.models.model_io import Classifier  # noqa: E402

CASES = (("smallcnn", 28, 1), ("smallcnn", 64, 3), ("resnet18", 224, 3))
BATCHES = (1, 32)
CLASSES = 10
WARMUP = 3


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


def sessions(model_bytes: bytes, threads: int, with_default: bool) -> dict[str, ort.InferenceSession]:
    tuned = ort.SessionOptions()
    tuned.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    tuned.intra_op_num_threads = threads
    tuned.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    providers = ["CPUExecutionProvider"]
    runs = {"ort default": ort.InferenceSession(model_bytes, providers=providers)} if with_default else {}
    runs["ort tuned"] = ort.InferenceSession(model_bytes, tuned, providers=providers)
    return runs


def bench_case(name: str, size: int, channels: int, args: argparse.Namespace, clock) -> list[dict]:
    torch.manual_seed(0)
    backbone, dim = build_backbone(name, channels, size)
    model = WithProbabilities(Classifier(backbone, dim, CLASSES)).eval()
    example = torch.zeros(2, channels, size, size)
    model_bytes = to_onnx(model, example, "input", ("probabilities", "logits"), {0: "batch"}).SerializeToString()
    runs = sessions(model_bytes, args.threads, with_default=not args.cpu_time)
    rows = []
    for batch in BATCHES:
        x = torch.randn(batch, channels, size, size)
        feed = {"input": x.numpy()}
        calls = {"torch eager": lambda: model(x)}
        calls.update({label: (lambda s=session: s.run(["probabilities"], feed)) for label, session in runs.items()})
        with torch.inference_mode():
            medians = interleaved_medians(calls, args.repeats if batch == 1 else max(3, args.repeats // 4), clock)
        rows.append({"model": f"{name} {size}px", "batch": batch, **medians})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed calls at batch 1 (a quarter of them at batch 32)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--cpu-time", action="store_true", help="one thread, timed by its CPU clock")
    args = parser.parse_args()
    if args.cpu_time:
        args.threads = 1
    torch.set_num_threads(args.threads)
    clock = time.thread_time if args.cpu_time else time.perf_counter
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {args.threads} thread(s), "
          f"{os.cpu_count()} CPU(s), load average {load}, {'thread CPU' if args.cpu_time else 'wall'} time")
    columns = ["torch eager"] + ([] if args.cpu_time else ["ort default"]) + ["ort tuned"]
    header = f"{'model':<16}{'batch':>6}" + "".join(f"{c:>14}" for c in columns) + f"{'tuned/torch':>13}"
    print(header)
    print("-" * len(header))
    for case in CASES:
        for row in bench_case(*case, args, clock):
            print(f"{row['model']:<16}{row['batch']:>6}" + "".join(f"{row[c]:>12.2f}ms" for c in columns)
                  + f"{row['ort tuned'] / row['torch eager']:>12.2f}x", flush=True)


if __name__ == "__main__":
    main()
