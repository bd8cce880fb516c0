"""Writes the disk refuses: a full disk and a read-only folder end in one line naming the file
and the reason (exit code 2 from the CLI), never a traceback, and leave no temp file, no
partial file and no changed file behind. The disk is a small tmpfs mounted by the test
(root only); it fills up at the start, or at the moment the named file is written, as when
another program takes the last of the space while a run trains."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from engine.cli import main
from engine.core import atomic
from engine.finetune import run as finetune_run
from engine.pretrain.session import TrainingSession
from engine.store.project import Project
from engine.store.project_io import export_csv, export_imagefolder
from engine.store.runs import RunFolder
from tests.engine.fewlabel_data import pick
from tests.reliability.fixtures import add_labels

DISK_SIZE = "16m"    # room for two tiny checkpoints (the old one stays until the new one is whole)
ERROR = "pretext-studio-cli: error: "
FILLER = "filler"
TINY_PRETRAIN = ["--backbone", "smallcnn", "--method", "simclr", "--image-size", "16", "--batch-size", "12",
                 "--epochs", "1", "--device", "cpu", "--checkpoint-every", "1"]


@pytest.fixture
def disk(tmp_path: Path):
    """A 16 MiB tmpfs folder, unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(disk: Path) -> None:
    """Take every free byte of ``disk``."""
    with open(disk / FILLER, "ab", buffering=0) as filler:
        for chunk in (1 << 20, 1 << 12):
            try:
                while True:
                    filler.write(bytes(chunk))
            except OSError as error:
                assert error.errno == 28   # ENOSPC


def make_read_only(disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)


