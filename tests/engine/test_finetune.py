"""Few-label fine-tuning end to end on tiny pattern images: each mode, validation, bad input, cancel."""
from pathlib import Path

import pytest
import torch

from engine.core.events import CancelToken, Finished, Progress, Stage, Started, Warning
from engine.finetune.config import FinetuneConfig, resolve_mode
from engine.finetune.run import FINAL_SHARE, _budget, check_labels, fold_steps, read_predictions, run_finetune
from engine.finetune.validation import choose_folds, likely_range, likely_range_text
from engine.models.model_io import load_backbone, load_classifier
from engine.store.runs import FinetuneRun, backbone_file, classifier_file
from tests.engine.fewlabel_data import CLASSES, pick, pretrained  # noqa: F401 - the fixture


def config(run_dir: Path, tmp_path: Path, **changes) -> FinetuneConfig:
    return FinetuneConfig(pretrain_run=str(run_dir), out_dir=str(tmp_path / "ft"), device="cpu",
                          cache_dir=str(run_dir.parent.parent / "cache"), **changes)


def accuracy(run_dir: str, truth: dict, labeled: dict) -> float:
    rows = [p for p in read_predictions(run_dir) if p.path not in labeled]
    return sum(p.prediction == truth[p.path] for p in rows) / len(rows)


@pytest.mark.parametrize("mode, per_class, extra", [
    ("linear", 2, {}), ("semi", 2, {}), ("full", 5, {"steps": 6}),
])
def test_each_mode_beats_chance_and_writes_a_complete_run_folder(pretrained, tmp_path, mode, per_class, extra):
    run_dir, _, truth = pretrained
    labels = pick(truth, per_class)
    events = []
    result = run_finetune(config(run_dir, tmp_path, mode=mode, **extra), labels, on_event=events.append)
    assert (result.status, result.mode, result.classes) == ("completed", mode, tuple(sorted(CLASSES)))
    folder = Path(result.run_dir)
    assert {p.name for p in folder.iterdir()} == {
        "config.json", "labels.csv", "metrics.jsonl", "classifier.pt", "predictions.csv"}
    assert accuracy(result.run_dir, truth, labels) > 0.6          # chance is 1/3
    progress = [e for e in events if isinstance(e, Progress) and e.stage is Stage.FINETUNE]
    assert progress and progress[-1].metrics.loss >= 0 and 0 <= progress[-1].metrics.accuracy <= 1
    started, finished = [e for e in events if isinstance(e, (Started, Finished)) and e.stage is Stage.FINETUNE]
    assert isinstance(started, Started) and isinstance(finished, Finished)
    assert (started.info.mode, started.info.labels, started.info.classes) == (mode, 3 * per_class, result.classes)
    assert (finished.info.run_dir, finished.info.accuracy) == (result.run_dir, result.validation["accuracy"])
    classifier, meta = load_classifier(classifier_file(folder))
    assert meta["pretrain_run"] == FinetuneRun(folder).pretrain_run() == str(run_dir.resolve())
    assert meta["mode"] == mode and meta["labels_used"] == 3 * per_class and meta["classes"] == sorted(CLASSES)
    assert meta["validation"]["scheme"] == ("leave-one-out" if mode == "linear" else f"{min(5, per_class)}-fold")
    assert len(meta["validation"]["confusion"]) == 3 and set(meta["validation"]["per_class"]) == set(CLASSES)
    with torch.no_grad():
        logits = classifier(torch.zeros(2, meta["in_channels"], meta["image_size"], meta["image_size"]))
    assert logits.shape == (2, 3)


def test_semi_with_steps_trains_the_whole_network_on_the_unlabeled_images_too(pretrained, tmp_path):
    run_dir, _, truth = pretrained
    labels = pick(truth, 2)
    events = []
    result = run_finetune(config(run_dir, tmp_path, mode="semi", steps=6), labels, on_event=events.append)
    assert (result.status, result.mode) == ("completed", "semi")
    assert [e.total for e in events if isinstance(e, Started) and e.stage is Stage.FINETUNE] == [6]
    progress = [e for e in events if isinstance(e, Progress) and e.stage is Stage.FINETUNE]
    assert progress[-1].step == 6 and 0 <= progress[-1].metrics.confident <= 1
    assert accuracy(result.run_dir, truth, labels) > 0.6          # chance is 1/3
    classifier, _ = load_classifier(classifier_file(result.run_dir))
    pretrained_backbone, _ = load_backbone(backbone_file(run_dir))
    assert any(not torch.equal(a, b) for a, b in zip(classifier.backbone.state_dict().values(),
                                                     pretrained_backbone.state_dict().values()))


def test_a_time_budget_goes_mostly_to_the_final_model_and_the_folds_train_proportionally_shorter(pretrained,
                                                                                                tmp_path):
    run_dir, _, truth = pretrained
    labels = pick(truth, 3)
    events = []
    result = run_finetune(config(run_dir, tmp_path, mode="semi", minutes=0.1), labels, on_event=events.append)
    steps = result.validation["steps"]
    assert result.validation["scheme"] == "3-fold"
    assert steps["fold"] == fold_steps(steps["final"], 3) < steps["final"]
    final_progress = [e.step for e in events if isinstance(e, Progress) and e.stage is Stage.FINETUNE]
    assert final_progress[-1] == steps["final"]
    assert accuracy(result.run_dir, truth, labels) > 0.6


