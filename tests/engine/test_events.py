"""The event types: a stage enum, and typed payloads that are frozen, picklable dataclasses."""
from __future__ import annotations

import dataclasses
import io
import pickle
import typing
from enum import Enum

import pytest

from engine.cli.console import ConsoleProgress
from engine.core import events
from engine.core.events import (
    CacheSummary, EpochEnded, EpochMetrics, ExportProgress, ExportStep, Finished, FinetuneMetrics, Payload,
    PredictProgress, PretrainMetrics, PretrainStart, Progress, Stage, Started,
)

PAYLOADS = sorted(Payload.__subclasses__(), key=lambda cls: cls.__name__)
PLAIN = {int: 3, float: 0.5, str: "text", bool: True}


def sample(hint):
    """A value of the type ``hint`` (as typing.get_type_hints gives it)."""
    if hint in PLAIN:
        return PLAIN[hint]
    if isinstance(hint, type) and issubclass(hint, Enum):
        return list(hint)[-1]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:                      # Optional[X]
        return sample(next(arg for arg in args if arg is not type(None)))
    if origin is tuple:
        return (sample(args[0]),)
    if origin is dict:
        return {sample(args[0]): sample(args[1])}
    raise AssertionError(f"no sample for {hint!r}: give payload fields plain, typed values")


def filled(cls):
    return cls(**{name: sample(hint) for name, hint in typing.get_type_hints(cls).items()})


def test_every_stage_the_engine_emits_has_a_member_whose_str_is_its_value():
    assert len(PAYLOADS) >= 15
    assert {str(stage) for stage in Stage} == {stage.value for stage in Stage}
    assert Stage("pretrain") is Stage.PRETRAIN and f"{Stage.EXPORT}" == "export"
    assert [str(step) for step in ExportStep] == ["load", "convert", "verify", "quantize", "write"]


@pytest.mark.parametrize("cls", PAYLOADS, ids=lambda cls: cls.__name__)
def test_each_payload_is_a_frozen_dataclass_of_typed_fields_that_pickles(cls):
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    hints = typing.get_type_hints(cls)
    assert list(hints) == [f.name for f in dataclasses.fields(cls)]
    assert all(hint is not typing.Any and hint not in (dict, list, tuple, object) for hint in hints.values())
    payload = filled(cls)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(payload, dataclasses.fields(cls)[0].name, None)
    event = Progress(Stage.SCAN, 1, 2, payload)
    assert pickle.loads(pickle.dumps(event)) == event
    assert payload.as_dict() == {name: getattr(payload, name) for name in hints}


def test_the_generic_events_name_their_stage_and_payload_types():
    for event in (Started, Progress, Finished):
        hints = typing.get_type_hints(event, vars(events))
        assert hints["stage"] is Stage
        assert Payload in typing.get_args(hints.get("info", hints.get("metrics")))
    assert typing.get_type_hints(EpochEnded, vars(events))["metrics"] is EpochMetrics


def test_as_dict_leaves_out_what_a_step_did_not_measure():
    assert FinetuneMetrics(loss=0.5, accuracy=1.0).as_dict() == {"loss": 0.5, "accuracy": 1.0}
    assert FinetuneMetrics(loss=0.5, accuracy=1.0, lr=0.1).as_dict() == {"loss": 0.5, "accuracy": 1.0, "lr": 0.1}


def pretrain_start(**changes) -> PretrainStart:
    return dataclasses.replace(filled(PretrainStart), **changes)


def test_the_console_reads_every_payload_it_prints():
    stream = io.StringIO()
    console = ConsoleProgress(stream=stream)
    try:
        console(Started(Stage.PRETRAIN, 10, pretrain_start(method="byol", device_label="the CPU",
                                                           reasons={"batch_size": "a CPU default"})))
        console(Finished(Stage.CACHE, "completed", CacheSummary(reused=True, images=4, problems=0, on_disk=False)))
        console(Progress(Stage.PRETRAIN, 10, 10, dataclasses.replace(filled(PretrainMetrics), loss=0.25)))
        console(EpochEnded(0, 10, EpochMetrics(loss=0.125, images_per_s=9.0)))
        console(Progress(Stage.FINETUNE, 4, 4, FinetuneMetrics(loss=0.75, accuracy=0.5)))
        console(Progress(Stage.EMBED, 8, 8))
        console(Progress(Stage.PREDICT, 144, 144, PredictProgress(images_per_s=320.0)))
        console(Progress(Stage.EXPORT, 5, 5, ExportProgress(current=None)))
    finally:
        console.close()
    text = stream.getvalue()
    assert "training byol / " in text and "on the CPU" in text and "batch_size: a CPU default" in text
    assert "decoded images reused from the cache" in text
    assert "step 10/10  loss 0.2500" in text and "epoch 1 done at step 10: loss 0.1250" in text
    assert "fine-tune step 4/4  loss 0.7500  accuracy 50%" in text and "embed: 8/8" in text
    assert "predict: 144/144 images  320 img/s" in text and "export: 5/5  done" in text
