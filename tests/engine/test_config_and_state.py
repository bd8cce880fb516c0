"""Config validation and JSON round trip; loop bookkeeping; the schedule."""
import json
from pathlib import Path

import pytest
import torch

from engine.core.config import ConfigError, PretrainConfig
from engine.pretrain import auto
from engine.pretrain.schedule import WarmupCosine
from engine.pretrain.state import LoopState, epoch_permutation


def test_config_json_round_trip(tmp_path: Path):
    cfg = PretrainConfig(data_dir="/data", method="byol", minutes=2.5, seed=7)
    cfg.save(tmp_path / "config.json")
    assert PretrainConfig.load(tmp_path / "config.json") == cfg


@pytest.mark.parametrize("change, words", [
    ({"method": "mae"}, "unknown method"),
    ({"backbone": "vgg"}, "unknown backbone"),
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 1}, "batch size"),
    ({"image_size": 4}, "image size"),
    ({"minutes": -1.0}, "minutes"),
    ({"device": "tpu"}, "unknown device"),
    ({"map_every": -2}, "live map interval"),
])
def test_bad_config_values_are_named(change, words):
    with pytest.raises(ConfigError, match=words):
        PretrainConfig(data_dir="/data", **change).validate()


def test_unknown_keys_in_a_config_file_are_rejected():
    with pytest.raises(ConfigError, match="unknown config keys: colour"):
        PretrainConfig.from_dict({"data_dir": "/x", "colour": "red"})


def test_loop_state_walks_epochs_and_halving_keeps_the_data_position():
    state = LoopState.fresh(PretrainConfig(data_dir="/x", epochs=2, batch_size=4), image_count=10)
    assert (state.steps_per_epoch, state.total_steps) == (2, 4)
    state = state.advanced().advanced()
    assert (state.step, state.epoch, state.position) == (2, 1, 0)
    state = state.advanced()
    halved = state.with_batch_size(2, image_count=10)
    assert halved.position * halved.batch_size == state.position * state.batch_size
    assert halved.total_steps == state.step + 2 * (state.total_steps - state.step)


def test_epoch_order_depends_on_seed_and_epoch_only():
    torch.testing.assert_close(epoch_permutation(3, 1, 50), epoch_permutation(3, 1, 50))
    assert not torch.equal(epoch_permutation(3, 1, 50), epoch_permutation(3, 2, 50))
    assert sorted(epoch_permutation(0, 0, 50).tolist()) == list(range(50))


def test_warmup_then_cosine_to_floor():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = WarmupCosine(optimizer, peak_lr=1.0, total_steps=100, warmup_fraction=0.1, floor=0.01)
    assert schedule.lr_at(0) == pytest.approx(0.1)
    assert schedule.lr_at(9) == pytest.approx(1.0)
    assert schedule.lr_at(100) == pytest.approx(0.01)
    assert schedule.apply(50) == optimizer.param_groups[0]["lr"]
    assert schedule.lr_at(30) > schedule.lr_at(60) > schedule.lr_at(90)


def test_auto_picks_small_cnn_at_native_size_on_cpu():
    cfg, reasons = auto.resolve(PretrainConfig(data_dir="/x"), image_count=1500, median_side=28,
                                device=torch.device("cpu"))
    assert (cfg.backbone, cfg.image_size, cfg.batch_size, cfg.method) == ("smallcnn", 28, 128, "simclr")
    assert cfg.stem == "standard" and cfg.map_every == 0
    assert set(reasons) == {"backbone", "image_size", "batch_size", "method", "stem", "map_every"}


def test_auto_uses_the_small_image_stem_on_a_gpu():
    cfg, _ = auto.resolve(PretrainConfig(data_dir="/x", precision="bf16"), 1500, 32, torch.device("cuda"), 80.0)
    assert (cfg.backbone, cfg.stem, cfg.image_size) == ("resnet18", "small", 32)
    assert cfg.map_every == auto.LIVE_MAP_EVERY


def test_auto_caps_resolution_on_cpu_and_uses_byol_for_tiny_sets():
    cfg, _ = auto.resolve(PretrainConfig(data_dir="/x"), image_count=40, median_side=500,
                          device=torch.device("cpu"))
    assert cfg.image_size == auto.CPU_MAX_SIZE
    assert cfg.batch_size == 20 and cfg.method == "byol"


def test_auto_keeps_explicit_choices():
    explicit = PretrainConfig(data_dir="/x", method="vicreg", backbone="resnet18", image_size=48, batch_size=64,
                              stem="small", map_every=3)
    cfg, reasons = auto.resolve(explicit, 1000, 28, torch.device("cpu"))
    assert (cfg.method, cfg.backbone, cfg.image_size, cfg.batch_size, cfg.stem) == ("vicreg", "resnet18", 48, 64, "small")
    assert cfg.map_every == 3
    assert reasons == {}


