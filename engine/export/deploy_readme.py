"""README.txt written next to an exported model: inputs, outputs, classes, and a short
Python example that needs only onnxruntime, numpy and Pillow."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

TITLE = "Pretext Studio model"

_FLOAT_EXAMPLE = """\
import numpy as np, onnxruntime as ort
from PIL import Image, ImageOps

session = ort.InferenceSession("{file}")
image = ImageOps.exif_transpose(Image.open("photo.jpg")).convert("{mode}")
image = ImageOps.fit(image, ({size}, {size}), Image.Resampling.BILINEAR)   # centre crop + resize
x = np.asarray(image, np.float32).reshape({size}, {size}, {channels}) / 255.0
x = (x - np.array({mean}, np.float32)) / np.array({std}, np.float32)
x = x.transpose(2, 0, 1)[None]                    # (1, {channels}, {size}, {size}) float32
{run}
"""

_RAW_EXAMPLE = """\
import numpy as np, onnxruntime as ort
from PIL import Image, ImageOps

session = ort.InferenceSession("{file}")
image = ImageOps.exif_transpose(Image.open("photo.jpg")).convert("{mode}")
x = np.asarray(image, np.uint8).reshape(image.height, image.width, {channels})[None]   # (1, H, W, {channels}) uint8
{run}
"""

_CLASSIFIER_RUN = """\
probabilities = session.run(["probabilities"], {{"{input}": x}})[0][0]
classes = {classes}
print(classes[int(probabilities.argmax())], float(probabilities.max()))"""

_EMBEDDING_RUN = """\
embedding = session.run(["embedding"], {{"{input}": x}})[0][0]   # ({dim},) float32
print(embedding.shape, np.linalg.norm(embedding))"""


def path_for(model_path: Path) -> Path:
    """``README.txt`` beside the model, unless that file documents something else (another
    exported model, or a README that is not ours): then ``<model name>.README.txt``."""
    return companion_path(model_path, "README.txt", f"{TITLE}: {model_path.name}")


def companion_path(model_path: Path, name: str, first_line: str) -> Path:
    """``name`` beside the model when it is free or starts with ``first_line`` (it is this
    model's), else ``<model stem>.<name>``."""
    path = model_path.with_name(name)
    if path.is_file():
        if path.read_text(encoding="utf-8", errors="replace").partition("\n")[0] != first_line:
            return model_path.with_name(f"{model_path.stem}.{name}")
    return path


def render(meta: dict, file_name: str, int8_file: Optional[str] = None) -> str:
    """The README text for a model with metadata ``meta`` (see :mod:`engine.deploy.onnx_meta`),
    and ``int8_file``, its INT8 copy, when there is one."""
    size = meta["input_size"][0]
    channels = len(meta["mean"])
    raw = meta["input_dtype"] == "uint8"
    classifier = meta["kind"] == "classifier"
    if raw:
        shape = f"(N, H, W, {channels}) uint8 {meta['channel_order']}, any H and W"
    else:
        shape = f"(N, {channels}, {size}, {size}) float32, normalised"
    outputs = (["probabilities  (N, K) float32, softmax over the classes",
                "logits         (N, K) float32"] if classifier
               else [f"embedding      (N, {meta['feature_dim']}) float32"])
    training = meta["training"]
    accuracy = training.get("validation_accuracy")
    run = (_CLASSIFIER_RUN if classifier else _EMBEDDING_RUN).format(
        input=meta["input_name"], classes=meta["classes"], dim=meta["feature_dim"])
    example = (_RAW_EXAMPLE if raw else _FLOAT_EXAMPLE).format(
        file=file_name, mode=meta["channel_order"], size=size, channels=channels,
        mean=[round(v, 4) for v in meta["mean"]], std=[round(v, 4) for v in meta["std"]], run=run)
    lines = [
        f"{TITLE}: {file_name}",
        "",
        f"Kind: {meta['kind']} ({meta['precision']}), exported by Pretext Studio {meta['app_version']} "
        f"with torch {meta['torch_version']}.",
        f"Trained: {training.get('method')} pretraining of a {training['backbone']} backbone"
        + (f", {training.get('mode')} fine-tune on {training.get('labels_used')} labels" if classifier else "")
        + (f", validation accuracy {100 * accuracy:.1f}%" if accuracy is not None else "") + ".",
        *([f"INT8 copy: {int8_file}, with the same input and outputs; the model card says how it compares "
           "with this model and which of the two to use."] if int8_file else []),
        "",
        "Input",
        f"  {meta['input_name']}  {shape}",
        f"  Preprocessing: {meta['preprocessing']}.",
        f"  mean {meta['mean']}, std {meta['std']}",
        "",
        "Outputs (the first axis is the batch)",
        *(f"  {line}" for line in outputs),
        "",
    ]
    if classifier:
        lines += ["Classes (in output order)", *(f"  {i}: {name}" for i, name in enumerate(meta["classes"])), ""]
    lines += [
        "All of this is also in the model's metadata (JSON strings):",
        "  onnxruntime.InferenceSession(path).get_modelmeta().custom_metadata_map",
        "",
        "Example (pip install onnxruntime numpy pillow)",
        "",
        *(f"    {line}" if line else "" for line in example.splitlines()),
        "",
        "Or from the command line: pretext-studio-cli predict " + file_name + " IMAGE_OR_FOLDER [--csv out.csv]",
        "",
    ]
    return "\n".join(lines)
