"""Run folders name their own files; the look-ups find a folder's runs through them."""
import json
import os
import time
from pathlib import Path

from engine.store.run_lookup import describe_pretrain_run, finished_pretrain_runs, latest_finetune_run
from engine.store.runs import (
    FinetuneRun, PretrainRun, create_finetune_run, create_pretrain_run, find_resumable, holds_backbone,
    holds_classifier,
)


def fake_pretrain_run(parent: Path, name: str, data_dir: Path, finished: bool = True, **config) -> PretrainRun:
    run = PretrainRun(parent / name)
    run.checkpoint_dir.mkdir(parents=True)
    run.config_path.write_text(json.dumps({"data_dir": str(data_dir), **config}))
    run.checkpoint_path.write_bytes(b"checkpoint")
    if finished:
        run.backbone_path.write_bytes(b"weights")
    return run


def fake_finetune_run(parent: Path, name: str, pretrain_run: str, usable: bool = True) -> FinetuneRun:
    run = FinetuneRun(parent / name)
    run.path.mkdir(parents=True)
    run.config_path.write_text(json.dumps({"pretrain_run": pretrain_run, "mode": "linear"}))
    run.predictions_path.write_text("path,prediction\n")
    if usable:
        run.classifier_path.write_bytes(b"weights")
    return run


def test_finished_runs_of_a_folder_are_found_newest_first_by_any_spelling_of_its_path(tmp_path, monkeypatch):
    monkeypatch.setattr("engine.store.run_lookup.default_runs_dir", lambda: tmp_path / "default")
    images = tmp_path / "images"
    images.mkdir()
    (tmp_path / "alias").symlink_to(images)
    runs = tmp_path / "runs"
    older = fake_pretrain_run(runs, "20200101-000000-simclr-smallcnn", tmp_path / "alias", epochs=12,
                              method="simclr", backbone="smallcnn")
    newer = fake_pretrain_run(runs, "20200102-000000-byol-smallcnn", images, minutes=10, method="byol",
                              backbone="resnet18")
    newer.scan_path.write_text(json.dumps({"root": str(images), "images": [{"path": "a.png"}, {"path": "b.png"}]}))
    fake_pretrain_run(runs, "20200103-000000-simclr-smallcnn", images, finished=False)
    fake_pretrain_run(runs, "20200104-000000-simclr-smallcnn", tmp_path, epochs=3)    # another folder
    stamp = newer.backbone_path.stat().st_mtime - 3600
    os.utime(older.backbone_path, (stamp, stamp))

    found = finished_pretrain_runs(str(images), [str(runs)], known=[str(older.path)])
    assert found == [newer, older]
    when = [time.strftime("%d %b %H:%M", time.localtime(run.backbone_path.stat().st_mtime)) for run in found]
    assert [describe_pretrain_run(run) for run in found] == [
        f"BYOL · resnet18 · 2 images · 10 min · {when[0]}", f"SimCLR · smallcnn · 12 epochs · {when[1]}"]
    assert [run.path.name for run in find_resumable(images, runs)] == ["20200103-000000-simclr-smallcnn"]


def test_the_fine_tune_to_show_is_the_first_usable_candidate_else_the_newest_on_the_backbone(tmp_path):
    pretrain = fake_pretrain_run(tmp_path, "pre", tmp_path)
    broken = fake_finetune_run(pretrain.finetune_dir, "20200103-finetune-linear", str(pretrain.path), usable=False)
    newest = fake_finetune_run(pretrain.finetune_dir, "20200102-finetune-linear", str(pretrain.backbone_path))
    fake_finetune_run(pretrain.finetune_dir, "20200101-finetune-linear", str(pretrain.path))
    chosen = fake_finetune_run(tmp_path / "elsewhere", "chosen", str(pretrain.path))

    assert latest_finetune_run([str(broken.path), str(chosen.classifier_path)], [pretrain.path]) == chosen
    assert latest_finetune_run([str(broken.path)], [tmp_path / "none", pretrain.path]) == newest
    assert latest_finetune_run([], [tmp_path / "none"]) is None
    assert newest.pretrain_run() == str(pretrain.path)      # an older run that named the backbone file
    assert FinetuneRun(tmp_path / "missing").pretrain_run() == ""


def test_new_run_folders_are_absolute_and_know_what_they_hold(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pretrain = create_pretrain_run("runs", "simclr", "smallcnn")
    tuned = create_finetune_run("runs", "linear")
    assert pretrain.path.is_absolute() and pretrain.checkpoint_dir.is_dir()
    assert tuned.path.is_absolute() and tuned.path.name.endswith("-finetune-linear")
    assert not holds_backbone(pretrain.path) and not holds_classifier(tuned.path)
    pretrain.backbone_path.write_bytes(b"weights")
    tuned.classifier_path.write_bytes(b"weights")
    assert holds_backbone(pretrain.path) and holds_backbone(pretrain.backbone_path)
    assert holds_classifier(tuned.path) and not holds_classifier(pretrain.backbone_path)
