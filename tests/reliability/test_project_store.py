"""The labels' store: a damaged or emptied database, a crash, a moved folder, a removed image."""
from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from engine import Warning
from engine.data.scan import scan_folder
from engine.finetune.config import FinetuneConfig
from engine.finetune.run import run_finetune
from engine.store import project_db
from engine.store.project import Project, ProjectError, project_db_path, restore_backup
from engine.store.project_db import backup_path
from engine.store.project_io import export_csv, read_labels_csv
from tests.desktop.window_helpers import open_and_scan
from tests.engine.fewlabel_data import pick
from tests.image_files import write_shape_images
from tests.reliability.disks import checksums, read_only_view
from tests.reliability.fixtures import add_labels, run_python

LABELS = {"a/img_0000.png": "square", "a/img_0001.png": "disc", "b/deeper/img_0002.png": "square"}


def saved_labels(db: Path) -> dict[str, str]:
    """The labels in a database file, read without the project code."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT l.path, c.name FROM labels l JOIN classes c ON c.id = l.class_id").fetchall()
    return dict(rows)


DAMAGE = {
    "emptied": lambda data: b"",
    "cut in half": lambda data: data[: len(data) // 2],
    "overwritten": lambda data: b"not a database " * 500,
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_10_a_damaged_project_db_is_reported_kept_aside_and_its_backup_offered_never_reset(
        qtbot, window, image_folder, damage, monkeypatch):
    monkeypatch.setattr(project_db.time, "strftime", lambda _format: "20260101-120000")   # within one second
    with Project.open(image_folder) as project:
        add_labels(project, LABELS)
    Project.open(image_folder).close()                    # a clean open keeps a backup
    db = project_db_path(image_folder)
    damaged = DAMAGE[damage](db.read_bytes())
    db.write_bytes(damaged)
    with pytest.raises(ProjectError, match="is damaged"):
        Project.open(image_folder)
    restore_backup(image_folder)

    db.write_bytes(damaged)
    open_and_scan(qtbot, window, image_folder)
    page = window.label_page
    assert page.project is None and page.banner.kind() == "error"
    assert "cannot be read" in page.banner.text() and "Nothing was deleted" in page.banner.text()
    kept = [p for p in db.parent.glob("project.db.corrupt-*") if not p.name.endswith(("-wal", "-shm"))]
    assert [p.read_bytes() for p in kept] == [damaged, damaged] and not db.exists()   # each copy kept
    assert saved_labels(backup_path(db)) == LABELS        # the last good copy was not touched
    restore = page.banner.action_buttons()[0]
    assert restore.text() == "Restore the Last Backup"
    restore.click()
    assert page.banner.kind() == "success"
    assert {path: label.label for path, label in page.project.labels().items()} == LABELS


CRASH_AFTER_LABELING = """
import json, os, signal, sys
from engine.store.project import Project
from tests.reliability.fixtures import add_labels
add_labels(Project.open(sys.argv[1]), json.loads(sys.argv[2]))
os.kill(os.getpid(), signal.SIGKILL)      # the app dies without closing the project
"""


def test_11_labels_survive_a_crash_and_a_moved_folder_and_a_removed_image_is_reported(
        pretrained, tmp_path):
    run_dir, source, truth = pretrained
    root = tmp_path / "photos"
    shutil.copytree(source, root)
    labels = pick(truth, 3)
    done = run_python(CRASH_AFTER_LABELING, str(root), json.dumps(labels), timeout=60)
    assert done.returncode == -9, done.stderr
    moved = tmp_path / "elsewhere" / "photos"
    shutil.move(root, moved)
    removed = sorted(labels)[0]
    (moved / removed).unlink()

    with Project.open(moved) as project:                 # the app starts again on the moved folder
        assert project.root == moved.resolve()
        assert {path: label.label for path, label in project.labels().items()} == labels
        assert [label.path for label in project.missing_labels()] == [removed]
        assert export_csv(project, tmp_path / "labels.csv") == len(labels)
        kept = {path: label.label for path, label in project.labels().items()}
    assert read_labels_csv(tmp_path / "labels.csv").labels == labels
    assert removed not in {r.path for r in scan_folder(moved, verify=False).images}

    events = []
    cfg = FinetuneConfig(pretrain_run=str(run_dir), out_dir=str(tmp_path / "ft"), data_dir=str(moved),
                         mode="linear", device="cpu", cache_dir=str(tmp_path / "cache"))
    result = run_finetune(cfg, kept, on_event=events.append)
    assert result.status == "completed" and result.labels_used == len(labels) - 1
    assert [e.message for e in events if isinstance(e, Warning) and removed in e.message] == [
        f"1 labeled file(s) are not in {moved} any more and were left out: {removed}"]


def test_a_read_only_folder_opens_its_project_read_only_and_a_copy_keeps_new_labels(tmp_path):
    source, view = tmp_path / "images", tmp_path / "mounted"
    write_shape_images(source, 4)
    names = sorted(p.name for p in source.glob("*.png"))
    with Project.open(source) as project:
        project.add_class("square")
        project.label(names[:2], "square")
    before = checksums(source)
    with read_only_view(source, view):
        project = Project.open(view)
        try:
            assert project.read_only and not project.can_undo
            assert sorted(project.labels()) == names[:2]
            with pytest.raises(ProjectError, match="read-only here: changes cannot be saved"):
                project.label(names[2:], "square")
            project.add_run("finetune", str(tmp_path / "run"))            # bookkeeping is left out, not an error
            copy = project.writable_copy()
            assert not copy.read_only and copy.db_path.parent != view / ".pretext"
            copy.label(names[2:], "square")
            copy.close()
            with Project.open(view) as reopened:                          # the copy is found again
                assert not reopened.read_only and sorted(reopened.labels()) == names
        finally:
            project.close()
    assert checksums(source) == before                                    # nothing was renamed or written


def test_a_damaged_database_on_a_read_only_disk_is_reported_and_left_alone(tmp_path):
    source, view = tmp_path / "images", tmp_path / "mounted"
    write_shape_images(source, 2)
    Project.open(source).close()
    db = source / ".pretext" / "project.db"
    db.write_bytes(b"not a database" * 100)
    before = checksums(source)
    with read_only_view(source, view), pytest.raises(ProjectError, match="damaged"):
        Project.open(view)
    assert checksums(source) == before


def test_the_label_page_shows_read_only_labels_and_offers_to_keep_changes_in_the_user_folder(qtbot, window, tmp_path):
    source, view = tmp_path / "images", tmp_path / "mounted"
    write_shape_images(source, 6)
    names = sorted(p.name for p in source.glob("*.png"))
    with Project.open(source) as project:
        project.add_class("square")
        project.label(names[:2], "square")
    with read_only_view(source, view):
        open_and_scan(qtbot, window, view)
        page = window.label_page
        assert page.project.read_only and sorted(page.project.labels()) == names[:2]
        assert page.banner.kind() == "warning" and "changes cannot be saved here" in page.banner.text()
        keep = page.banner.action_buttons()[0]
        assert keep.text() == "Keep My Changes in My User Folder"
        keep.click()
        assert not page.project.read_only and page.banner.kind() == "success"
        assert page.project.label(names[2:3], "square") == 1
        page.project.close()