def test_budget_shares_between_the_final_model_and_its_folds():
    cfg = FinetuneConfig(pretrain_run="/runs/x", mode="semi", minutes=2)
    assert _budget(cfg, 5) == 120 * FINAL_SHARE
    assert _budget(cfg, 0) == 120                       # nothing to validate: all of it
    assert _budget(cfg.replace(mode="linear"), 5) is None and _budget(cfg.replace(minutes=None), 5) is None
    assert fold_steps(1000, 5) == round(1000 * (1 - FINAL_SHARE) / FINAL_SHARE / 5)
    assert 5 * fold_steps(1000, 5) * FINAL_SHARE == pytest.approx(1000 * (1 - FINAL_SHARE), abs=5 * FINAL_SHARE)
    assert FINAL_SHARE > 0.5                            # most of the budget trains the model the user keeps
    assert fold_steps(2, 5) == 1


def test_predictions_cover_every_image_and_mark_the_labeled_ones(pretrained, tmp_path):
    run_dir, _, truth = pretrained
    labels = pick(truth, 2)
    result = run_finetune(config(run_dir, tmp_path, mode="linear"), labels)
    predictions = read_predictions(result.run_dir)
    assert sorted(p.path for p in predictions) == sorted(truth)
    assert {p.path: p.label for p in predictions if p.label} == labels
    assert all(1.0 >= p.confidence >= p.runner_up_confidence >= 0.0 for p in predictions)


def test_leave_one_out_skips_classes_with_a_single_label():
    y = torch.tensor([0, 0, 1, 2, 2, 2])
    scheme, folds = choose_folds(y, 3, folds=5, seed=0)
    assert scheme == "leave-one-out" and sorted(int(f) for f in torch.cat(folds)) == [0, 1, 3, 4, 5]
    scheme, folds = choose_folds(torch.arange(4).repeat(6), 4, folds=3, seed=0)
    assert scheme == "3-fold" and sorted(torch.cat(folds).tolist()) == list(range(24))
    assert all(set(torch.arange(4).repeat(6)[f].tolist()) == {0, 1, 2, 3} for f in folds)


def test_missing_files_are_warned_about_and_left_out(pretrained, tmp_path):
    run_dir, _, truth = pretrained
    labels = {**pick(truth, 2), "r/gone.png": "rows"}
    events = []
    result = run_finetune(config(run_dir, tmp_path, mode="linear"), labels, on_event=events.append)
    assert result.labels_used == 6
    assert any("r/gone.png" in e.message for e in events if isinstance(e, Warning))


def test_cancel_returns_cleanly_and_writes_no_run_folder(pretrained, tmp_path):
    run_dir, _, truth = pretrained
    token = CancelToken()

    def cancel_on_first_step(event):
        if isinstance(event, Progress) and event.stage is Stage.FINETUNE:
            token.cancel()

    result = run_finetune(config(run_dir, tmp_path, mode="full", steps=20), pick(truth, 2),
                          on_event=cancel_on_first_step, cancel=token)
    assert result.status == "cancelled" and not any((tmp_path / "ft").iterdir())


@pytest.mark.parametrize("labels, classes, words", [
    ({}, (), "there are no labels"),
    ({"r/rows_00.png": "rows", "r/rows_01.png": "rows"}, (), "only one class"),
    ({"r/rows_00.png": "rows", "c/columns_00.png": "columns"}, ("rows", "columns", "disc"), "'disc' has no label"),
    ({"r/rows_00.png": "rows", "c/columns_00.png": "coat"}, ("rows", "columns"), "not in the class list: coat"),
])
def test_bad_labels_raise_a_clear_error(labels, classes, words):
    with pytest.raises(ValueError, match=words):
        check_labels(labels, classes)


def test_bad_input_to_the_run_raises_before_any_work(pretrained, tmp_path):
    run_dir, _, truth = pretrained
    with pytest.raises(ValueError, match="no finished pretraining"):
        run_finetune(config(tmp_path, tmp_path), pick(truth, 1))
    with pytest.raises(ValueError, match="unknown fine-tuning mode"):
        run_finetune(config(run_dir, tmp_path, mode="magic"), pick(truth, 1))
    with pytest.raises(ValueError, match="after leaving out the labels of missing files, class 'disc'"):
        run_finetune(config(run_dir, tmp_path),
                     {"r/rows_00.png": "rows", "c/columns_00.png": "columns", "d/gone.png": "disc"})


def test_auto_mode_follows_the_label_count():
    assert resolve_mode("auto", 1, 10, 5000)[0] == "semi"
    assert resolve_mode("auto", 1, 10, 20)[0] == "linear"
    assert resolve_mode("auto", 60, 600, 5000)[0] == "full"
    assert resolve_mode("linear", 60, 600, 5000) == ("linear", "linear: chosen")


def test_config_round_trips_through_json(tmp_path):
    cfg = FinetuneConfig(pretrain_run="/runs/x", classes=("a", "b"), minutes=1.5)
    cfg.save(tmp_path / "c.json")
    assert FinetuneConfig.load(tmp_path / "c.json") == cfg


@pytest.mark.parametrize("accuracy, evaluated, low, high", [
    (0.5, 30, 0.3315, 0.6685),      # Wilson 95 % interval, by hand: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    (1.0, 30, 0.8865, 1.0),         # a perfect score still leaves room below
    (0.0, 10, 0.0, 0.2775),
    (0.8, 2000, 0.7819, 0.8169),    # many labels: a narrow range
])
def test_the_likely_range_is_the_wilson_interval(accuracy, evaluated, low, high):
    bounds = likely_range({"accuracy": accuracy, "evaluated": evaluated})
    assert bounds == pytest.approx((low, high), abs=1e-4)


def test_no_estimate_has_no_range():
    assert likely_range({"accuracy": None, "evaluated": 0}) is None and likely_range({}) is None
    assert likely_range_text({"accuracy": None}) == ""
    assert likely_range_text({"accuracy": 0.5, "evaluated": 30}) == "likely 33%–67%"
