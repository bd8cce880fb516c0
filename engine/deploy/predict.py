"""Run an exported model on image files with onnxruntime, numpy and Pillow only (no torch).

::

    model = load_model("model.onnx")             # PredictError unless it is one of ours
    for p in model.predict(["a.jpg", "b.png"]):  # one Prediction per file, in order
        print(p.path, p.label, p.probability, p.error)
    model.predict(paths, on_event=sink, cancel=token)   # Progress(Stage.PREDICT, done, total, PredictProgress)

The preprocessing comes from the model's metadata (:mod:`engine.deploy.onnx_meta`): a float
model gets the evaluation transform of training (:func:`engine.data.imageio.decode_resized`,
then ``(x / 255 - mean) / std``, NCHW); a raw-input model gets the decoded uint8 image,
NHWC at its own size. A file that is no image, or a broken one, gets an ``error``; the
other files are predicted all the same.

Decoding runs on a pool of threads (Pillow releases the GIL while it decodes), up to
``PREFETCH`` batches ahead of the model, so a large folder keeps onnxruntime busy and the
memory bounded; the batches still reach the model, and the results the caller, in order.
"""
from __future__ import annotations

import csv
import io
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import numpy as np
import onnxruntime as ort

from engine.core import atomic
from engine.core.events import CancelToken, EventSink, PredictProgress, Progress, Stage, ignore_events
from engine.data import imageio
from engine.deploy import onnx_meta

BATCH = 32
PREFETCH = 4            # batches decoded ahead of the one the model runs
PathLike = Union[str, Path]


class PredictError(ValueError):
    """The model or the input path cannot be used at all; the message says why."""


@dataclass(frozen=True)
class Prediction:
    """One file's result: ``label``/``probability`` (classifier) or ``embedding`` (D,),
    or ``error`` when the file could not be used."""

    path: str
    label: Optional[str] = None
    probability: Optional[float] = None
    embedding: Optional[np.ndarray] = None
    error: Optional[str] = None


class OnnxModel:
    """An exported Pretext Studio model, loaded once, that predicts on image files."""

    def __init__(self, session: ort.InferenceSession, meta: dict) -> None:
        self.session, self.meta = session, meta
        self.size = int(meta["input_size"][0])
        self.channels = 1 if meta["channel_order"] == "L" else 3
        self.raw = meta["input_dtype"] == "uint8"
        self.classifier = meta["kind"] == "classifier"
        self._mean = np.asarray(meta["mean"], np.float32).reshape(1, -1, 1, 1)
        self._std = np.asarray(meta["std"], np.float32).reshape(1, -1, 1, 1)

    def predict(self, paths: Iterable[PathLike], on_event: Optional[EventSink] = None,
                cancel: Optional[CancelToken] = None, workers: Optional[int] = None) -> list[Prediction]:
        """A Prediction for every path, in order; float models run ``BATCH`` files at a time.

        ``workers`` decoding threads (default: :func:`decode_workers`); after each batch,
        ``Progress(Stage.PREDICT, done, total, PredictProgress)`` goes to ``on_event``.
        """
        emit = on_event or ignore_events
        paths = [str(p) for p in paths]
        step = 1 if self.raw else BATCH
        results: list[Prediction] = []
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers or decode_workers(), thread_name_prefix="decode") as pool:
            queued: deque = deque()
            try:
                for first in range(0, len(paths), step):
                    chunk = paths[first:first + step]
                    queued.append((chunk, [pool.submit(self._decode_or_error, path) for path in chunk]))
                    if len(queued) > PREFETCH:
                        results += self._predict_chunk(*queued.popleft())
                        self._report(emit, cancel, len(results), len(paths), start)
                while queued:
                    results += self._predict_chunk(*queued.popleft())
                    self._report(emit, cancel, len(results), len(paths), start)
            finally:
                for _chunk, futures in queued:   # cancelled: drop the decodes not started yet
                    for future in futures:
                        future.cancel()
        return results

    @staticmethod
    def _report(emit: EventSink, cancel: Optional[CancelToken], done: int, total: int, start: float) -> None:
        speed = done / max(time.perf_counter() - start, 1e-9)
        emit(Progress(Stage.PREDICT, done, total, PredictProgress(images_per_s=speed)))
        if cancel is not None:
            cancel.check()

    def _decode_or_error(self, path: str) -> tuple[Optional[np.ndarray], Optional[str]]:
        """(decoded image, None), or (None, why the file cannot be used)."""
        try:
            return self._decode(path), None
        except imageio.UnusableImage as error:
            return None, str(error)
        except OSError as error:   # vanished or unreadable between listing and reading
            return None, f"unreadable: {error.strerror or error}"

    def _predict_chunk(self, paths: Sequence[str], decoding: Sequence[Future]) -> list[Prediction]:
        decoded: dict[int, np.ndarray] = {}
        errors: dict[int, str] = {}
        for i, future in enumerate(decoding):
            image, error = future.result()
            if error is None:
                decoded[i] = image
            else:
                errors[i] = error
        outputs: list = []
        if decoded:
            try:
                outputs = self._run(np.stack(list(decoded.values())))
            except Exception as error:  # noqa: BLE001 - onnxruntime raises its own types
                errors.update({i: f"the model failed on this input: {ort_error_summary(error)}" for i in decoded})
                decoded = {}
        row = dict(zip(decoded, range(len(decoded))))
        return [Prediction(path, error=errors[i]) if i in errors else self._result(path, outputs, row[i])
                for i, path in enumerate(paths)]

    def _decode(self, path: str) -> np.ndarray:
        """uint8 (H, W, C) at the file's size (raw), or uint8 (C, S, S) centre-cropped (float)."""
        if self.raw:
            return imageio.decode(path, self.channels)
        return imageio.decode_resized(path, self.size, self.channels)

    def _run(self, images_u8: np.ndarray) -> list[np.ndarray]:
        """(B, H, W, C) or (B, C, S, S) uint8 -> the model's outputs, batch first."""
        x = images_u8 if self.raw else (images_u8.astype(np.float32) / 255.0 - self._mean) / self._std
        return self.session.run(None, {self.meta["input_name"]: x})

    def _result(self, path: str, outputs: list[np.ndarray], row: int) -> Prediction:
        if not self.classifier:
            return Prediction(path, embedding=outputs[0][row])
        probabilities = outputs[0][row]
        best = int(probabilities.argmax())
        return Prediction(path, label=self.meta["classes"][best], probability=float(probabilities[best]))


