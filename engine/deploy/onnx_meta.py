"""The contract between an exported ONNX model and whoever runs it: names and metadata.

Every value in the model's ``metadata_props`` is a JSON string, so any language can read
it. This module imports neither torch nor onnx: :mod:`engine.deploy.predict` reads models with
onnxruntime alone, and :mod:`engine.export.run` writes them.

Keys (value types after ``json.loads``):

====================  =============================================================
``pretext_studio``    format version (int); marks the model as ours
``kind``              "classifier" or "embedding"
``classes``           class names in output order (list[str]; empty for embedding)
``input_name``        the one input: "input" (float) or "image" (raw)
``output_names``      ["probabilities", "logits"] or ["embedding"]
``input_dtype``       "float32" or "uint8"
``input_layout``      "NCHW" (float) or "NHWC" (raw)
``input_size``        [height, width] the network sees (list[int])
``channel_order``     "RGB" or "L" (grayscale)
``mean``, ``std``     per-channel normalisation of values in [0, 1] (list[float])
``preprocessing``     what the caller does before the model, in words
``precision``         "fp32", "fp16" or "int8" (weights and arithmetic; input/output stay float32)
``quantization``      INT8 only: {format "QDQ", method, calibration_images, per_channel, ops}
``feature_dim``       embedding length (int)
``training``          {method, backbone, mode, labels_used, validation_accuracy, ...}
``app_version``       Pretext Studio's version; ``torch_version``: the exporter's torch
``exporter``          "dynamo" or "torchscript": the torch.onnx exporter that wrote the graph
``model_card``        the main facts of MODEL_CARD.md: {data, pretraining, fine_tune (classifier),
                      export, versions, intended_use, limits} (see engine.export.model_card)
====================  =============================================================
"""
from __future__ import annotations

import json
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Mapping, Union

FORMAT_VERSION = 1
MARKER_KEY = "pretext_studio"
FLOAT_INPUT = "input"
RAW_INPUT = "image"
CLASSIFIER_OUTPUTS = ("probabilities", "logits")
EMBEDDING_OUTPUTS = ("embedding",)

FLOAT_PREPROCESSING = ("decode to {order}, resize the shorter side to {size} px and centre-crop to {size}x{size} "
                       "(bilinear), scale to [0, 1], subtract mean and divide by std per channel, "
                       "layout NCHW float32")
RAW_PREPROCESSING = ("decode to {order} uint8 and pass it as (N, H, W, {channels}); the model centre-crops, "
                     "resizes to {size}x{size} (antialiased bilinear) and normalises by itself")


class NotOurModel(ValueError):
    """An ONNX model without Pretext Studio's metadata; the message says what is missing."""


def app_version() -> str:
    """The installed Pretext Studio version, or "dev" in a source checkout."""
    try:
        return importlib_metadata.version("pretext-studio")
    except importlib_metadata.PackageNotFoundError:
        return "dev"


def encode(values: Mapping[str, object]) -> dict[str, str]:
    """Plain values -> ``{key: JSON string}`` for ``metadata_props``."""
    return {key: json.dumps(value) for key, value in values.items()}


def decode(props: Mapping[str, str], source: str = "the model") -> dict:
    """``metadata_props`` (``{key: JSON string}``) -> plain values; NotOurModel unless ours."""
    if MARKER_KEY not in props:
        raise NotOurModel(f"{source} is not a Pretext Studio model (it has no '{MARKER_KEY}' metadata)")
    try:
        values = {key: json.loads(text) for key, text in props.items()}
    except json.JSONDecodeError as error:
        raise NotOurModel(f"{source} has damaged Pretext Studio metadata ({error})") from error
    if values[MARKER_KEY] != FORMAT_VERSION:
        raise NotOurModel(f"{source} uses metadata format {values[MARKER_KEY]}; this version reads {FORMAT_VERSION}")
    missing = [key for key in ("kind", "classes", "input_name", "input_dtype", "input_size", "mean", "std",
                               "output_names") if key not in values]
    if missing:
        raise NotOurModel(f"{source} lacks the metadata {', '.join(missing)}")
    return values


def int8_path(model_path: Union[str, Path]) -> Path:
    """Where an INT8 export writes its quantized copy: ``model.onnx`` -> ``model.int8.onnx`` beside it."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}.int8.onnx")


def channel_order(channels: int) -> str:
    return "L" if channels == 1 else "RGB"


def preprocessing_text(raw_input: bool, size: int, channels: int) -> str:
    """A one-sentence description of what the caller must do before running the model."""
    template = RAW_PREPROCESSING if raw_input else FLOAT_PREPROCESSING
    return template.format(order="grayscale" if channels == 1 else "RGB", size=size, channels=channels)
