"""Events the engine emits while it works, and the cancel/pause token it obeys.

Every long engine call takes ``on_event`` (a callable receiving one of the frozen
dataclasses below) and ``cancel`` (a :class:`CancelToken`). The engine thread calls
``on_event``; receivers must return quickly and must not block.

The generic events carry a :class:`Stage` and that stage's typed payload::

    Started(stage, total, info)            info: ScanStart, CacheStart, PretrainStart, FinetuneStart, ExportStart
    Progress(stage, step, total, metrics)  metrics: ScanProgress, CheckProgress, CacheProgress, PretrainMetrics,
                                           ProbeResult, FinetuneMetrics, ExportProgress, PredictProgress; None
                                           where step and total say it all (embed, layout, ...)
    EpochEnded(epoch, step, metrics)       metrics: EpochMetrics
    Finished(stage, status, info)          info: ScanSummary (scan, check), CacheSummary, PretrainSummary,
                                           FinetuneSummary, ExportSummary; None when a check, cache, fine-tune
                                           or export was cancelled

Payloads are frozen dataclasses (subclasses of :class:`Payload`) that receivers read by
attribute, so a renamed field fails loudly instead of turning into a default. Events are
built on every step: they hold plain values only, and pickle.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any, Callable, Optional


class Stage(str, Enum):
    """What a Started, Progress or Finished event is about; ``str(stage)`` is its value."""

    SCAN = "scan"                # walking an image folder (engine.data.scan)
    CHECK = "check"              # decoding the images a header-only scan indexed (engine.data.verify)
    CACHE = "cache"              # decoding every image once into the store (engine.data.decoded_store)
    PRETRAIN = "pretrain"        # self-supervised training steps
    PROBE = "probe"              # the gain probe during pretraining (engine.pretrain.gain_probe)
    EMBED = "embed"              # backbone features of every image (engine.maps.embed)
    LAYOUT = "layout"            # the map's neighbour layout, one step per epoch
    PLACING = "placing"          # the other images placed beside their map neighbours
    DUPLICATES = "duplicates"    # the near-duplicate search
    FINETUNE = "finetune"        # fine-tuning steps (L-BFGS iterations for a linear head)
    VALIDATE = "validate"        # the fine-tune's cross-validation folds
    PREDICT = "predict"          # a fine-tuned network applied to every image
    EXPORT = "export"            # the ExportStep s of an ONNX export

    def __str__(self) -> str:
        return self.value


class ExportStep(str, Enum):
    """The steps of an ONNX export, in order (engine.export.run)."""

    LOAD = "load"          # the trained model
    CONVERT = "convert"    # trace to ONNX, attach the metadata, check the graph
    VERIFY = "verify"      # onnxruntime against torch on the images
    QUANTIZE = "quantize"  # the INT8 copy, calibrated and compared with fp32 (only with int8)
    WRITE = "write"        # the model and its README, atomically

    def __str__(self) -> str:
        return self.value


class Payload:
    """Base of the typed payloads: each subclass is a frozen dataclass of plain values."""

    def as_dict(self) -> dict:
        """The fields that have a value, by name (e.g. one metrics.jsonl row)."""
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}


# --- Started.info ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScanStart(Payload):
    root: str                    # the folder, absolute


@dataclass(frozen=True)
class CacheStart(Payload):
    reused: bool                 # the images were decoded before: Finished follows at once
    path: str                    # the store's folder; "" when the images stay in memory only


@dataclass(frozen=True)
class PretrainStart(Payload):
    """The resolved run: what "auto" chose, with ``reasons`` (setting → why)."""

    run_dir: str                 # "" on ranks other than 0
    device: str                  # torch's name, e.g. "cuda:0"
    device_label: str            # for people, e.g. "NVIDIA H100 (80 GB)"
    precision: str               # "fp32", "bf16" or "fp16"
    method: str
    backbone: str
    image_size: int
    batch_size: int
    images: int
    reasons: dict[str, str]
    resumed_from_step: int       # 0 for a new run


@dataclass(frozen=True)
class FinetuneStart(Payload):
    mode: str                    # "linear", "semi" or "full"
    mode_reason: str             # why that mode, for people
    classes: tuple[str, ...]
    labels: int                  # labeled images trained on
    images: int                  # all images of the folder
    validation: str              # the validation scheme, e.g. "5-fold"
    device: str


@dataclass(frozen=True)
class ExportStart(Payload):
    kind: str                    # "classifier" or "embedding"
    path: str                    # the model file to write


# --- Progress.metrics and EpochEnded.metrics -------------------------------------------------------------

@dataclass(frozen=True)
class ScanProgress(Payload):
    images: int                  # usable images found so far (``step`` counts every file)


@dataclass(frozen=True)
class CheckProgress(Payload):
    problems: tuple[tuple[str, str, str], ...]   # (path, reason, detail) of each file found undecodable since
                                                 # the last Progress, often none (engine.data.verify.found_problems)


@dataclass(frozen=True)
class CacheProgress(Payload):
    images_per_s: float


@dataclass(frozen=True)
class PretrainMetrics(Payload):
    """One optimiser step; ``as_dict()`` is its metrics.jsonl row (with the step)."""

    loss: float
    lr: float
    images_per_s: float          # smoothed
    data_wait: float             # share of the step spent waiting for data, 0-1
    collapse: float              # the embedding spread (→ 0 when the embeddings collapse)
    collapse_healthy: float      # the spread of healthy embeddings of this width
    epoch: float                 # epochs done, fractional
    eta_s: Optional[float]       # seconds left at the current speed; None while the total is not known (0)
    batch_size: int


@dataclass(frozen=True)
class EpochMetrics(Payload):
    loss: Optional[float]        # of the epoch's last step
    images_per_s: float


@dataclass(frozen=True)
class ProbeResult(Payload):
    """One gain probe: what a quick fine-tune on the user's labels reaches with the backbone now
    (the linear head, cross-validated over the labels); ``as_dict()`` is its metrics.jsonl row
    (under "probe", beside the step)."""

    epoch: int                   # epochs trained; 0 for the untrained backbone
    labels: int                  # labeled images found among the training images
    classes: int
    evaluated: int               # labels tested by the validation (a class needs 2 labels)
    scheme: str                  # the validation scheme, e.g. "leave-one-out"
    cost_s: float                # seconds this probe took
    share: float                 # every probe's seconds over the training seconds so far (0 before training)
    accuracy: Optional[float] = None             # None when no label could be tested
    untrained_accuracy: Optional[float] = None   # the same figure for the backbone before training


@dataclass(frozen=True)
class FinetuneMetrics(Payload):
    """One training step (or L-BFGS iteration); ``as_dict()`` is its metrics.jsonl row."""

    loss: float
    accuracy: float              # on the step's labeled batch
    lr: Optional[float] = None   # None for an L-BFGS fit
    confident: Optional[float] = None   # semi-supervised: share of the unlabeled batch above the threshold


@dataclass(frozen=True)
class ExportProgress(Payload):
    current: Optional[ExportStep]   # the step now under way; None once all are done


@dataclass(frozen=True)
class PredictProgress(Payload):
    images_per_s: float          # since the prediction began


# --- Finished.info ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScanSummary(Payload):
    files: int                   # every entry looked at
    images: int                  # usable
    problems: int
    skipped_hidden: int
    skipped_other: int


@dataclass(frozen=True)
class CacheSummary(Payload):
    reused: bool
    images: int
    problems: int                # files that could not be decoded
    on_disk: bool                # memory-mapped rather than in memory


@dataclass(frozen=True)
class PretrainSummary(Payload):
    run_dir: str
    step: int
    total_steps: int             # 0 for a time budget stopped before its step count was planned
    final_loss: Optional[float]


@dataclass(frozen=True)
class FinetuneSummary(Payload):
    run_dir: str
    mode: str
    accuracy: Optional[float]    # estimated by validation; None when nothing could be tested
    scheme: str


@dataclass(frozen=True)
class ExportSummary(Payload):
    path: str
    max_abs_diff: float          # onnxruntime against torch
    top1_agreement: Optional[float]
    recommended: str = "fp32"    # the model to use: "fp32", or "int8" when the INT8 copy keeps the results


# --- events ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Started:
    """A job of ``total`` steps (0: unknown) began; ``info`` describes it (see the module docstring)."""

    stage: Stage
    total: int
    info: Optional[Payload] = None


@dataclass(frozen=True)
class Progress:
    """``step`` of ``total`` (0: unknown) done; ``metrics`` is the stage's typed payload or None.

    A pretraining run with a time budget gives total 0 until its first steps have measured the
    speed that sets its step count."""

    stage: Stage
    step: int
    total: int
    metrics: Optional[Payload] = None


@dataclass(frozen=True)
class EpochEnded:
    """Epoch ``epoch`` (counted from 0) ended at optimiser step ``step``."""

    epoch: int
    step: int
    metrics: EpochMetrics


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    step: int


@dataclass(frozen=True)
class Warning:  # noqa: A001 - the event name is part of the engine API
    """Something the user should know that does not stop the job."""

    message: str


@dataclass(frozen=True)
class Preview:
    """A few augmented view pairs, so a person sees what the model sees.

    ``pairs`` is a tuple of (view_a, view_b) uint8 arrays of shape (H, W, C).
    """

    step: int
    pairs: tuple = ()


@dataclass(frozen=True)
class MapSnapshot:
    """The embedding map of a fixed sample of images after epoch ``epoch`` (counted from 0):
    ``xy`` is a float32 ``(n, 2)`` array whose row i is the image ``paths[i]``."""

    epoch: int
    paths: tuple
    xy: Any


@dataclass(frozen=True)
class Finished:
    """The job ended. ``status`` is "completed" or "cancelled"; ``info`` sums it up (see the module docstring)."""

    stage: Stage
    status: str
    info: Optional[Payload] = None


Event = Any
EventSink = Callable[[Event], None]


def ignore_events(_event: Event) -> None:
    """Default sink that drops every event."""


class Cancelled(Exception):
    """Raised inside the engine when the user cancels; the job ends cleanly."""


class CancelToken:
    """Thread-safe cancel and pause flags, checked by the engine at every step.

    ``check()`` raises :class:`Cancelled` once ``cancel()`` was called, and blocks
    while paused (waking up at once on resume or cancel).
    """

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        self._cancelled.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def check(self, on_pause: Optional[Callable[[], None]] = None) -> None:
        """Raise if cancelled; wait while paused. ``on_pause`` runs once when a pause begins."""
        if self._cancelled.is_set():
            raise Cancelled()
        if not self._running.is_set():
            if on_pause is not None:
                on_pause()
            self._running.wait()
            if self._cancelled.is_set():
                raise Cancelled()