def test_cpu_precision_is_bf16_only_for_the_small_cnn_and_never_for_dino(monkeypatch):
    from engine.core import device as device_module

    monkeypatch.setattr(device_module, "cpu_has_fast_bf16", lambda: True)
    cpu = torch.device("cpu")
    assert device_module.choose_precision("auto", cpu, "smallcnn", "simclr") == "bf16"
    assert device_module.choose_precision("auto", cpu, "resnet18", "simclr") == "fp32"
    assert device_module.choose_precision("auto", cpu, "smallcnn", "dino") == "fp32"
    cfg, _ = auto.resolve(PretrainConfig(data_dir="/x", method="dino"), 1500, 28, cpu)
    assert cfg.precision == "fp32"


@pytest.mark.parametrize("change, words", [
    ({"epochs": "ten"}, "config key 'epochs' must be a whole number, not \"ten\""),
    ({"batch_size": None}, "config key 'batch_size' must be a whole number, not null"),
    ({"minutes": "5"}, "config key 'minutes' must be a number or null, not \"5\""),
    ({"compile": 1}, "config key 'compile' must be true or false, not 1"),
    ({"lr": True}, "config key 'lr' must be a number, not true"),
])
def test_a_saved_config_with_a_value_of_the_wrong_type_names_the_file_and_the_key(tmp_path, change, words):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**PretrainConfig(data_dir="/data").to_dict(), **change}))
    with pytest.raises(ConfigError) as raised:
        PretrainConfig.load(path)
    assert str(raised.value) == f"{path} is not a valid config: {words}"


@pytest.mark.parametrize("text, words", [
    ("[1, 2]", "a config must be a JSON object, not list"),
    ('{"epochs": 3}', "missing config keys: data_dir"),
    ("{not json", "Expecting property name"),
])
def test_a_config_file_that_is_not_a_config_names_the_file(tmp_path, text, words):
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"^{path} is not a valid config: .*{words}"):
        PretrainConfig.load(path)
    with pytest.raises(ConfigError, match="cannot read .*missing.json"):
        PretrainConfig.load(tmp_path / "missing.json")


@pytest.mark.parametrize("changes, words", [
    ({"minutes": 2.0}, "a 2-minute budget"),
    ({"minutes": 30.0}, "a 30-minute budget"),
    ({"epochs": 1000}, "1000 epochs, about"),
])
def test_auto_keeps_the_small_cnn_on_a_cpu_at_every_budget_and_says_for_which(changes, words):
    cfg, reasons = auto.resolve(PretrainConfig(data_dir="/x", **changes), 5000, 28, torch.device("cpu"))
    assert (cfg.backbone, cfg.stem) == ("smallcnn", "standard")
    assert words in reasons["backbone"] and "budget_choices" in reasons["backbone"]


def test_epochs_are_planned_at_the_small_cnns_speed_scaled_by_threads_and_pixels(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    cfg = PretrainConfig(data_dir="/x", epochs=54)
    minutes, how = auto.planned_minutes(cfg, 5000, 28)
    assert minutes == pytest.approx(54 * 5000 / auto.SMALL_CNN_IMAGES_PER_S / 60)
    assert auto.planned_minutes(cfg, 5000, 56)[0] == pytest.approx(4 * minutes)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    assert auto.planned_minutes(cfg, 5000, 28)[0] == pytest.approx(minutes / 4)
    assert auto.planned_minutes(cfg.replace(minutes=7.5), 5000, 28) == (7.5, "a 7.5-minute budget")


def test_hours_on_a_cpu_get_advice_and_an_hour_or_a_gpu_none():
    cpu = torch.device("cpu")
    long, _ = auto.resolve(PretrainConfig(data_dir="/x", minutes=600), 5000, 28, cpu)
    advice = auto.budget_advice(long, 5000, cpu)
    assert advice.startswith("A 600-minute budget on the CPU") and "resume" in advice
    hour, _ = auto.resolve(PretrainConfig(data_dir="/x", minutes=60), 5000, 28, cpu)
    assert auto.budget_advice(hour, 5000, cpu) is None
    gpu, _ = auto.resolve(PretrainConfig(data_dir="/x", minutes=600, precision="bf16"), 5000, 28,
                          torch.device("cuda"), 80.0)
    assert auto.budget_advice(gpu, 5000, torch.device("cuda")) is None
