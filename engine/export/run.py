"""ONNX export with built-in verification: the last step of the workflow.

::

    result = export_model(run_dir, "model.onnx", kind="classifier", on_event=sink, cancel=token)
    result.max_abs_diff, result.top1_agreement, result.per_class_accuracy

Steps (:class:`~engine.core.events.ExportStep`; as each after the first begins, a
Progress(Stage.EXPORT, done, total, ExportProgress) names it): load the trained model, convert it to
ONNX (see :mod:`engine.export.graph`: the dynamo exporter, or the TorchScript one when
dynamo's model does not convert or verify), attach the metadata (:mod:`engine.deploy.onnx_meta`) and
``onnx.checker.check_model(full_check=True)``, compare onnxruntime with torch on the
user's own images at batch 1 and batch 8 (:mod:`engine.export.verify`), then write the
model, a README.txt and a MODEL_CARD.md atomically. Any failure raises :class:`ExportError` and leaves no
new file behind; an existing model file is replaced only with ``overwrite=True`` and is
never left half-written.

No onnxslim pass: both exporters already fold constants, and onnxruntime
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
    Stage, Started, Warning, ignore_events,
)
from engine.data.scan import ScanReport
from engine.deploy import onnx_meta
from engine.deploy.predict import ort_error_summary
from engine.export import deploy_readme, model_card, quantize
from engine.export.graph import EXPORTERS, Half, RawInput, WithProbabilities, to_onnx
from engine.export.quantize import Int8Report
from engine.export.verify import (
    InputSpec, Parity, compare, label_rows, load_images, per_class_accuracy, verification_batches,
)
from engine.models.model_io import load_backbone, load_classifier
from engine.store.project_io import read_labels_csv
from engine.store.runs import (
    FinetuneRun, RunFolderError, backbone_file, classifier_file, holds_backbone, holds_classifier, is_run_folder,
    open_run_folder,
)

KINDS = ("classifier", "embedding")
FP32_TOLERANCE = 1e-4     # on probabilities (embeddings: times their largest magnitude)
FP16_TOLERANCE = 1e-2


def export_steps(int8: bool) -> tuple[ExportStep, ...]:
    """The steps an export runs, in order: QUANTIZE only when an INT8 copy is asked for."""
    return tuple(step for step in ExportStep if int8 or step is not ExportStep.QUANTIZE)


PathLike = Union[str, Path]


class ExportError(ValueError):
    """The export cannot be done or did not verify; the one-line message says why."""


@dataclass(frozen=True)
class ExportOptions:
    """What to export: ``kind`` (classifier or embedding), raw uint8 input, fp16, an INT8
    copy, and the image folders to verify and calibrate on (None: the training images)."""

    kind: str = "classifier"
    raw_input: bool = False
    fp16: bool = False
    int8: bool = False
    verify_images: Optional[str] = None
    calibration_images: Optional[str] = None


@dataclass(frozen=True)
class ExportResult:
    """A verified, written model. ``max_abs_diff`` is onnxruntime vs torch on the first
    output (probabilities, or the embedding) and stayed within ``tolerance``;
    ``exporter`` is the one whose model passed (see :data:`engine.export.graph.EXPORTERS`);
    ``per_class_accuracy`` is the ONNX model's on the images the classifier was trained on
    (its run's labels.csv; None for an embedding model or without labels); ``model_card_path``:
    the MODEL_CARD.md written beside it (:mod:`engine.export.model_card`); ``int8`` compares
    the INT8 copy with this model (None unless asked for)."""

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
    exporter: str
    model_card_path: str
    int8: Optional[Int8Report] = None


def export_model(source: PathLike, out_path: PathLike, *, kind: str = "classifier", raw_input: bool = False,
                 fp16: bool = False, int8: bool = False, verify_images: Optional[PathLike] = None,
                 calibration_images: Optional[PathLike] = None, overwrite: bool = False,
                 on_event: Optional[EventSink] = None, cancel: Optional[CancelToken] = None,
                 scan: Optional[ScanReport] = None) -> ExportResult:
    """Export the model of ``source`` to ``out_path`` (a ``.onnx`` file), verified.

    ``source``: a fine-tune run folder (classifier, or its backbone as embedding), a
    pretraining run folder (embedding), either's ``.pt`` file, or an image folder with a
    project (its chosen model, else its newest run). ``raw_input``: the model takes uint8
    ``(N, H, W, C)`` images of any size; else normalised float ``(N, C, S, S)``.
    ``fp16``: float16 weights and arithmetic behind float32 input/output.
    ``int8``: also write ``<name>.int8.onnx``, statically quantized (see
    :mod:`engine.export.quantize`), and compare it with the fp32 model.
    ``verify_images`` / ``calibration_images``: folders to verify / calibrate on instead of
    the images the model was trained on (each defaults to the other).
    ``scan``: a scan of the verification folder the caller already has, used instead of scanning again.
    """
    emit = on_event or ignore_events
    cancel = cancel or CancelToken()
    if kind not in KINDS:
        raise ExportError(f"unknown export kind '{kind}'; choose one of {', '.join(KINDS)}")
    if fp16 and int8:
        raise ExportError("choose fp16 or int8, not both: the INT8 model is quantized from the fp32 one")
    options = ExportOptions(kind, raw_input, fp16, int8, verify_images and str(verify_images),
                            calibration_images and str(calibration_images))
    out = _destination(out_path, overwrite, int8)
    emit(Started(Stage.EXPORT, len(export_steps(int8)), ExportStart(kind=kind, path=str(out))))
    try:
        return _export(Path(source), out, options, emit, cancel, scan)
    except Cancelled:
        emit(Finished(Stage.EXPORT, "cancelled"))
        raise


def _export(source: Path, out: Path, options: ExportOptions, emit: EventSink, cancel: CancelToken,
            scan: Optional[ScanReport]) -> ExportResult:
    steps = export_steps(options.int8)

    def step(current: ExportStep) -> None:
        cancel.check()
        emit(Progress(Stage.EXPORT, steps.index(current), len(steps), ExportProgress(current=current)))

    kind, fp16 = options.kind, options.fp16
    model, meta = _load_trained(resolve_source(source, kind), kind)
    spec = InputSpec(options.raw_input, meta["image_size"], tuple(meta["mean"]), tuple(meta["std"]))
    data_dir, cache_dir = _image_folder(meta, options.verify_images or options.calibration_images,
                                        for_int8=options.int8 and not options.verify_images)
    step(ExportStep.CONVERT)
    reference = _wrap(model, kind, spec)
    exported = _wrap(copy.deepcopy(model), kind, spec, fp16)
    values = _metadata(kind, meta, spec, fp16)
    card = values["model_card"] = model_card.card_facts(meta, {
        "kind": kind, "raw_input": options.raw_input, "precision": values["precision"], "int8": options.int8})
    batches: list = []
    for exporter in EXPORTERS:   # the first whose model converts and verifies
        values["exporter"] = card["export"]["exporter"] = exporter
        try:
            model_bytes = _convert(exported, spec, meta["in_channels"], values)
            step(ExportStep.VERIFY)
            if not batches:
                store = load_images(data_dir, spec.size, meta["in_channels"], cache_dir, emit, cancel, scan)
                batches = verification_batches(store, data_dir, spec)
            session, parity = _verify(reference, model_bytes, batches, kind == "classifier", fp16)
            break
        except ExportError as error:
            if exporter == EXPORTERS[-1]:
                raise
            emit(Warning(f"the {exporter} exporter's model did not pass ({error}); "
                         f"trying the {EXPORTERS[-1]} exporter"))
    labels = _trained_labels(meta) if kind == "classifier" else {}
    accuracy = per_class_accuracy(session, store, spec, labels, values["classes"]) if kind == "classifier" else None
    report, int8_file = None, []
    if options.int8:
        step(ExportStep.QUANTIZE)
        calibration = store
        if options.calibration_images and options.verify_images:
            folder, _ = _image_folder(meta, options.calibration_images, for_int8=True)
            calibration = load_images(folder, spec.size, meta["in_channels"], cache_dir, emit, cancel)
        try:
            int8_bytes, report = quantize.build_int8(model_bytes, session, values, spec, calibration, store,
                                                     label_rows(store, labels, values["classes"]),
                                                     onnx_meta.int8_path(out))
        except quantize.QuantizeError as error:
            raise ExportError(f"{error}; nothing was written") from error
        int8_file = [(onnx_meta.int8_path(out), int8_bytes)]
    readme_path, card_path = deploy_readme.path_for(out), model_card.path_for(out)
    int8_name = onnx_meta.int8_path(out).name if report else None
    step(ExportStep.WRITE)
    _write([(readme_path, deploy_readme.render(values, out.name, int8_name).encode("utf-8")),
            (card_path, model_card.render(card, out.name, report).encode("utf-8")),
            *int8_file, (out, model_bytes)])
    emit(Progress(Stage.EXPORT, len(steps), len(steps), ExportProgress(current=None)))
    result = ExportResult(
        path=str(out), kind=kind, raw_input=options.raw_input, precision=values["precision"],
        max_abs_diff=parity.max_abs_diff, tolerance=parity.limit, top1_agreement=parity.top1_agreement,
        batch_sizes=parity.batch_sizes, images_checked=parity.images, metadata=values,
        per_class_accuracy=accuracy, readme_path=str(readme_path), size_bytes=len(model_bytes),
        exporter=values["exporter"], model_card_path=str(card_path), int8=report)
    emit(Finished(Stage.EXPORT, "completed", ExportSummary(
        path=str(out), max_abs_diff=parity.max_abs_diff, top1_agreement=parity.top1_agreement,
        recommended=report.recommended if report else "fp32")))
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


def _image_folder(meta: dict, folder: Optional[PathLike], for_int8: bool = False) -> tuple[str, str]:
    """(image folder, cache dir) to verify or calibrate on: ``folder``, else the training images."""
    config = meta.get("config")
    if config is None and meta.get("pretrain_run"):
        try:
            config = open_run_folder(backbone_file(meta["pretrain_run"]).parent).config().to_dict()
        except (RunFolderError, OSError, ValueError):
            config = None
    config = config or {}
    folder = str(folder) if folder else (meta.get("data_dir") or config.get("data_dir", ""))
    if not folder or not Path(folder).is_dir():
        if for_int8:
            raise ExportError(f"the images to calibrate the INT8 model on are not at '{folder}' any more; "
                              "choose a folder of images like the training ones (--calibration-images DIR)")
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
    """Export with ``values["exporter"]``, attach ``values`` as metadata, check; the serialised model."""
    if spec.raw:
        example = torch.zeros(2, spec.size + 3, spec.size + 1, channels, dtype=torch.uint8)
        axes = {0: "batch", 1: "height", 2: "width"}
    else:
        example = torch.zeros(2, channels, spec.size, spec.size)
        axes = {0: "batch"}
    try:
        proto = to_onnx(module, example, values["input_name"], values["output_names"], axes, values["exporter"])
        proto.producer_name, proto.producer_version = "pretext-studio", values["app_version"]
        onnx.helper.set_model_props(proto, onnx_meta.encode(values))
        onnx.checker.check_model(proto, full_check=True)
    except Exception as error:  # noqa: BLE001 - each exporter raises its own exception types
        summary = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExportError(f"the model could not be converted to ONNX: {summary}") from error
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


def _destination(out_path: PathLike, overwrite: bool, int8: bool = False) -> Path:
    """``out_path`` checked before any slow work: a .onnx file name in a writable place
    (and, with ``int8``, room for the INT8 file beside it)."""
    out = Path(out_path).expanduser().absolute()
    if out.suffix.lower() != ".onnx":
        raise ExportError(f"the model file name must end in .onnx: {out}")
    for path in (out, onnx_meta.int8_path(out)) if int8 else (out,):
        if path.is_dir():
            raise ExportError(f"{path} is a folder; give a file name such as {path / 'model.onnx'}")
        if path.exists() and not overwrite:
            raise ExportError(f"{path} exists already; choose another name or overwrite it (--overwrite)")
    existing = next(parent for parent in out.parents if parent.exists())
    if not existing.is_dir():
        raise ExportError(f"cannot write {out}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise ExportError(f"cannot write {out}: {existing} is not writable")
    return out


def _write(files: list[tuple[Path, bytes]]) -> None:
    """Write each ``(path, bytes)`` atomically, in order (the model last); when one fails,
    put back the files already written as they were, so nothing is left half-exported."""
    written: list[tuple[Path, Optional[bytes]]] = []
    try:
        try:
            for path, data in files:
                previous = path.read_bytes() if path.is_file() else None
                atomic.write_bytes(path, data)
                written.append((path, previous))
        except BaseException:
            for path, previous in reversed(written):
                if previous is None:
                    path.unlink(missing_ok=True)
                else:
                    atomic.write_bytes(path, previous)
            raise
    except OSError as error:
        out = files[-1][0]
        kept = "the existing file is unchanged" if out.exists() else "nothing was written"
        reason = (error if isinstance(error, atomic.DiskWriteError)
                  else f"could not write {out}: {error.strerror or error}")
        raise ExportError(f"{reason}; {kept}") from error
