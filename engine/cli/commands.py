"""The command lines that reproduce a pretraining config: plain CLI and torchrun.

Torch-free, so the GUI can show them without loading torch.
"""
from __future__ import annotations

import shlex

from engine.cli.flags import config_arguments
from engine.core.config import PretrainConfig


def pretrain_arguments(cfg: PretrainConfig) -> list[str]:
    """``pretrain DIR --flag value ...`` for every field that is not at its default."""
    return ["pretrain", cfg.data_dir, *config_arguments(cfg)]


def torchrun_command(cfg: PretrainConfig, nproc_per_node: int = 1, nnodes: int = 1) -> str:
    """A shell command that runs ``cfg`` under torchrun; multi-node adds the rendezvous flags."""
    launcher = ["torchrun", "--nproc_per_node", str(nproc_per_node)]
    if nnodes > 1:
        launcher += ["--nnodes", str(nnodes), "--rdzv_backend", "c10d",
                     "--rdzv_endpoint", "$MASTER_ADDR:29500", "--rdzv_id", "pretext"]
    command = shlex.join(launcher + ["-m", "engine.cli"] + pretrain_arguments(cfg))
    return command.replace("'$MASTER_ADDR:29500'", "$MASTER_ADDR:29500")   # let the shell expand it