def decode_workers() -> int:
    """Decoding threads: one per CPU this process may use but one, left to onnxruntime
    (between 1 and 8). On 2 cores one thread measured best (bench/predict_throughput.py)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:   # macOS and Windows
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus - 1))


def load_model(model_path: PathLike) -> OnnxModel:
    """Open an exported model; PredictError when it is missing, not ONNX, or not ours."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise PredictError(f"model file not found: {model_path}")
    try:
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")   # leave the cores to decoding
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise PredictError(f"{model_path} is not an ONNX model onnxruntime can load "
                           f"({ort_error_summary(error)})") from None
    try:
        meta = onnx_meta.decode(session.get_modelmeta().custom_metadata_map, str(model_path))
    except onnx_meta.NotOurModel as error:
        raise PredictError(f"{error}; export one with pretext-studio-cli export") from None
    return OnnxModel(session, meta)


def ort_error_summary(error: Exception) -> str:
    """The first line of an onnxruntime error (its messages run to many lines)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def image_files(image_or_dir: PathLike) -> list[Path]:
    """The file itself, or every non-hidden file under the folder (sorted, recursively):
    files that are not images are kept, so each gets its own message."""
    path = Path(image_or_dir)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise PredictError(f"no such file or folder: {path}")
    found = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder) / name for name in sorted(files) if not name.startswith(".")]
    if not found:
        raise PredictError(f"{path} holds no files")
    return found


def predict(model_path: PathLike, image_or_dir: PathLike, on_event: Optional[EventSink] = None,
            cancel: Optional[CancelToken] = None) -> list[Prediction]:
    """Predict every file of ``image_or_dir`` (a file or a folder) with the model."""
    return load_model(model_path).predict(image_files(image_or_dir), on_event=on_event, cancel=cancel)


def check_csv_target(path: PathLike, overwrite: bool, keep: Sequence[PathLike] = ()) -> Path:
    """``path`` checked before any prediction runs: ValueError when it is one of the files in
    ``keep`` (the model, the images), exists and ``overwrite`` is off, or cannot be written."""
    path = Path(path)
    target = path.resolve()
    if any(target == Path(kept).resolve() for kept in keep):
        raise ValueError(f"--csv {path} is a file this command reads; choose another name")
    if target.is_dir():
        raise ValueError(f"--csv {path} is a folder; give a file name")
    if target.exists() and not overwrite:
        raise ValueError(f"--csv {path} exists; add --overwrite to replace it")
    folder = target.parent
    if not folder.is_dir():
        raise ValueError(f"--csv {path}: the folder {folder} does not exist")
    read_only = hasattr(os, "statvfs") and os.statvfs(folder).f_flag & os.ST_RDONLY
    if read_only or not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"--csv {path}: the folder {folder} cannot be written")
    return path


def write_csv(predictions: Sequence[Prediction], path: PathLike) -> None:
    """``path,label,probability,error`` rows, or ``path,error,e0..eD-1`` for embeddings, written atomically."""
    embedding = next((p.embedding for p in predictions if p.embedding is not None), None)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    if embedding is None:
        writer.writerow(["path", "label", "probability", "error"])
        for p in predictions:
            probability = "" if p.probability is None else f"{p.probability:.6f}"
            writer.writerow([p.path, p.label or "", probability, p.error or ""])
    else:
        writer.writerow(["path", "error", *(f"e{i}" for i in range(len(embedding)))])
        for p in predictions:
            values = [] if p.embedding is None else [f"{v:.7g}" for v in p.embedding]
            writer.writerow([p.path, p.error or "", *values])
    atomic.write_text(path, text.getvalue())
