"""The torchrun command line runs the same ``pretrain`` arguments (their round trip: test_flags.py)."""
import shlex

from engine.cli.commands import torchrun_command
from engine.core.config import PretrainConfig


def test_torchrun_command_single_and_multi_node():
    cfg = PretrainConfig(data_dir="/data/my photos", batch_size=512)
    single = shlex.split(torchrun_command(cfg, nproc_per_node=4))
    assert single[:3] == ["torchrun", "--nproc_per_node", "4"]
    assert single[3:] == ["-m", "engine.cli", "pretrain", "/data/my photos", "--batch-size", "512"]
    multi = torchrun_command(cfg, nproc_per_node=8, nnodes=2)
    assert "--nnodes 2" in multi and "--rdzv_endpoint $MASTER_ADDR:29500" in multi
