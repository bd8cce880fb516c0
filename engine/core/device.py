"""Choosing the training device and its numeric precision: CUDA, then MPS, then CPU."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch

from engine.core.config import OWN_CNNS


@dataclass(frozen=True)
class DeviceInfo:
    """One device the engine can train on; ``memory_gb`` is 0 when unknown."""

    name: str          # "cuda:0", "mps", "cpu"
    kind: str          # "cuda", "mps", "cpu"
    label: str         # human description, e.g. "NVIDIA H100 (79.1 GB)"
    memory_gb: float = 0.0


def available_devices() -> list[DeviceInfo]:
    """Every usable device, the best first."""
    devices = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            gb = props.total_memory / 1e9
            devices.append(DeviceInfo(f"cuda:{index}", "cuda", f"{props.name} ({gb:.1f} GB)", gb))
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append(DeviceInfo("mps", "mps", "Apple GPU (MPS)"))
    threads = torch.get_num_threads()
    devices.append(DeviceInfo("cpu", "cpu", f"CPU ({threads} threads)"))
    return devices


def choose_device(requested: str = "auto") -> torch.device:
    """Resolve "auto", "cpu", "cuda", "cuda:N" or "mps"; raise ValueError when it is missing."""
    if requested == "auto":
        return torch.device(available_devices()[0].name)
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but no CUDA GPU is available")
    if requested.startswith("cuda:") and int(requested[5:]) >= torch.cuda.device_count():
        raise ValueError(f"{requested} was requested but only {torch.cuda.device_count()} CUDA GPU(s) are available")
    if requested == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("MPS was requested but no Apple GPU is available")
    return torch.device(requested)


def cpu_has_fast_bf16() -> bool:
    """True when oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def choose_precision(requested: str, device: torch.device, backbone: str = "", method: str = "") -> str:
    """"auto": bf16 on CUDA when supported, else fp16. On a CPU, bf16 for our own CNNs where
    oneDNN runs bf16 natively (about 2× faster with channels_last), else fp32: ResNet-18's
    step was measured 1.6× slower in bf16 on such a CPU (bench/pretrain_throughput.py), and
    DINO's gradients became NaN in bf16 in 8 of 12 seeded CPU runs of the small CNN."""
    if requested != "auto":
        if requested == "fp16" and device.type == "cpu":
            raise ValueError("fp16 autocast is only available on a GPU; use bf16 or fp32 on the CPU")
        return requested
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and backbone in OWN_CNNS and method != "dino" and cpu_has_fast_bf16():
        return "bf16"
    return "fp32"


def autocast(device: torch.device, precision: str):
    """A context manager running the forward pass in ``precision``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def is_out_of_memory(error: BaseException) -> bool:
    """True for a device out-of-memory error (CUDA or MPS)."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


@contextlib.contextmanager
def one_cpu_thread() -> Iterator[None]:
    """Run torch's CPU operations on one thread meanwhile. For work made of many small operations
    (L-BFGS on a few hundred rows, k-means against a few dozen centres) each operation split over
    threads waits for every thread: with other work on a 2-core CPU, a linear head on 80 labels
    took 0.62 s on two threads and 0.007 s on one. The thread count belongs to the calling
    thread (OpenMP), so each use restores its own thread's count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
