"""The ``pretrain`` flags come from PretrainConfig's fields: every field has one, and every one round-trips."""
import dataclasses

import pytest

from engine.cli.commands import pretrain_arguments
from engine.cli.flags import FLAGS
from engine.cli.program import build_parser, pretrain_config
from engine.core.config import MAX_SEED, PretrainConfig

DEFAULT = PretrainConfig(data_dir="/data/my photos")
NOT_DEFAULT = {   # a valid value other than the default, for every field but data_dir
    "out_dir": "/shared/my runs", "method": "dino", "backbone": "mobilenet_v3_large", "image_size": 96,
    "epochs": 7, "minutes": 2.5, "batch_size": 48, "lr": 0.0125, "weight_decay": 0.0005, "warmup_fraction": 0.1,
    "device": "cuda:1", "precision": "bf16", "seed": MAX_SEED, "checkpoint_every": 50, "pretrained": True,
    "compile": True, "cache_dir": "/tmp/my cache", "embed_dim": 256, "stem": "small", "map_every": 0,
    "probe_labels": "/data/my labels.csv",
}


def parse(argv: list[str]) -> PretrainConfig:
    """What the real CLI would train on for ``argv`` (``pretrain DIR ...``)."""
    return pretrain_config(build_parser().parse_args(argv))


def every_field_but(name: str) -> PretrainConfig:
    return DEFAULT.replace(**{key: value for key, value in NOT_DEFAULT.items() if key != name})


def test_the_table_gives_every_field_a_value_other_than_its_default():
    fields = {field.name for field in dataclasses.fields(PretrainConfig)} - {"data_dir"}
    assert set(NOT_DEFAULT) == fields, "give the new field a value here: it needs a flag that round-trips"
    assert all(getattr(DEFAULT, name) != value for name, value in NOT_DEFAULT.items())


@pytest.mark.parametrize("unset", ["minutes", "epochs"])   # --minutes and --epochs exclude each other
def test_every_field_round_trips_through_the_cli_parser(unset):
    cfg = every_field_but(unset)
    assert parse(pretrain_arguments(cfg)) == cfg


def test_a_time_budget_leaves_out_the_epochs_it_replaces():
    args = pretrain_arguments(DEFAULT.replace(epochs=7, minutes=2.5))
    assert args == ["pretrain", "/data/my photos", "--minutes", "2.5"]


def test_a_default_config_needs_no_flags():
    assert pretrain_arguments(DEFAULT) == ["pretrain", "/data/my photos"]


def test_the_flag_names_stay_as_they_are():
    argv = ["pretrain", "/data/my photos", "--out", "/r", "--method", "byol", "--backbone", "resnet18",
            "--image-size", "64", "--minutes", "3", "--batch-size", "32", "--lr", "0.1", "--weight-decay", "0.01",
            "--warmup-fraction", "0.2", "--device", "cpu", "--precision", "fp32", "--seed", "5",
            "--checkpoint-every", "9", "--pretrained", "--compile", "--cache-dir", "/c", "--embed-dim", "64",
            "--stem", "standard", "--map-every", "4"]
    assert parse(argv) == DEFAULT.replace(
        out_dir="/r", method="byol", backbone="resnet18", image_size=64, minutes=3.0, batch_size=32, lr=0.1,
        weight_decay=0.01, warmup_fraction=0.2, device="cpu", precision="fp32", seed=5, checkpoint_every=9,
        pretrained=True, compile=True, cache_dir="/c", embed_dim=64, stem="standard", map_every=4)


def test_help_lists_every_field_with_its_explanation(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["pretrain", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())   # unwrapped
    assert {flag.field for flag in FLAGS} == {field.name for field in dataclasses.fields(PretrainConfig)} - {"data_dir"}
    for flag in FLAGS:
        assert f" {flag.flag} " in text and " ".join(flag.help.split()) in text
    assert "--epochs N | --minutes M" in text
    assert "--batch-size N global batch size; 0 = auto (default: 0)" in text
    assert "--weight-decay WD weight decay of the optimiser (default: 0.0001)" in text
