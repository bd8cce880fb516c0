"""Loading a pretrained backbone, and saving/loading the fine-tuned classifier built on it.

Both take the model file itself; its place in a run folder is :mod:`engine.store.runs`'s
business. A backbone file (see
:meth:`engine.pretrain.session.TrainingSession.backbone_export`) and a classifier file::

    {"version": 1, "backbone": ..., "in_channels": ..., ..., "state_dict": backbone.state_dict()}
    {"version": 1, "meta": {...plain types...}, "state_dict": Classifier.state_dict()}

A backbone file without ``version`` predates it and reads as version 1. A classifier's
``meta`` holds what every later step needs: ``classes`` (in logit order), ``image_size``,
``in_channels``, ``mean``/``std`` (the input normalisation), ``backbone``, ``small_stem``, ``feature_dim``,
``method`` (the SSL method), ``mode`` (linear/full/semi), ``labels_used``, ``validation``
and ``pretrain_run``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.core import checkpoint
from engine.models.backbones import build_backbone

BACKBONE_VERSION = 1
CLASSIFIER_VERSION = 1
REBUILD_KEYS = ("classes", "backbone", "in_channels", "image_size", "feature_dim", "mean", "std")

PathLike = Union[str, Path]


def load_backbone(path: PathLike, device: Union[str, torch.device] = "cpu") -> tuple[nn.Module, dict]:
    """The pretrained backbone in the file ``path``, in eval mode.

    Returns ``(backbone, meta)``: the backbone maps normalised ``(B, C, S, S)`` floats to
    ``(B, feature_dim)``; ``meta`` is the export dict without ``state_dict`` and ``version``,
    plus ``path`` (the backbone file) and ``run_dir``. Raises ValueError when there is none,
    or it is damaged or of a newer format.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"no finished pretraining in {file.parent}: run pretraining first")
    saved = _read(file, "backbone")
    if saved.get("version", 1) > BACKBONE_VERSION:
        raise ValueError(f"{file} has backbone format {saved['version']}, newer than this version of Pretext "
                         f"Studio reads ({BACKBONE_VERSION}): update Pretext Studio")
    meta = {k: v for k, v in saved.items() if k not in ("state_dict", "version")}
    meta.update(path=str(file), run_dir=str(file.parent))
    backbone = _build(meta)
    backbone.load_state_dict(saved["state_dict"])
    return backbone.to(device).eval(), meta


class Classifier(nn.Module):
    """A backbone, a fixed feature normalisation and a linear head.

    ``forward``: normalised float ``(B, C, S, S)`` -> logits ``(B, K)``. Features
    ``(B, D)`` are L2-normalised, then standardised with the buffers ``feature_mean`` and
    ``feature_std`` (``(D,)``, fitted on the images' features), so the head sees
    well-scaled inputs and an exported model carries the same steps.
    """

    def __init__(self, backbone: nn.Module, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.register_buffer("feature_mean", torch.zeros(feature_dim))
        self.register_buffer("feature_std", torch.ones(feature_dim))
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Normalised float ``(B, C, S, S)`` -> standardised features ``(B, D)``."""
        return self.standardize(self.backbone(x))

    def standardize(self, raw: Tensor) -> Tensor:
        """Raw backbone features ``(B, D)`` -> what the head takes ``(B, D)``."""
        return (F.normalize(raw, dim=1) - self.feature_mean) / self.feature_std

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def save_classifier(path: PathLike, classifier: Classifier, meta: dict) -> Path:
    """Write the classifier file ``path`` atomically; return it. ``meta`` must hold plain types only."""
    missing = [key for key in REBUILD_KEYS if key not in meta]
    if missing:
        raise ValueError(f"classifier meta lacks {', '.join(missing)}")
    state = {k: v.detach().cpu() for k, v in classifier.state_dict().items()}
    payload = {"version": CLASSIFIER_VERSION, "meta": dict(meta), "state_dict": state}
    return checkpoint.save_atomic(payload, Path(path))


def load_classifier(path: PathLike, device: Union[str, torch.device] = "cpu") -> tuple[Classifier, dict]:
    """The classifier in the file ``path``, in eval mode.

    Returns ``(classifier, meta)``; ``meta["path"]`` is the file read. Raises ValueError
    when there is none or it is damaged.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"no fine-tuned classifier in {file.parent}: run fine-tuning first")
    saved = _read(file, "classifier")
    if saved.get("version") != CLASSIFIER_VERSION:
        raise ValueError(f"{file} has classifier format {saved.get('version')}, expected {CLASSIFIER_VERSION}")
    meta = dict(saved["meta"], path=str(file))
    classifier = Classifier(_build(meta), meta["feature_dim"], len(meta["classes"]))
    classifier.load_state_dict(saved["state_dict"])
    return classifier.to(device).eval(), meta


def _build(meta: dict) -> nn.Module:
    """An untrained backbone of the architecture ``meta`` describes (``small_stem`` absent:
    decided by the image size, as older runs did)."""
    backbone, _ = build_backbone(meta["backbone"], meta["in_channels"], meta["image_size"],
                                 small_stem=meta.get("small_stem"))
    return backbone


def _read(file: Path, what: str) -> dict:
    try:
        saved = checkpoint.load(file)
    except Exception as error:   # truncated file, not a torch file, foreign pickle
        raise ValueError(f"{file} is not a readable {what} file ({error.__class__.__name__})") from error
    if not isinstance(saved, dict) or "state_dict" not in saved:
        raise ValueError(f"{file} is not a {what} file")
    return saved
