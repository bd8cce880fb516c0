"""The command lines that reproduce a pretraining config: plain CLI and torchrun.

Torch-free, so the GUI can show them without loading torch.
"""
from __future__ import annotations

import shlex

from engine.core.config import PretrainConfig

_FLAGS = {   # config field -> CLI flag, for the fields that differ from the default
    "method": "--method", "backbone": "--backbone", "epochs": "--epochs", "minutes": "--minutes",
    "batch_size": "--batch-size", "image_size": "--image-size", "lr": "--lr", "device": "--device",
    "precision": "--precision", "seed": "--seed", "checkpoint_every": "--checkpoint-every",
    "stem": "--stem", "out_dir": "--out", "cache_dir": "--cache-dir",
}
_SWITCHES = {"pretrained": "--pretrained", "compile": "--compile"}


def pretrain_arguments(cfg: PretrainConfig) -> list[str]:
    """``pretrain DIR --flag value ...`` for every field that is not at its default."""
    default = PretrainConfig(data_dir=cfg.data_dir)
    args = ["pretrain", cfg.data_dir]
    for field, flag in _FLAGS.items():
        value = getattr(cfg, field)
        if value != getattr(default, field) and not (field == "epochs" and cfg.minutes):
            args += [flag, str(value)]
    args += [flag for field, flag in _SWITCHES.items() if getattr(cfg, field)]
    return args


def torchrun_command(cfg: PretrainConfig, nproc_per_node: int = 1, nnodes: int = 1) -> str:
    """A shell command that runs ``cfg`` under torchrun; multi-node adds the rendezvous flags."""
    launcher = ["torchrun", "--nproc_per_node", str(nproc_per_node)]
    if nnodes > 1:
        launcher += ["--nnodes", str(nnodes), "--rdzv_backend", "c10d",
                     "--rdzv_endpoint", "$MASTER_ADDR:29500", "--rdzv_id", "pretext"]
    command = shlex.join(launcher + ["-m", "engine.cli"] + pretrain_arguments(cfg))
    return command.replace("'$MASTER_ADDR:29500'", "$MASTER_ADDR:29500")   # let the shell expand it
