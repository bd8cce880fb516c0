"""ONNX export with built-in verification: the last step of the workflow.

::

    result = export_model(run_dir, "model.onnx", kind="classifier", on_event=sink, cancel=token)
    result.max_abs_diff, result.top1_agreement, result.per_class_accuracy

Steps (:class:`~engine.core.events.ExportStep`; as each after the first begins, a
Progress(Stage.EXPORT, done, total, ExportProgress) names it): load the trained model, trace it to
ONNX (see :mod:`engine.export.graph`), attach the metadata (:mod:`engine.deploy.onnx_meta`) and
``onnx.checker.check_model(full_check=True)``, compare onnxruntime with torch on the
user's own images at batch 1 and batch 8 (:mod:`engine.export.verify`), then write the
model and a README.txt atomically. Any failure raises :class:`ExportError` and leaves no
new file behind; an existing model file is replaced only with ``overwrite=True`` and is
never left half-written.

No onnxslim pass: the TorchScript exporter already folds constants, and onnxruntime
fuses Conv+BN+ReLU itself when it loads a model. Measured on smallcnn (28 px, and 64 px
raw input) and ResNet-18 (224 px), onnxslim only merged Constant nodes into initializers
(22 -> 17, 76 -> 44, 76 -> 55 nodes): the same file size and the same latency, so it
would be a dependency for nothing.
"""
from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import onnx
import onnxruntime as ort
import torch
from torch import nn

from engine.core import atomic
from engine.core.events import (
    Cancelled, CancelToken, EventSink, ExportProgress, ExportStart, ExportStep, ExportSummary, Finished, Progress,
    Stage, Started, ignore_events,
)
from engine.data.scan import ScanReport
from engine.deploy import onnx_meta
from engine.deploy.predict import ort_error_summary
from engine.export import deploy_readme
from engine.export.graph import Half, RawInput, WithProbabilities, to_onnx
from engine.export.verify import InputSpec, Parity, compare, load_images, per_class_accuracy, verification_batches
from engine.models.model_io import load_backbone, load_classifier
from engine.store.project_io import read_labels_csv
from engine.store.runs import (
    FinetuneRun, RunFolderError, backbone_file, classifier_file, holds_backbone, holds_classifier, is_run_folder,
    open_run_folder,
)

KINDS = ("classifier", "embedding")
FP32_TOLERANCE = 1e-4     # on probabilities (embeddings: times their largest magnitude)
FP16_TOLERANCE = 1e-2
STEPS = tuple(ExportStep)

PathLike = Union[str, Path]


class ExportError(ValueError):
    """The export cannot be done or did not verify; the one-line message says why."""


@dataclass(frozen=True)
class ExportResult:
    """A verified, written model. ``max_abs_diff`` is onnxruntime vs torch on the first
    output (probabilities, or the embedding) and stayed within ``tolerance``;
    ``per_class_accuracy`` is the ONNX model's on the images the classifier was trained on
    (its run's labels.csv; None for an embedding model or without labels)."""

    path: str
    kind: str
    raw_input: bool
    precision: str
    max_abs_diff: float
    tolerance: float
    top1_agreement: Optional[float]
    batch_sizes: tuple[int, ...]
    images_checked: int
    metadata: dict
    per_class_accuracy: Optional[dict[str, float]]
    readme_path: str
    size_bytes: int


