"""The ``pretrain`` command's flags, derived from the fields of :class:`~engine.core.config.PretrainConfig`.

The dataclass is the only list. Each field with a default becomes a flag: ``--snake-case`` of its name
unless its metadata names another, typed by its annotation (``Optional[float]`` → float), with the
``help``, ``metavar`` and ``choices`` its metadata gives; booleans become switches. A field whose
metadata says it ``overrides`` another shares a mutually exclusive group with it, and drops it from the
arguments when set. The field without a default (``data_dir``) is the command's positional folder.
Torch-free, so the GUI can build command lines without loading torch.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass
from typing import Mapping, Optional

from engine.core.config import PretrainConfig


@dataclass(frozen=True)
class Flag:
    """One config field on the command line."""

    field: str
    flag: str            # "--batch-size"
    type: type           # int, float or str; bool is a switch
    default: object
    help: str
    metavar: Optional[str]
    choices: Optional[tuple]
    overrides: Optional[str]   # the field this one replaces when set ("minutes" overrides "epochs")

    def argparse_options(self) -> dict:
        if self.type is bool:
            return {"dest": self.field, "action": "store_true", "help": self.help}
        shown = f" (default: {self.default})" if self.default not in (None, "") else ""
        return {"dest": self.field, "type": self.type, "default": self.default, "metavar": self.metavar,
                "choices": self.choices, "help": self.help + shown}


def _value_type(annotation) -> type:
    """``Optional[float]`` → float; a plain type stays as it is."""
    types = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return types[0] if types else annotation


def _flag(field: dataclasses.Field, annotation, metadata: Mapping) -> Flag:
    if "help" not in metadata:
        raise TypeError(f"PretrainConfig.{field.name} has no help text: declare it with engine.core.config.setting")
    return Flag(field=field.name, flag=metadata.get("flag", "--" + field.name.replace("_", "-")),
                type=_value_type(annotation), default=field.default, help=metadata["help"],
                metavar=metadata.get("metavar"), choices=metadata.get("choices"), overrides=metadata.get("overrides"))


_HINTS = typing.get_type_hints(PretrainConfig)
FLAGS = tuple(_flag(field, _HINTS[field.name], field.metadata) for field in dataclasses.fields(PretrainConfig)
              if field.default is not dataclasses.MISSING)
_OVERRIDDEN = {flag.overrides for flag in FLAGS if flag.overrides}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add a flag for every field of :class:`PretrainConfig` but ``data_dir`` to ``parser``."""
    exclusive: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for flag in FLAGS:
        pair = flag.overrides or flag.field
        if pair in _OVERRIDDEN and pair not in exclusive:
            exclusive[pair] = parser.add_mutually_exclusive_group()
        exclusive.get(pair, parser).add_argument(flag.flag, **flag.argparse_options())


def config_from_args(args: argparse.Namespace, data_dir: str) -> PretrainConfig:
    """The config that parsed flags describe, for the images in ``data_dir`` (not yet validated)."""
    return PretrainConfig(data_dir=data_dir, **{flag.field: getattr(args, flag.field) for flag in FLAGS})


def config_arguments(cfg: PretrainConfig) -> list[str]:
    """``--flag value`` (or ``--switch``) for every field of ``cfg`` that is not at its default.

    A field that another one overrides is left out while that one is set: ``--epochs`` goes with
    ``--minutes``, since a time budget decides the length of the run.
    """
    overridden = {flag.overrides for flag in FLAGS if flag.overrides and getattr(cfg, flag.field) != flag.default}
    args: list[str] = []
    for flag in FLAGS:
        value = getattr(cfg, flag.field)
        if value == flag.default or flag.field in overridden:
            continue
        args += [flag.flag] if flag.type is bool else [flag.flag, str(value)]
    return args
