"""The CLI and torchrun command lines rebuild the same config."""
import shlex

import pytest

from engine.cli.commands import pretrain_arguments, torchrun_command
from engine.cli.program import build_parser
from engine.core.config import PretrainConfig


def config_from_arguments(args: list[str]) -> PretrainConfig:
    parsed = build_parser().parse_args(args)
    return PretrainConfig(
        data_dir=str(parsed.folder), out_dir=str(parsed.out or ""), method=parsed.method, backbone=parsed.backbone,
        image_size=parsed.image_size, epochs=parsed.epochs, minutes=parsed.minutes, batch_size=parsed.batch_size,
        lr=parsed.lr, device=parsed.device, precision=parsed.precision, seed=parsed.seed,
        checkpoint_every=parsed.checkpoint_every, pretrained=parsed.pretrained, compile=parsed.compile,
        cache_dir=str(parsed.cache_dir or ""), stem=parsed.stem)


@pytest.mark.parametrize("cfg", [
    PretrainConfig(data_dir="/data/my photos"),
    PretrainConfig(data_dir="/d", method="byol", backbone="resnet50", epochs=30, batch_size=1024, image_size=96,
                   lr=0.5, device="cuda", precision="bf16", seed=3, out_dir="/runs", pretrained=True, compile=True),
    PretrainConfig(data_dir="/d", minutes=12.5, stem="small"),
])
def test_pretrain_arguments_round_trip_through_the_parser(cfg):
    assert config_from_arguments(pretrain_arguments(cfg)) == cfg


def test_torchrun_command_single_and_multi_node():
    cfg = PretrainConfig(data_dir="/data/my photos", batch_size=512)
    single = shlex.split(torchrun_command(cfg, nproc_per_node=4))
    assert single[:3] == ["torchrun", "--nproc_per_node", "4"]
    assert single[3:] == ["-m", "engine.cli", "pretrain", "/data/my photos", "--batch-size", "512"]
    multi = torchrun_command(cfg, nproc_per_node=8, nnodes=2)
    assert "--nnodes 2" in multi and "--rdzv_endpoint $MASTER_ADDR:29500" in multi
