"""Frozen, JSON-serialisable configurations for the engine's jobs.

A value of ``"auto"`` (or ``0`` for sizes) means "let :mod:`engine.pretrain.auto` decide";
the run folder stores the resolved config, so a run can be repeated exactly.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from engine.core.atomic import write_json

METHODS = ("auto", "simclr", "byol", "vicreg", "dino")
BACKBONES = (
    "auto", "smallcnn", "resnet18", "resnet34", "resnet50",
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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
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
        return cls.from_dict(json.loads(Path(path).read_text()))


@dataclass(frozen=True)
class PretrainConfig(JsonConfig):
    data_dir: str
    out_dir: str = ""            # parent folder of run folders; "" = the user data dir
    method: str = "auto"
    backbone: str = "auto"
    image_size: int = 0          # 0 = native size of the data, capped (see engine.pretrain.auto)
    epochs: int = 10
    minutes: Optional[float] = None   # a time budget instead of epochs
    batch_size: int = 0          # global batch; 0 = auto
    lr: float = 0.0              # 0 = the method's default, scaled by batch size
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    checkpoint_every: int = 200  # steps
    pretrained: bool = False     # start from torchvision ImageNet weights when available
    compile: bool = False        # torch.compile the backbone (CUDA)
    cache_dir: str = ""          # "" = the user cache dir
    embed_dim: int = 0           # projection output; 0 = the method's default
    stem: str = "auto"           # "small": stride-1 stem for ≤ 64 px images; "auto" decides by size
    map_every: int = -1          # epochs between live embedding maps; 0 = never; -1 = auto (see engine.pretrain.auto)

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