def export_model(source: PathLike, out_path: PathLike, *, kind: str = "classifier", raw_input: bool = False,
                 fp16: bool = False, verify_images: Optional[PathLike] = None, overwrite: bool = False,
                 on_event: Optional[EventSink] = None, cancel: Optional[CancelToken] = None,
                 scan: Optional[ScanReport] = None) -> ExportResult:
    """Export the model of ``source`` to ``out_path`` (a ``.onnx`` file), verified.

    ``source``: a fine-tune run folder (classifier, or its backbone as embedding), a
    pretraining run folder (embedding), either's ``.pt`` file, or an image folder with a
    project (its chosen model, else its newest run). ``raw_input``: the model takes uint8
    ``(N, H, W, C)`` images of any size; else normalised float ``(N, C, S, S)``.
    ``fp16``: float16 weights and arithmetic behind float32 input/output.
    ``verify_images``: a folder to verify on instead of the images the model was trained on.
    ``scan``: a scan of that folder the caller already has, used instead of scanning again.
    """
    emit = on_event or ignore_events
    cancel = cancel or CancelToken()
    if kind not in KINDS:
        raise ExportError(f"unknown export kind '{kind}'; choose one of {', '.join(KINDS)}")
    out = _destination(out_path, overwrite)
    emit(Started(Stage.EXPORT, len(STEPS), ExportStart(kind=kind, path=str(out))))
    try:
        return _export(Path(source), out, kind, raw_input, fp16, verify_images, emit, cancel, scan)
    except Cancelled:
        emit(Finished(Stage.EXPORT, "cancelled"))
        raise


def _export(source: Path, out: Path, kind: str, raw: bool, fp16: bool, verify_images: Optional[PathLike],
            emit: EventSink, cancel: CancelToken, scan: Optional[ScanReport]) -> ExportResult:
    def step(current: ExportStep) -> None:
        cancel.check()
        emit(Progress(Stage.EXPORT, STEPS.index(current), len(STEPS), ExportProgress(current=current)))

    model, meta = _load_trained(resolve_source(source, kind), kind)
    spec = InputSpec(raw, meta["image_size"], tuple(meta["mean"]), tuple(meta["std"]))
    data_dir, cache_dir = _image_folder(meta, verify_images)
    step(ExportStep.CONVERT)
    reference = _wrap(model, kind, spec)
    exported = _wrap(copy.deepcopy(model), kind, spec, fp16)
    values = _metadata(kind, meta, spec, fp16)
    model_bytes = _convert(exported, spec, meta["in_channels"], values)
    step(ExportStep.VERIFY)
    store = load_images(data_dir, spec.size, meta["in_channels"], cache_dir, emit, cancel, scan)
    session, parity = _verify(reference, model_bytes, verification_batches(store, data_dir, spec),
                              kind == "classifier", fp16)
    accuracy = None
    if kind == "classifier":
        accuracy = per_class_accuracy(session, store, spec, _trained_labels(meta), values["classes"])
    step(ExportStep.WRITE)
    readme = _write(model_bytes, out, deploy_readme.render(values, out.name))
    emit(Progress(Stage.EXPORT, len(STEPS), len(STEPS), ExportProgress(current=None)))
    result = ExportResult(
        path=str(out), kind=kind, raw_input=raw, precision=values["precision"], max_abs_diff=parity.max_abs_diff,
        tolerance=parity.limit, top1_agreement=parity.top1_agreement, batch_sizes=parity.batch_sizes,
        images_checked=parity.images, metadata=values, per_class_accuracy=accuracy, readme_path=str(readme),
        size_bytes=len(model_bytes))
    emit(Finished(Stage.EXPORT, "completed", ExportSummary(path=str(out), max_abs_diff=parity.max_abs_diff,
                                                           top1_agreement=parity.top1_agreement)))
    return result


def _verify(reference: nn.Module, model_bytes: bytes, batches: list, classifier: bool,
            fp16: bool) -> tuple[ort.InferenceSession, Parity]:
    """onnxruntime against torch on ``batches``; ExportError unless they agree."""
    hint = "; fp16 is too coarse for this model: export in fp32" if fp16 else ""
    try:
        session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
        parity = compare(reference, session, batches, classifier, FP16_TOLERANCE if fp16 else FP32_TOLERANCE)
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ExportError(f"onnxruntime cannot run the exported model ({ort_error_summary(error)}); "
                          "nothing was written") from error
    if not math.isfinite(parity.max_abs_diff):
        raise ExportError(f"verification failed: the exported model gives NaN or infinite outputs{hint}; "
                          "nothing was written")
    if not parity.max_abs_diff <= parity.limit:
        raise ExportError(f"verification failed: onnxruntime and torch differ by {parity.max_abs_diff:.2e} "
                          f"(limit {parity.limit:.0e}){hint}; nothing was written")
    return session, parity


