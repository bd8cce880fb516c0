"""The project store: round trip, moved folder, damaged DB, concurrent writers, undo, CSV and ImageFolder."""
import errno
import shutil
import threading
from pathlib import Path

import pytest

from engine.data.scan import scan_folder
from engine.store import project as project_module
from engine.store.project import Project, ProjectError, project_db_path, restore_backup
from engine.store.project_db import backup_path
from engine.core import atomic
from engine.store.project_io import (
    export_csv, export_imagefolder, import_csv, read_labels_csv, write_probe_labels,
)
from resources import SAMPLE_DIR
from tests.image_files import write_shape_images


def labeled_project(root: Path) -> Project:
    project = Project.open(root)
    project.add_class("square")
    project.add_class("disc", colour="#123456")
    project.label(["a/img_0000.png", "a/img_0002.png"], "square")
    project.label(["b/deeper/img_0001.png"], "disc")
    return project


def test_round_trip_keeps_classes_labels_runs_and_the_chosen_model(image_folder, tmp_path):
    with labeled_project(image_folder) as project:
        project.add_run("finetune", tmp_path / "run1", {"accuracy": 0.9})
        project.set_chosen_model(tmp_path / "run1")
    assert project.db_path == image_folder / ".pretext" / "project.db"
    with Project.open(image_folder) as again:
        assert [(c.name, c.colour, c.position) for c in again.classes()] == [
            ("square", project_module.PALETTE[0], 0), ("disc", "#123456", 1)]
        labels = again.labels()
        assert {p: lab.label for p, lab in labels.items()} == {
            "a/img_0000.png": "square", "a/img_0002.png": "square", "b/deeper/img_0001.png": "disc"}
        first = labels["a/img_0000.png"]
        assert first.source == "click" and first.size == (image_folder / "a/img_0000.png").stat().st_size
        assert again.label_counts() == {"square": 2, "disc": 1}
        assert again.runs()[0].info == {"accuracy": 0.9} and again.chosen_model() == str(tmp_path / "run1")
    assert scan_folder(image_folder, verify=False).usable == 24   # the hidden project folder is skipped


def test_moving_the_folder_keeps_every_label_and_missing_files_are_reported_not_dropped(image_folder, tmp_path):
    labeled_project(image_folder).close()
    moved = tmp_path / "elsewhere" / "photos"
    shutil.move(str(image_folder), str(moved))
    (moved / "a" / "img_0002.png").unlink()
    with Project.open(moved) as project:
        assert project.root == moved.resolve() and len(project.labels()) == 3
        assert [m.path for m in project.missing_labels()] == ["a/img_0002.png"]
        assert len(project.labels()) == 3                       # reported, still there
        assert project.drop_labels([m.path for m in project.missing_labels()]) == 1
        assert sorted(project.labels()) == ["a/img_0000.png", "b/deeper/img_0001.png"]


def test_a_damaged_database_gives_a_clear_error_and_is_kept_aside(image_folder):
    labeled_project(image_folder).close()
    Project.open(image_folder).close()                       # a clean open writes the backup
    db = project_db_path(image_folder)
    damaged = b"this is not sqlite at all" * 100
    db.write_bytes(damaged)
    with pytest.raises(ProjectError, match="is damaged.*kept as.*corrupt-.*project.db.bak"):
        Project.open(image_folder)
    kept = [p for p in db.parent.glob("project.db.corrupt-*") if not p.name.endswith(("-wal", "-shm"))]
    assert [p.read_bytes() for p in kept] == [damaged] and not db.exists()
    restore_backup(image_folder)
    with Project.open(image_folder) as project:
        assert len(project.labels()) == 3


def test_a_failed_batch_writes_nothing(image_folder):
    with labeled_project(image_folder) as project:
        with pytest.raises(ProjectError, match="no class named 'coat'"):
            project.assign({"a/img_0004.png": "square", "a/img_0006.png": "coat"})
        assert len(project.labels()) == 3 and "a/img_0004.png" not in project.labels()


