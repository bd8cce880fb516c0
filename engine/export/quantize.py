"""INT8 static quantization of a verified fp32 model, and how much it costs in accuracy.

::

    int8_bytes, report = build_int8(fp32_bytes, fp32_session, metadata, spec, calibration_store,
                                    evaluation_store, truth, "model.int8.onnx")
    report.summary()   # accuracy against fp32, size, batch-1 latency, which model to use

onnxruntime's ``quantize_static`` in QDQ format: QuantizeLinear/DequantizeLinear pairs
around the convolutions and matrix products (weights per channel, int8; activations
int8), with ranges calibrated (MinMax) on a sample of the user's own images, preprocessed
exactly as the model expects (normalised float NCHW, or uint8 NHWC for a raw-input
model). onnxruntime fuses the pairs into integer kernels when it loads the model. Before
quantizing, ``quant_pre_process`` runs onnxruntime's basic graph optimisations (a BatchNorm
the exporter left would be folded into its convolution) and infers shapes, so the ranges
are those of the graph that runs. The input crop and resize, the feature normalisation,
the softmax and the embedding's pooling stay float.

The INT8 model is measured against the fp32 one on the same images (:func:`compare_int8`):
accuracy on the labeled images when there are at least ``MIN_LABELED`` of them, else
top-1 agreement; mean cosine similarity for an embedding model. It is recommended only
when it loses less than :data:`MAX_ACCURACY_DROP` accuracy, agrees on at least
:data:`MIN_AGREEMENT` of the images, or keeps a cosine of at least :data:`MIN_COSINE`.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quant_pre_process, quantize_static

from engine.data.decoded_store import ImageStore
from engine.deploy import onnx_meta
from engine.deploy.predict import ort_error_summary
from engine.export.verify import ACCURACY_BATCH, InputSpec

CALIBRATION_IMAGES = 128       # at most, spread evenly over the folder
EVALUATION_IMAGES = 1000       # at most, to compare with fp32 when too few images are labeled
CALIBRATION_BATCH = 16
MIN_LABELED = 20               # labeled images needed to compare accuracy instead of agreement
MIN_AGREEMENT = 0.99
MAX_ACCURACY_DROP = 0.01
MIN_COSINE = 0.99
QUANTIZED_OPS = ("Conv", "MatMul", "Gemm")
LATENCY_RUNS = 20


class QuantizeError(ValueError):
    """The model could not be quantized; the one-line message says why."""


@dataclass(frozen=True)
class Int8Report:
    """The INT8 model against the fp32 one.

    ``measure`` is "accuracy" (on ``images`` labeled images), "top-1 agreement" (share of
    ``images`` whose class is the same) or "cosine similarity" (mean over ``images``
    embeddings); ``fp32_value`` is the fp32 model's accuracy (None for the other two).
    ``recommended`` is "int8" when the loss stays within bounds, else "fp32".
    """

    path: str
    size_bytes: int
    fp32_size_bytes: int
    latency_ms: float
    fp32_latency_ms: float
    measure: str
    value: float
    fp32_value: Optional[float]
    images: int
    calibration_images: int
    recommended: str

    def summary(self) -> str:
        """The comparison in one line, ending with which model to use."""
        if self.measure == "accuracy":
            change = (f"accuracy {100 * self.value:.1f}% against fp32's {100 * self.fp32_value:.1f}% "
                      f"on {self.images} labeled images")
        elif self.measure == "top-1 agreement":
            change = f"top-1 agreement with fp32 {100 * self.value:.1f}% on {self.images} images"
        else:
            change = f"mean cosine similarity to fp32 {self.value:.4f} on {self.images} images"
        speed = (f"{self.size_bytes / 1e6:.2f} MB vs {self.fp32_size_bytes / 1e6:.2f} MB, batch-1 latency "
                 f"{self.latency_ms:.2f} ms vs {self.fp32_latency_ms:.2f} ms")
        if self.recommended == "int8":
            verdict = "INT8 is within bounds: use it where size or speed matters"
        else:
            verdict = f"INT8 loses too much ({_bound(self.measure)}): use the fp32 model"
        return f"INT8 {change}; {speed}. {verdict}"


def _bound(measure: str) -> str:
    return {"accuracy": f"more than {100 * MAX_ACCURACY_DROP:.0f} point of accuracy",
            "top-1 agreement": f"agreement below {100 * MIN_AGREEMENT:.0f}%",
            "cosine similarity": f"cosine below {MIN_COSINE}"}[measure]


def calibration_rows(count: int, limit: int = CALIBRATION_IMAGES) -> np.ndarray:
    """Up to ``limit`` row indices spread evenly over ``count`` images."""
    return np.unique(np.linspace(0, count - 1, num=min(count, limit)).round().astype(np.int64))


class _Batches(CalibrationDataReader):
    def __init__(self, input_name: str, batches: Sequence[np.ndarray]) -> None:
        self._feeds: Iterator[dict] = iter([{input_name: batch} for batch in batches])

    def get_next(self) -> Optional[dict]:
        return next(self._feeds, None)


def quantize_int8(fp32_bytes: bytes, input_name: str, calibration: Sequence[np.ndarray],
                  metadata: dict[str, str]) -> bytes:
    """The QDQ INT8 model of ``fp32_bytes``, calibrated on the model inputs ``calibration``
    (batches, each (B, C, S, S) float32 or (B, S, S, C) uint8), with ``metadata`` as its
    metadata_props. Works in a temporary folder that is always removed."""
    with tempfile.TemporaryDirectory(prefix="pretext-int8-") as work:
        source, prepared, target = (Path(work) / name for name in ("fp32.onnx", "prepared.onnx", "int8.onnx"))
        source.write_bytes(fp32_bytes)
        try:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            quantize_static(str(prepared), str(target), _Batches(input_name, calibration),
                            quant_format=QuantFormat.QDQ, op_types_to_quantize=list(QUANTIZED_OPS),
                            per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
            proto = onnx.load(str(target))
        except Exception as error:  # noqa: BLE001 - the quantizer raises many types
            text = str(error).strip()
            raise QuantizeError("the model could not be quantized to INT8: "
                                + (text.splitlines()[0] if text else type(error).__name__)) from error
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, metadata)
    return proto.SerializeToString()


def batch1_latency_ms(session: ort.InferenceSession, x: np.ndarray, runs: int = LATENCY_RUNS) -> float:
    """Median milliseconds of one ``session.run`` on the single-image batch ``x`` (after 3 warm-ups)."""
    feed = {session.get_inputs()[0].name: x[:1]}
    for _ in range(3):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


def outputs(session: ort.InferenceSession, batches: Sequence[np.ndarray]) -> np.ndarray:
    """The first output over ``batches``, concatenated: (N, K) probabilities or (N, D) embeddings."""
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: batch})[0] for batch in batches])


def compare_int8(fp32: np.ndarray, int8: np.ndarray, classifier: bool,
                 truth: Optional[np.ndarray] = None) -> tuple[str, float, Optional[float]]:
    """``(measure, int8 value, fp32 value)`` from the two models' first outputs ``(N, K|D)``.

    ``truth`` ``(N,)``: the true class of each row, -1 where unlabeled; accuracy is used
    when at least ``MIN_LABELED`` rows are labeled.
    """
    if not classifier:
        cosine = (fp32 * int8).sum(1) / np.maximum(np.linalg.norm(fp32, axis=1) * np.linalg.norm(int8, axis=1), 1e-12)
        return "cosine similarity", float(cosine.mean()), None
    if truth is not None and int((truth >= 0).sum()) >= MIN_LABELED:
        labeled = truth >= 0
        return ("accuracy", float((int8[labeled].argmax(1) == truth[labeled]).mean()),
                float((fp32[labeled].argmax(1) == truth[labeled]).mean()))
    return "top-1 agreement", float((int8.argmax(1) == fp32.argmax(1)).mean()), None


def recommended(measure: str, value: float, fp32_value: Optional[float]) -> str:
    """"int8" when its loss stays within the bounds of the module docstring, else "fp32"."""
    within = {"accuracy": lambda: fp32_value - value <= MAX_ACCURACY_DROP + 1e-9,   # 0.81 - 0.80 > 0.01 in floats
              "top-1 agreement": lambda: value >= MIN_AGREEMENT,
              "cosine similarity": lambda: value >= MIN_COSINE}[measure]()
    return "int8" if within else "fp32"


def model_inputs(store: ImageStore, rows: np.ndarray, spec: InputSpec, batch: int) -> list[np.ndarray]:
    """The images ``rows`` of ``store`` as model input, ``batch`` at a time."""
    return [spec.from_store(store.images[torch.from_numpy(rows[i:i + batch])]) for i in range(0, len(rows), batch)]


def build_int8(fp32_bytes: bytes, fp32_session: ort.InferenceSession, metadata: dict, spec: InputSpec,
               calibration: ImageStore, evaluation: ImageStore, truth: np.ndarray,
               path: Union[str, Path]) -> tuple[bytes, Int8Report]:
    """The INT8 model of the verified fp32 one (``fp32_bytes``, open as ``fp32_session``,
    with plain ``metadata``), calibrated on ``calibration``, and its comparison with fp32 on
    ``evaluation``: ``truth`` (N,) gives each of its images' class index, -1 if unlabeled.
    QuantizeError when it cannot be made or run."""
    rows = calibration_rows(len(calibration))
    int8_metadata = {**metadata, "precision": "int8",
                     "quantization": {"format": "QDQ", "method": "MinMax", "calibration_images": len(rows),
                                      "per_channel": True, "ops": list(QUANTIZED_OPS)}}
    if "model_card" in metadata:
        card = metadata["model_card"]
        int8_metadata["model_card"] = {**card, "export": {**card["export"], "precision": "int8"}}
    calibration_inputs = model_inputs(calibration, rows, spec, CALIBRATION_BATCH)
    int8_bytes = quantize_int8(fp32_bytes, metadata["input_name"], calibration_inputs, onnx_meta.encode(int8_metadata))
    try:
        int8_session = ort.InferenceSession(int8_bytes, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise QuantizeError(f"onnxruntime cannot run the INT8 model ({ort_error_summary(error)})") from error
    classifier = metadata["kind"] == "classifier"
    labeled = np.flatnonzero(truth >= 0)
    use_labels = classifier and len(labeled) >= MIN_LABELED
    compared = labeled if use_labels else calibration_rows(len(evaluation), EVALUATION_IMAGES)
    inputs = model_inputs(evaluation, compared, spec, ACCURACY_BATCH)
    measure, value, fp32_value = compare_int8(outputs(fp32_session, inputs), outputs(int8_session, inputs),
                                              classifier, truth[compared] if use_labels else None)
    report = Int8Report(
        path=str(path), size_bytes=len(int8_bytes), fp32_size_bytes=len(fp32_bytes),
        latency_ms=batch1_latency_ms(int8_session, inputs[0]),
        fp32_latency_ms=batch1_latency_ms(fp32_session, inputs[0]),
        measure=measure, value=value, fp32_value=fp32_value, images=len(compared), calibration_images=len(rows),
        recommended=recommended(measure, value, fp32_value))
    return int8_bytes, report
