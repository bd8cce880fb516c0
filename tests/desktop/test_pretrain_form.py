"""The torchrun command on the Pretrain form carries every setting the form shows, Advanced included."""
from __future__ import annotations

import dataclasses
import shlex

import pytest
from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit

from desktop.pretrain.form import PretrainForm
from engine.cli.flags import FLAGS
from engine.cli.program import build_parser, pretrain_config
from engine.core.config import PretrainConfig
from engine.core.device import DeviceInfo

DATA_DIR = "/data/my photos"
SETTINGS = {   # form widget -> a value that is not the default
    "method": "dino", "backbone": "resnet34", "image_size": 96, "batch_size": 48, "device": "cuda:1",
    "lr": 0.0125, "weight_decay": 0.0005, "seed": 42, "checkpoint_every": 50, "precision": "bf16",
    "map_every": 2, "pretrained": True, "compile": True, "out_dir": "/shared/my runs",
}
LENGTHS = {"epochs": {"by_epochs": True, "epochs": 7}, "time budget": {"by_minutes": True, "minutes": 2.5}}
FIELDS = {field.name for field in dataclasses.fields(PretrainConfig)}
INPUTS = (QComboBox, QAbstractSpinBox, QLineEdit, QAbstractButton)


def settings_inputs(form: PretrainForm) -> set[str]:
    """The form's attributes that hold a setting's input widget (not the torchrun box's own inputs)."""
    return {name for name, widget in vars(form).items()
            if isinstance(widget, INPUTS) and widget is not form.advanced_toggle}


def set_value(widget, value) -> None:
    if isinstance(widget, QComboBox):
        assert widget.findData(value) >= 0, value
        widget.setCurrentIndex(widget.findData(value))
    elif isinstance(widget, QAbstractButton):
        widget.setChecked(value)
    elif isinstance(widget, QLineEdit):
        widget.setText(value)
    else:
        widget.setValue(value)


def command_config(form: PretrainForm) -> PretrainConfig:
    """The config the CLI would train on when given the torchrun command the form shows."""
    argv = shlex.split(form.torchrun.text())
    assert argv[:5] == ["torchrun", "--nproc_per_node", "1", "-m", "engine.cli"]
    return pretrain_config(build_parser().parse_args(argv[5:]))


@pytest.fixture(params=LENGTHS, ids=list(LENGTHS))
def filled_form(request, qtbot) -> tuple[PretrainForm, set[str], list]:
    """A form with every setting changed from its default, one at a time; the config fields those
    settings are; and, after each change, (the setting, the form's config, the command's config)."""
    form = PretrainForm()
    qtbot.addWidget(form)
    form.set_devices([DeviceInfo("cuda:0", "cuda", "GPU 0"), DeviceInfo("cuda:1", "cuda", "GPU 1"),
                      DeviceInfo("cpu", "cpu", "CPU")])
    form.set_data_dir(DATA_DIR)
    settings = {**SETTINGS, **LENGTHS[request.param]}
    assert settings_inputs(form) == set(SETTINGS).union(*LENGTHS.values()), "give the new setting a value here"
    steps = []
    for name, value in settings.items():
        set_value(getattr(form, name), value)
        steps.append((name, form.config(DATA_DIR), command_config(form)))
    return form, set(settings) & FIELDS, steps


def test_every_setting_reaches_the_config(filled_form):
    form, shown, _ = filled_form
    default = PretrainConfig(data_dir=DATA_DIR)
    cfg = form.config(DATA_DIR)
    assert {name for name in FIELDS if getattr(cfg, name) != getattr(default, name)} == shown


def test_the_torchrun_command_parses_back_to_the_forms_config_after_every_change(filled_form):
    form, _, steps = filled_form
    for name, shown, from_command in steps:
        assert from_command == shown, f"after setting {name}"
    assert command_config(form) == form.config(DATA_DIR)


def test_cli_help_lists_a_flag_for_every_setting_the_form_shows(filled_form, capsys):
    _, shown, _ = filled_form
    with pytest.raises(SystemExit):
        build_parser().parse_args(["pretrain", "--help"])
    help_text = capsys.readouterr().out
    flags = {flag.field: flag.flag for flag in FLAGS}
    assert shown <= set(flags)
    assert all(f" {flags[name]} " in help_text for name in shown)


def test_every_method_says_in_a_sentence_what_it_does(qtbot):
    from PySide6.QtCore import Qt

    form = PretrainForm()
    qtbot.addWidget(form)
    for row in range(form.method.count()):
        name, help_text = form.method.itemText(row), form.method.itemData(row, Qt.ItemDataRole.ToolTipRole)
        assert help_text and (row == 0 or help_text.startswith(f"{name}: "))