def resolve_source(path: PathLike, kind: str = "classifier") -> Path:
    """The run folder (or model file) to export from ``path``, which may also be an image
    folder with a project: then its chosen model, else its newest fine-tune (classifier)
    or pretraining (embedding) run."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ExportError(f"{path} not found")
    if is_run_folder(path):
        return path
    from engine.store.project import Project, project_db_path

    if not project_db_path(path).is_file():
        raise ExportError(f"{path} is neither a run folder nor an image folder with a project; "
                          "train a model first")
    with Project.open(path) as project:
        chosen = project.chosen_model()
        runs = project.runs("finetune" if kind == "classifier" else "pretrain")
    if chosen:
        return Path(chosen)
    if not runs:
        raise ExportError(f"the project of {path} has no {'fine-tuned' if kind == 'classifier' else 'pretrained'} "
                          "model yet; train one first")
    return Path(runs[0].path)


def _load_trained(source: Path, kind: str) -> tuple[nn.Module, dict]:
    """The fp32 torch model to export (eval mode) and its meta (see :mod:`engine.models.model_io`)."""
    finetuned = holds_classifier(source)
    if kind == "classifier" and not finetuned:
        if holds_backbone(source):
            raise ExportError(f"{source} is a pretraining run without a classifier: fine-tune it on a few "
                              "labels first, or export the embedding model (--embedding)")
        raise ExportError(f"no fine-tuned classifier in {source}: train and fine-tune a model first")
    try:
        if not finetuned:
            return load_backbone(backbone_file(source))
        classifier, meta = load_classifier(classifier_file(source))
    except (ValueError, KeyError) as error:   # no or damaged model file
        raise ExportError(str(error)) from error
    return (classifier if kind == "classifier" else classifier.backbone), meta


def _image_folder(meta: dict, verify_images: Optional[PathLike]) -> tuple[str, str]:
    """(image folder, cache dir) to verify on: ``verify_images``, else the training images."""
    config = meta.get("config")
    if config is None and meta.get("pretrain_run"):
        try:
            config = open_run_folder(backbone_file(meta["pretrain_run"]).parent).config().to_dict()
        except (RunFolderError, OSError, ValueError):
            config = None
    config = config or {}
    folder = str(verify_images) if verify_images else (meta.get("data_dir") or config.get("data_dir", ""))
    if not folder or not Path(folder).is_dir():
        raise ExportError(f"the images to verify the export on are not at '{folder}' any more; "
                          "choose a folder of images like the training ones (--verify-images)")
    return folder, config.get("cache_dir", "")


def _wrap(model: nn.Module, kind: str, spec: InputSpec, fp16: bool = False) -> nn.Module:
    """The module whose trace is the graph: (raw) input -> (probabilities, logits) or embedding.

    ``fp16`` halves the backbone only (changing ``model`` in place): a classifier's feature
    normalisation and head stay float32, where tiny features cannot underflow to 0/0.
    """
    if fp16 and kind == "classifier":
        model.backbone = Half(model.backbone)
    elif fp16:
        model = Half(model)
    model = WithProbabilities(model) if kind == "classifier" else model
    model = RawInput(model, spec.size, spec.mean, spec.std) if spec.raw else model
    return model.eval()


def _metadata(kind: str, meta: dict, spec: InputSpec, fp16: bool) -> dict:
    channels = meta["in_channels"]
    validation = meta.get("validation") or {}
    return {
        onnx_meta.MARKER_KEY: onnx_meta.FORMAT_VERSION, "kind": kind,
        "classes": list(meta["classes"]) if kind == "classifier" else [],
        "input_name": onnx_meta.RAW_INPUT if spec.raw else onnx_meta.FLOAT_INPUT,
        "output_names": list(onnx_meta.CLASSIFIER_OUTPUTS if kind == "classifier" else onnx_meta.EMBEDDING_OUTPUTS),
        "input_dtype": "uint8" if spec.raw else "float32", "input_layout": "NHWC" if spec.raw else "NCHW",
        "input_size": [spec.size, spec.size], "channel_order": onnx_meta.channel_order(channels),
        "mean": list(spec.mean), "std": list(spec.std),
        "preprocessing": onnx_meta.preprocessing_text(spec.raw, spec.size, channels),
        "precision": "fp16" if fp16 else "fp32", "feature_dim": meta["feature_dim"],
        "training": {
            "method": meta.get("method"), "backbone": meta["backbone"], "mode": meta.get("mode"),
            "labels_used": meta.get("labels_used"), "validation_accuracy": validation.get("accuracy"),
            "validation_scheme": validation.get("scheme"),
        },
        "app_version": onnx_meta.app_version(), "torch_version": torch.__version__,
    }


def _convert(module: nn.Module, spec: InputSpec, channels: int, values: dict) -> bytes:
    """Trace, attach ``values`` as metadata, check; the serialised model."""
    if spec.raw:
        example = torch.zeros(2, spec.size + 3, spec.size + 1, channels, dtype=torch.uint8)
        axes = {0: "batch", 1: "height", 2: "width"}
    else:
        example = torch.zeros(2, channels, spec.size, spec.size)
        axes = {0: "batch"}
    try:
        proto = to_onnx(module, example, values["input_name"], values["output_names"], axes)
        proto.producer_name, proto.producer_version = "pretext-studio", values["app_version"]
        onnx.helper.set_model_props(proto, onnx_meta.encode(values))
        onnx.checker.check_model(proto, full_check=True)
    except (RuntimeError, onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise ExportError(f"the model could not be converted to ONNX: {error}") from error
    return proto.SerializeToString()


def _trained_labels(meta: dict) -> dict[str, str]:
    """``{relative path: class}`` the classifier was trained on (its run's labels.csv), or {}."""
    labels_csv = FinetuneRun(Path(meta["path"]).parent).labels_path
    if not labels_csv.is_file():
        return {}
    try:
        return read_labels_csv(labels_csv).labels
    except ValueError:   # unreadable: the accuracy is left out, the export goes on
        return {}


def _destination(out_path: PathLike, overwrite: bool) -> Path:
    """``out_path`` checked before any slow work: a .onnx file name in a writable place."""
    out = Path(out_path).expanduser().absolute()
    if out.suffix.lower() != ".onnx":
        raise ExportError(f"the model file name must end in .onnx: {out}")
    if out.is_dir():
        raise ExportError(f"{out} is a folder; give a file name such as {out / 'model.onnx'}")
    if out.exists() and not overwrite:
        raise ExportError(f"{out} exists already; choose another name or overwrite it (--overwrite)")
    existing = next(parent for parent in out.parents if parent.exists())
    if not existing.is_dir():
        raise ExportError(f"cannot write {out}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise ExportError(f"cannot write {out}: {existing} is not writable")
    return out


def _write(model_bytes: bytes, out: Path, readme_text: str) -> Path:
    """Write the README, then the model, each atomically; on failure restore the README
    and leave the previous model as it was. Return the README's path."""
    readme = deploy_readme.path_for(out)
    previous = readme.read_bytes() if readme.is_file() else None
    try:
        atomic.write_text(readme, readme_text)
        try:
            atomic.write_bytes(out, model_bytes)
        except BaseException:
            if previous is None:
                readme.unlink(missing_ok=True)
            else:
                atomic.write_bytes(readme, previous)
            raise
    except OSError as error:
        kept = "the existing file is unchanged" if out.exists() else "nothing was written"
        raise ExportError(f"could not write {out}: {error.strerror or error}; {kept}") from error
    return readme
