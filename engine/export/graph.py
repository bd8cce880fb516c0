"""The torch modules that become the exported graph, and the torch -> ONNX step.

The exported network is the trained model wrapped in up to three thin layers:

* :class:`Half` runs the backbone in float16 behind float32 input and output;
* :class:`WithProbabilities` returns ``(softmax(logits), logits)`` for a classifier;
* :class:`RawInput` takes uint8 ``(B, H, W, C)`` images of any size and does the
  evaluation transform itself: centre square crop, antialiased bilinear resize to the
  training size, scaling to [0, 1] and per-channel normalisation.

Exporters (:data:`EXPORTERS`, tried in that order by :mod:`engine.export.run`): the
dynamo-based one (``torch.onnx.export(dynamo=True)``, via onnxscript), the current one,
and the TorchScript-based one (``dynamo=False``) as the fall-back, both at opset 18. Dynamic
batch and image sizes become ``torch.export.Dim`` s for dynamo and ``dynamic_axes`` for
TorchScript. TorchScript's one gap, the antialiased resize, is filled by a symbolic below
that emits ``Resize(antialias=1, exclude_outside=1)``, which matches
``F.interpolate(antialias=True)`` to float precision (Pillow's bilinear resize, used to
decode the training images, differs from both by about 1/255 at most); dynamo emits the
same Resize by itself.

Measured with dynamo (torch 2.14, onnxscript 0.7) on every backbone at 32 px, RGB, as
classifier, raw-input classifier, fp16 classifier and embedding: all export, and
onnxruntime matches torch within 3e-7 of the largest output (fp32) and 2e-4 on the
probabilities (fp16).
"""
from __future__ import annotations

import contextlib
import io
import warnings
from typing import Sequence

import onnx
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.onnx import symbolic_helper

OPSET = 18                      # the first opset whose Resize has ``antialias``
EXPORTERS = ("dynamo", "torchscript")
_RESIZE_SYMBOL = "aten::_upsample_bilinear2d_aa"


def _resize_antialiased(g, x, output_size, align_corners, scales_h=None, scales_w=None):
    """ONNX for ``F.interpolate(x, size, mode="bilinear", antialias=True)``, x (B, C, H, W)."""
    size = symbolic_helper._maybe_get_const(output_size, "is")
    empty = g.op("Constant", value_t=torch.tensor([], dtype=torch.float32))
    batch_channels = g.op("Slice", g.op("Shape", x), g.op("Constant", value_t=torch.tensor([0])),
                          g.op("Constant", value_t=torch.tensor([2])))
    sizes = g.op("Concat", batch_channels, g.op("Constant", value_t=torch.tensor(size, dtype=torch.int64)), axis_i=0)
    return g.op("Resize", x, empty, empty, sizes, mode_s="linear", antialias_i=1, exclude_outside_i=1,
                coordinate_transformation_mode_s="half_pixel")


torch.onnx.register_custom_op_symbolic(_RESIZE_SYMBOL, _resize_antialiased, OPSET)


class Half(nn.Module):
    """float32 ``(B, ...)`` -> the model run in float16 -> float32 ``(B, ...)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.half()

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x.half()).float()


class WithProbabilities(nn.Module):
    """Normalised float ``(B, C, S, S)`` -> ``(probabilities (B, K), logits (B, K))``."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.classifier(x)
        return logits.softmax(dim=1), logits


class RawInput(nn.Module):
    """uint8 ``(B, H, W, C)`` of any H, W -> ``model(normalised float (B, C, S, S))``.

    The same steps as the evaluation transform (:func:`engine.data.augment.normalize_only` on
    images that :func:`engine.data.imageio.decode_resized` centre-cropped): the centred
    ``min(H, W)`` square, an antialiased bilinear resize to ``size``, then
    ``(x / 255 - mean) / std``. Shapes are read as tensors so the trace stays dynamic.
    """

    def __init__(self, model: nn.Module, size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.model = model
        self.size = size
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: Tensor):
        x = images.permute(0, 3, 1, 2).float() / 255.0
        if torch.jit.is_tracing():   # TorchScript: sizes as tensors, or the trace fixes them
            height_width = torch._shape_as_tensor(x)[2:]
            side = height_width.min()
            top, left = (height_width[0] - side) // 2, (height_width[1] - side) // 2
            x = x[:, :, top:top + side, left:left + side]
        else:                        # eager and dynamo: symbolic sizes
            height, width = x.shape[2], x.shape[3]
            side = torch.sym_min(height, width)
            torch._check(side > 0)
            x = x.narrow(2, (height - side) // 2, side).narrow(3, (width - side) // 2, side)
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return self.model((x.clamp(0.0, 1.0) - self.mean) / self.std)


def to_onnx(module: nn.Module, example: Tensor, input_name: str, output_names: Sequence[str],
            dynamic_input_axes: dict[int, str], exporter: str = "dynamo") -> onnx.ModelProto:
    """Export ``module`` (in eval mode) with ``exporter`` (one of :data:`EXPORTERS`) on
    ``example`` and return the ONNX model.

    ``dynamic_input_axes`` maps input axes to names (always ``{0: "batch", ...}``); every
    output's first axis is the batch.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown exporter '{exporter}'; choose one of {', '.join(EXPORTERS)}")
    module = module.eval()
    if exporter == "dynamo":
        return _dynamo(module, example, input_name, output_names, dynamic_input_axes)
    buffer = io.BytesIO()
    dynamic_axes = {input_name: dynamic_input_axes, **{name: {0: "batch"} for name in output_names}}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message="The feature will be removed.*")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            module, (example,), buffer, dynamo=False, opset_version=OPSET, export_params=True,
            do_constant_folding=True, input_names=[input_name], output_names=list(output_names),
            dynamic_axes=dynamic_axes,
        )
    return onnx.load_from_string(buffer.getvalue())


def _dynamo(module: nn.Module, example: Tensor, input_name: str, output_names: Sequence[str],
            dynamic_input_axes: dict[int, str]) -> onnx.ModelProto:
    """``torch.onnx.export(dynamo=True)``, quietly: its progress lines go to a log."""
    shapes = ({axis: torch.export.Dim(name, min=1) for axis, name in dynamic_input_axes.items()},)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module, (example,), dynamo=True, opset_version=OPSET, optimize=True,
            input_names=[input_name], output_names=list(output_names), dynamic_shapes=shapes, verbose=False,
        )
    return program.model_proto