def checksums(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder`` except the filler."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != FILLER}


def the_error_line(capsys) -> str:
    """The CLI's last line on stderr, after checking there is no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def assert_nothing_partial(folder: Path) -> None:
    files = [p for p in folder.rglob("*") if p.is_file() and p.name != FILLER]
    assert not [p for p in files if p.name.endswith(atomic.TEMP_SUFFIX)]
    assert not [p for p in files if p.stat().st_size == 0]


def fill_when_called(monkeypatch, owner, name: str, disk: Path, then=lambda: None) -> None:
    """Fill ``disk`` (after calling ``then``) the first time ``owner.name`` is called."""
    real, filled = getattr(owner, name), []

    def filling(*args, **kwargs):
        if not filled:
            then()
            fill(disk)
            filled.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, filling)


# --- pretraining ---------------------------------------------------------------------------------------------

PRETRAIN_FILLS = {   # the file the full disk refuses: where the disk fills up (None: before the run)
    "config.json": None,
    "checkpoints/last.pt": (TrainingSession, "state_dict"),
    "backbone.pt": (TrainingSession, "backbone_export"),
}


@pytest.mark.parametrize("refused", PRETRAIN_FILLS)
def test_pretraining_on_a_full_disk_says_which_file_and_keeps_what_was_there(
        image_folder, tmp_path, disk, monkeypatch, capsys, refused):
    runs = disk / "runs"
    runs.mkdir()
    (runs / "notes.txt").write_text("an earlier file\n")
    before: dict[str, str] = {}
    if PRETRAIN_FILLS[refused] is None:
        before.update(checksums(disk))
        fill(disk)
    else:
        fill_when_called(monkeypatch, *PRETRAIN_FILLS[refused], disk, then=lambda: before.update(checksums(disk)))

    code = main(["pretrain", str(image_folder), *TINY_PRETRAIN, "--out", str(runs),
                 "--cache-dir", str(tmp_path / "cache")])

    assert code == 2
    line = the_error_line(capsys)
    expected = rf"{ERROR}cannot write {re.escape(str(runs))}/[^/]+/{re.escape(refused)}: the disk is full"
    assert re.fullmatch(expected, line), line
    assert_nothing_partial(disk)
    after = checksums(disk)
    assert {path: after.get(path) for path in before} == before
    if refused == "config.json":      # no run folder without its config
        assert sorted(p.name for p in runs.iterdir()) == ["notes.txt"]
    else:                             # the run is there, unfinished, with no new file
        assert set(after) == set(before)
        assert not list(runs.glob("*/backbone.pt"))


def test_a_refused_metrics_append_keeps_the_earlier_lines_whole(disk):
    run = RunFolder(disk)
    run.append_metrics([{"step": 1, "loss": 1.0}])
    before = run.metrics_path.read_bytes()
    fill(disk)
    with pytest.raises(atomic.DiskWriteError) as raised:   # more than the room left in the file's last page
        run.append_metrics([{"step": 2, "note": "x" * 10_000}])
    assert str(raised.value) == f"cannot write {run.metrics_path}: the disk is full"
    assert run.metrics_path.read_bytes() == before


# --- fine-tuning -------------------------------------------------------------------------------------------

FINETUNE_FILLS = {
    "config.json": None,
    "classifier.pt": (finetune_run, "save_classifier"),
    "predictions.csv": (finetune_run, "write_predictions"),
}


def finetune_args(pretrained, tmp_path: Path, out: Path) -> list[str]:
    run_dir, _, truth = pretrained
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\n" + "".join(f"{p},{c}\n" for p, c in pick(truth, 2).items()))
    return ["finetune", str(run_dir), "--labels", str(labels), "--mode", "linear", "--device", "cpu",
            "--cache-dir", str(run_dir.parent.parent / "cache"), "--out", str(out)]


@pytest.mark.parametrize("refused", FINETUNE_FILLS)
def test_a_fine_tune_on_a_full_disk_leaves_no_run_folder(pretrained, tmp_path, disk, monkeypatch, capsys, refused):
    out = disk / "finetune"
    out.mkdir()
    (out / "notes.txt").write_text("an earlier file\n")
    args = finetune_args(pretrained, tmp_path, out)
    before = checksums(disk)
    if FINETUNE_FILLS[refused] is None:
        fill(disk)
    else:
        fill_when_called(monkeypatch, *FINETUNE_FILLS[refused], disk)

    assert main(args) == 2
    line = the_error_line(capsys)
    expected = rf"{ERROR}cannot write {re.escape(str(out))}/[^/]+/{re.escape(refused)}: the disk is full"
    assert re.fullmatch(expected, line), line
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]   # nothing that looks like a finished run
    assert checksums(disk) == before


# --- labels -----------------------------------------------------------------------------------------------

def test_copying_labeled_images_onto_a_full_disk_leaves_no_half_image(image_folder, disk):
    (disk / "notes.txt").write_text("an earlier file\n")
    before = checksums(disk)
    fill(disk)
    with Project.open(image_folder) as project:
        add_labels(project, {"a/img_0000.png": "disc", "a/img_0001.png": "square"})
        with pytest.raises(atomic.DiskWriteError, match=r"cannot write .*/tree/disc/a/img_0000\.png: the disk is full"):
            export_imagefolder(project, disk / "tree")
    assert_nothing_partial(disk)
    assert checksums(disk) == before


# --- read-only folders ---------------------------------------------------------------------------------------

def test_exporting_labels_into_a_read_only_folder_says_so_and_keeps_the_old_csv(image_folder, disk):
    target = disk / "labels.csv"
    target.write_text("path,label\nold.png,cat\n")
    make_read_only(disk)
    before = checksums(disk)
    with Project.open(image_folder) as project:
        add_labels(project, {"a/img_0000.png": "disc", "a/img_0001.png": "square"})
        with pytest.raises(atomic.DiskWriteError) as raised:
            export_csv(project, target)
    assert str(raised.value) == f"cannot write {target}: the folder is on a read-only file system"
    assert checksums(disk) == before


def test_pretraining_into_a_read_only_folder_says_so(image_folder, tmp_path, disk, capsys):
    (disk / "notes.txt").write_text("an earlier file\n")
    make_read_only(disk)
    before = checksums(disk)
    code = main(["pretrain", str(image_folder), *TINY_PRETRAIN, "--out", str(disk),
                 "--cache-dir", str(tmp_path / "cache")])
    assert code == 2
    assert the_error_line(capsys) == f"{ERROR}cannot write runs to {disk}: the folder is on a read-only file system"
    assert checksums(disk) == before


def test_resuming_a_run_in_a_read_only_folder_says_which_file_and_changes_nothing(image_folder, tmp_path, disk,
                                                                                  capsys):
    cache = str(tmp_path / "cache")
    assert main(["pretrain", str(image_folder), *TINY_PRETRAIN, "--out", str(disk), "--cache-dir", cache]) == 0
    run = next(disk.iterdir())
    (run / "backbone.pt").unlink()                 # as if it was stopped before the end
    make_read_only(disk)
    before = checksums(disk)
    capsys.readouterr()
    assert main(["pretrain", "--resume", str(run)]) == 2
    assert the_error_line(capsys) == (f"{ERROR}cannot write {run}/metrics.jsonl: "
                                      "the folder is on a read-only file system")
    assert checksums(disk) == before


def test_fine_tuning_into_a_read_only_folder_says_so(pretrained, tmp_path, disk, capsys):
    args = finetune_args(pretrained, tmp_path, disk)
    make_read_only(disk)
    assert main(args) == 2
    assert the_error_line(capsys) == f"{ERROR}cannot write runs to {disk}: the folder is on a read-only file system"
    assert list(disk.iterdir()) == []
