"""Frozen, JSON-serialisable configurations for the engine's jobs.

A value of ``"auto"`` (or ``0`` for sizes) means "let :mod:`engine.pretrain.auto` decide";
the run folder stores the resolved config, so a run can be repeated exactly.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from engine.core.atomic import write_json

METHODS = ("auto", "simclr", "byol", "vicreg", "dino")
METHOD_NAMES = {"auto": "Automatic", "simclr": "SimCLR", "byol": "BYOL", "vicreg": "VICReg", "dino": "DINO"}
OWN_CNNS = ("smallcnn", "mediumcnn", "largecnn")     # our plain CNNs for CPUs and small images, by size
BACKBONES = (
    "auto", *OWN_CNNS, "resnet18", "resnet34", "resnet50",
    "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0",
)
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
STEMS = ("auto", "small", "standard")
MAX_SEED = 2**32 - 1


class ConfigError(ValueError):
    """A configuration value is out of range or unknown; the message says which."""


def check_device(device: str) -> str:
    """Return ``device`` when it is one of :data:`DEVICES` or "cuda:N", else raise :class:`ConfigError`."""
    if device not in DEVICES and not re.fullmatch(r"cuda:\d+", device):
        raise ConfigError(f"unknown device '{device}'; choose one of {', '.join(DEVICES)} or cuda:N")
    return device


def check_seed(seed: int) -> int:
    """Return ``seed`` when it is in [0, :data:`MAX_SEED`], else raise :class:`ConfigError`."""
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be between 0 and {MAX_SEED}, not {seed}")
    return seed


class JsonConfig:
    """The JSON round trip shared by the frozen config dataclasses; unknown keys are refused."""

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        """The config ``data`` describes; ConfigError for unknown or missing keys and values of the
        wrong type (a string for a number, null for a size), naming the key."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a JSON object, not {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
        missing = sorted(name for name, f in fields.items() if name not in data and _required(f))
        if missing:
            raise ConfigError(f"missing config keys: {', '.join(missing)}")
        hints = typing.get_type_hints(cls)
        for name, value in data.items():
            if not _is_a(value, hints[name]):
                raise ConfigError(f"config key '{name}' must be {_type_name(hints[name])}, not {json.dumps(value)}")
        return cls(**cls.decode(data))

    @classmethod
    def decode(cls, data: dict) -> dict:
        """JSON values → field values (lists back to tuples, say); identity by default."""
        return data

    def save(self, path: Path) -> None:
        """Write the config as JSON, atomically (:class:`~engine.core.atomic.DiskWriteError` when refused)."""
        write_json(path, self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: Path):
        """The config saved in ``path``; ConfigError naming the file when it is unreadable or invalid."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except OSError as error:
            raise ConfigError(f"cannot read {path}: {error.strerror or error}") from error
        except (ValueError, TypeError) as error:   # JSONDecodeError and ConfigError are ValueErrors
            raise ConfigError(f"{path} is not a valid config: {error}") from error


def _required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _is_a(value, expected) -> bool:
    """Whether a JSON ``value`` fits the field type ``expected`` (int, float, str, bool, tuple, Optional[...])."""
    if typing.get_origin(expected) is typing.Union:
        return any(_is_a(value, option) for option in typing.get_args(expected))
    if expected is type(None):
        return value is None
    if expected is bool:
        return isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is tuple:
        return isinstance(value, (list, tuple))
    return isinstance(value, expected)


def _type_name(expected) -> str:
    if typing.get_origin(expected) is typing.Union:
        return " or ".join(_type_name(option) for option in typing.get_args(expected))
    return {int: "a whole number", float: "a number", str: "text", bool: "true or false", tuple: "a list",
            type(None): "null"}.get(expected, getattr(expected, "__name__", str(expected)))


def setting(default, help: str, **cli):
    """A config field whose metadata carries its command line: ``help``, and optionally ``flag`` (the
    default is ``--snake-case`` of the name), ``metavar``, ``choices`` and ``overrides`` (the field this
    one replaces when set, so the two flags exclude each other); see :mod:`engine.cli.flags`."""
    return dataclasses.field(default=default, metadata={"help": help, **cli})


@dataclass(frozen=True)
class PretrainConfig(JsonConfig):
    data_dir: str
    out_dir: str = setting("", "parent folder for run folders (default: the user data dir)", flag="--out",
                           metavar="DIR")
    method: str = setting("auto", "self-supervised method", choices=METHODS)
    backbone: str = setting("auto", "network to pretrain", choices=BACKBONES)
    image_size: int = setting(0, "training resolution in px; 0 = the data's native size, capped", metavar="PX")
    epochs: int = setting(10, "passes over the images", metavar="N")
    minutes: Optional[float] = setting(None, "a time budget instead of epochs", metavar="M", overrides="epochs")
    batch_size: int = setting(0, "global batch size; 0 = auto", metavar="N")
    lr: float = setting(0.0, "peak learning rate; 0 = the method's default, scaled by batch size")
    weight_decay: float = setting(1e-4, "weight decay of the optimiser", metavar="WD")
    warmup_fraction: float = setting(0.05, "share of the steps that warm the learning rate up, in [0, 1)",
                                     metavar="FRACTION")
    device: str = setting("auto", f"one of {', '.join(DEVICES)} or cuda:N")
    precision: str = setting("auto", "numeric precision of training", choices=PRECISIONS)
    seed: int = setting(0, f"random seed, 0 to {MAX_SEED}", metavar="N")
    checkpoint_every: int = setting(200, "steps between resumable checkpoints", metavar="STEPS")
    pretrained: bool = setting(False, "start from torchvision ImageNet weights if available")
    compile: bool = setting(False, "torch.compile the model (GPU)")
    cache_dir: str = setting("", "where decoded images are cached (default: the user cache dir)", metavar="DIR")
    embed_dim: int = setting(0, "projection output size; 0 = the method's default", metavar="N")
    stem: str = setting("auto", "small: stride-1 stem for images ≤ 64 px; auto decides by size", choices=STEMS)
    map_every: int = setting(-1, "epochs between live embedding maps; 0 = never, -1 = auto (on a GPU only)",
                             metavar="EPOCHS")
    probe_labels: str = setting("", "a path,label CSV: every few epochs, report what a quick fine-tune on these "
                                "labels reaches (the gain probe)", metavar="LABELS.csv")

    def validate(self) -> "PretrainConfig":
        """Raise :class:`ConfigError` with a one-line reason for the first bad field."""
        if self.method not in METHODS:
            raise ConfigError(f"unknown method '{self.method}'; choose one of {', '.join(METHODS)}")
        if self.backbone not in BACKBONES:
            raise ConfigError(f"unknown backbone '{self.backbone}'; choose one of {', '.join(BACKBONES)}")
        check_device(self.device)
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision '{self.precision}'; choose one of {', '.join(PRECISIONS)}")
        if self.stem not in STEMS:
            raise ConfigError(f"unknown stem '{self.stem}'; choose one of {', '.join(STEMS)}")
        if self.image_size != 0 and not 16 <= self.image_size <= 1024:
            raise ConfigError(f"image size must be between 16 and 1024 pixels, not {self.image_size}")
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, not {self.epochs}")
        if self.minutes is not None and not 0 < self.minutes < math.inf:
            raise ConfigError(f"minutes must be positive, not {self.minutes}")
        if self.batch_size < 0 or self.batch_size == 1:
            raise ConfigError(f"batch size must be at least 2, not {self.batch_size}")
        if not 0 <= self.lr < math.inf:
            raise ConfigError(f"learning rate must be positive, not {self.lr}")
        check_seed(self.seed)
        if self.checkpoint_every < 1:
            raise ConfigError(f"checkpoint interval must be at least 1 step, not {self.checkpoint_every}")
        if self.map_every < -1:
            raise ConfigError(f"the live map interval must be -1 (automatic), 0 (off) or a number of epochs, "
                              f"not {self.map_every}")
        if not 0 <= self.warmup_fraction < 1:
            raise ConfigError(f"warmup fraction must be in [0, 1), not {self.warmup_fraction}")
        return self

