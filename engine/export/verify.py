"""Verification of an exported model: onnxruntime against torch on the user's own images.

The images come through the same scan and decode cache as training, so the float input
is exactly what the model was evaluated on: uint8 ``(N, C, S, S)`` rows of the store,
normalised by :func:`engine.data.augment.normalize_only`. A raw-input model gets the same
rows as uint8 ``(N, S, S, C)``, plus one image decoded at its own size, so the in-graph
crop and resize are checked too.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from engine.core.events import CancelToken, EventSink
from engine.data import imageio
from engine.data.augment import normalize_only
from engine.data.decoded_store import ImageStore, build_store
from engine.data.scan import ScanReport, reuse_or_scan

VERIFY_BATCH = 8          # the "larger batch"; batch 1 is always checked too
ACCURACY_BATCH = 64


@dataclass(frozen=True)
class InputSpec:
    """How store rows become model input: normalised float NCHW, or raw uint8 NHWC."""

    raw: bool
    size: int
    mean: Sequence[float]
    std: Sequence[float]

    def from_store(self, images_u8: torch.Tensor) -> np.ndarray:
        """uint8 (B, C, S, S) -> the model's input array: float32 (B, C, S, S) or uint8 (B, S, S, C)."""
        if self.raw:
            return images_u8.permute(0, 2, 3, 1).contiguous().numpy()
        return normalize_only(images_u8, self.size, self.mean, self.std).numpy()


@dataclass(frozen=True)
class Parity:
    """``max_abs_diff`` of the first output (probabilities or embedding) over every checked
    image; ``top1_agreement`` is the share of images whose argmax agrees (classifier only)."""

    max_abs_diff: float
    top1_agreement: Optional[float]
    batch_sizes: tuple[int, ...]
    images: int
    limit: float


def load_images(data_dir: str, size: int, channels: int, cache_dir: str, emit: EventSink,
                cancel: Optional[CancelToken], scan: Optional[ScanReport] = None) -> ImageStore:
    """The decoded images of ``data_dir`` at the training size (reusing the training cache);
    ``scan``, when it is a scan of ``data_dir``, instead of scanning again."""
    report = reuse_or_scan(data_dir, scan, emit, cancel, verify=False).require_usable()
    store, _problems = build_store(report, size, channels, cache_dir=cache_dir or None, on_event=emit, cancel=cancel)
    if len(store) == 0:
        raise ValueError(f"none of the images in {data_dir} could be decoded for the verification")
    return store


def verification_batches(store: ImageStore, root: str, spec: InputSpec) -> list[np.ndarray]:
    """Model inputs to compare: the first image alone, the first ``VERIFY_BATCH`` images
    (repeated when there are fewer), and for raw input the first image at its own size."""
    batches = [spec.from_store(store.images[:1])]
    rows = torch.arange(VERIFY_BATCH) % len(store)
    batches.append(spec.from_store(store.images[rows]))
    if spec.raw:
        native = imageio.decode(os.path.join(root, store.paths[0]), store.channels)   # (H, W, C)
        batches.append(native[None])
    return batches


def compare(reference: nn.Module, session: ort.InferenceSession, batches: Sequence[np.ndarray],
            classifier: bool, tolerance: float) -> Parity:
    """Run both on every batch. The limit is ``tolerance`` for probabilities and
    ``tolerance * max(1, max |embedding|)`` for embeddings, whose scale is the model's."""
    input_name = session.get_inputs()[0].name
    output_name = session.get_outputs()[0].name
    diffs, scales, agree, total = [], [1.0], 0, 0
    for batch in batches:
        with torch.inference_mode():
            expected = reference(torch.tensor(batch))
        expected = (expected[0] if isinstance(expected, tuple) else expected).float().numpy()
        actual = session.run([output_name], {input_name: batch})[0]
        if actual.shape != expected.shape:
            raise ValueError(f"onnxruntime returned shape {actual.shape}, torch {expected.shape}")
        diffs.append(np.abs(actual.astype(np.float64) - expected).max())
        scales.append(np.abs(expected).max())
        agree += int((actual.argmax(1) == expected.argmax(1)).sum())
        total += len(batch)
    diff = float(np.max(diffs))          # np.max, unlike max(), keeps a NaN
    limit = tolerance if classifier else tolerance * float(np.max(scales))
    return Parity(diff, agree / total if classifier else None, tuple(len(b) for b in batches), total, limit)


def label_rows(store: ImageStore, labels: Mapping[str, str], classes: Sequence[str]) -> np.ndarray:
    """``(N,)`` int64: the class index of each row of ``store`` (``labels``: relative path
    -> class name), -1 where the image is unlabeled."""
    index = {name: i for i, name in enumerate(classes)}
    return np.array([index.get(labels.get(path, ""), -1) for path in store.paths], dtype=np.int64)


def per_class_accuracy(session: ort.InferenceSession, store: ImageStore, spec: InputSpec,
                       labels: Mapping[str, str], classes: Sequence[str]) -> Optional[dict[str, float]]:
    """Accuracy of the ONNX model per class on the labeled images of ``store``
    (``labels``: relative path -> class name); None when no stored image is labeled."""
    truth_of_row = label_rows(store, labels, classes)
    rows = np.flatnonzero(truth_of_row >= 0)
    if len(rows) == 0:
        return None
    truth = truth_of_row[rows]
    input_name = session.get_inputs()[0].name
    output_name = session.get_outputs()[0].name
    batches = (spec.from_store(store.images[torch.from_numpy(rows[i:i + ACCURACY_BATCH])])
               for i in range(0, len(rows), ACCURACY_BATCH))
    predicted = np.concatenate([session.run([output_name], {input_name: x})[0].argmax(1) for x in batches])
    return {name: float((predicted[truth == i] == i).mean()) for i, name in enumerate(classes) if (truth == i).any()}