def test_two_connections_in_two_threads_write_at_the_same_time(image_folder):
    labeled_project(image_folder).close()
    errors = []

    def write(folder: str, name: str):
        try:
            with Project.open(image_folder) as own:
                for i in range(12):
                    own.label([f"{folder}/img_{i:04d}.png"], name)
        except Exception as error:   # noqa: BLE001 - any failure fails the test below
            errors.append(error)

    threads = [threading.Thread(target=write, args=("a", "square")),
               threading.Thread(target=write, args=("b/deeper", "disc"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with Project.open(image_folder) as project:
        assert project.label_counts() == {"square": 12, "disc": 12}


def test_undo_reverts_the_last_batch_only(image_folder):
    with labeled_project(image_folder) as project:
        project.label(["a/img_0000.png", "a/img_0004.png"], "disc")     # one relabel, one new
        assert project.labels()["a/img_0000.png"].label == "disc"
        assert project.undo() == ["a/img_0000.png", "a/img_0004.png"]
        labels = project.labels()
        assert labels["a/img_0000.png"].label == "square" and "a/img_0004.png" not in labels
        project.undo()                                                   # the disc label of b/…
        project.undo()                                                   # the two squares
        assert project.labels() == {} and not project.can_undo and project.undo() == []


def test_accepted_predictions_are_marked_and_never_overwrite_clicks(image_folder):
    with labeled_project(image_folder) as project:
        predictions = [("a/img_0000.png", "disc", 0.99), ("a/img_0004.png", "disc", 0.95),
                       ("a/img_0006.png", "square", 0.5)]
        assert project.accept_predictions(predictions, threshold=0.9) == 1
        labels = project.labels()
        assert labels["a/img_0000.png"].label == "square" and labels["a/img_0000.png"].source == "click"
        assert labels["a/img_0004.png"].source == "accepted prediction"


def test_csv_round_trip_and_bad_rows(image_folder, tmp_path):
    csv_path = tmp_path / "labels.csv"
    with labeled_project(image_folder) as project:
        assert export_csv(project, csv_path) == 3
    assert csv_path.read_text().splitlines()[:2] == ["path,label", "a/img_0000.png,square"]
    with open(csv_path, "a") as handle:
        handle.write("a/gone.png,square\nonly-one-cell\nb/deeper/img_0003.png,coat\n")
    other = tmp_path / "copy"
    shutil.copytree(image_folder, other, ignore=shutil.ignore_patterns(".pretext"))
    with Project.open(other) as fresh:
        report = import_csv(fresh, csv_path)
        assert report.imported == 4 and report.not_found == ["a/gone.png"] and report.bad_rows == [6]
        assert report.created_classes == ["square", "disc", "coat"]
        assert {lab.source for lab in fresh.labels().values()} == {"import"}
        fresh.undo()
        assert fresh.labels() == {}
    assert read_labels_csv(csv_path).labels["a/img_0000.png"] == "square"


def test_the_probe_labels_csv_holds_the_projects_labels_beside_its_database(image_folder):
    assert write_probe_labels(image_folder) == ("", 0)                   # no project yet
    Project.open(image_folder).close()
    assert write_probe_labels(image_folder) == ("", 0)                   # a project without labels
    labeled_project(image_folder).close()
    path, count = write_probe_labels(image_folder)
    assert count == 3 and Path(path).parent == project_db_path(image_folder).parent
    assert read_labels_csv(path, root=image_folder).labels == {
        "a/img_0000.png": "square", "a/img_0002.png": "square", "b/deeper/img_0001.png": "disc"}


def test_a_probe_labels_csv_that_cannot_be_written_is_a_clear_error_that_keeps_the_labels(image_folder,
                                                                                            monkeypatch):
    labeled_project(image_folder).close()
    replace = atomic.replace_file

    def full_disk(source, destination):      # the database's own backup still lands
        if Path(destination).name == "probe-labels.csv":
            raise OSError(errno.ENOSPC, "refused")
        replace(source, destination)

    monkeypatch.setattr(atomic, "replace_file", full_disk)
    with pytest.raises(atomic.DiskWriteError, match="probe-labels.csv: the disk is full"):
        write_probe_labels(image_folder)
    assert len(Project.open(image_folder).labels()) == 3


@pytest.mark.parametrize("symlink", [False, True])
def test_imagefolder_export_copies_or_links_by_class(image_folder, tmp_path, symlink):
    with labeled_project(image_folder) as project:
        written, missing = export_imagefolder(project, tmp_path / "tree", symlink=symlink)
        assert (written, missing) == (3, [])
        target = tmp_path / "tree" / "disc" / "b" / "deeper" / "img_0001.png"
        assert target.is_symlink() == symlink and target.read_bytes() == (image_folder / "b/deeper/img_0001.png").read_bytes()
        with pytest.raises(ProjectError, match="not empty"):
            export_imagefolder(project, tmp_path / "tree")


def test_a_read_only_image_folder_keeps_its_project_in_the_user_data_dir(image_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(project_module, "_writable", lambda folder: False)
    monkeypatch.setattr(project_module, "default_projects_dir", lambda: tmp_path / "data")
    with Project.open(image_folder) as project:
        assert project.db_path.is_relative_to(tmp_path / "data")
        project.add_class("square")
    assert Project.open(image_folder).class_names() == ["square"]


def test_bad_names_and_paths_are_refused(image_folder, tmp_path):
    with labeled_project(image_folder) as project:
        for bad in ("", "a/b", ".."):
            with pytest.raises(ProjectError, match="cannot be a class name"):
                project.add_class(bad)
        with pytest.raises(ProjectError, match="exists already"):
            project.rename_class("disc", "square")
        with pytest.raises(ProjectError, match="not inside the image folder"):
            project.label([tmp_path / "outside.png"], "disc")
        with pytest.raises(ProjectError, match="not a path inside"):
            project.label(["../x.png"], "disc")
        assert project.delete_class("square") == 2 and project.label_counts() == {"disc": 1}
    with pytest.raises(ProjectError, match="image folder not found"):
        Project.open(tmp_path / "missing")


def test_the_bundled_sample_keeps_its_project_in_the_user_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    path = project_db_path(SAMPLE_DIR)
    assert path.is_relative_to(tmp_path / "data") and not (SAMPLE_DIR / ".pretext").exists()


def test_a_missing_database_beside_its_backup_is_an_error_until_an_empty_start_is_asked(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    (root / "a.png").write_bytes(b"x")
    with Project.open(root) as project:
        project.add_class("cat")
        project.assign({"a.png": "cat"})
    Project.open(root).close()
    db = project_db_path(root)
    saved = backup_path(db).read_bytes()
    db.unlink()
    with pytest.raises(ProjectError, match="missing, but its last good copy"):
        Project.open(root)
    with Project.open(root, start_empty=True) as project:
        assert project.labels() == {}
    Project.open(root).close()
    aside = [p for p in db.parent.iterdir() if ".bak.replaced-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == saved


def test_an_import_reports_paths_given_different_labels_and_keeps_the_last(tmp_path):
    root = tmp_path / "images"
    write_shape_images(root, 3)
    names = sorted(p.name for p in root.iterdir())
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(f"path,label\n{names[0]},cat\n./{names[1]},dog\n{root / names[0]},dog\n")
    project = Project.open(root)
    report = import_csv(project, csv_path)
    assert report.imported == 2 and not report.not_found
    assert [c.describe() for c in report.conflicts] == [f"'{names[0]}' has different labels on lines 2, 4 "
                                                        "(cat, dog): kept 'dog', the last"]
    assert project.labels()[names[0]].label == "dog" and project.labels()[names[1]].label == "dog"
