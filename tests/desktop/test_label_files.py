"""Labels in and out through the File menu (CSV import and export, class folders), labels of
removed images, and starting an empty project without losing the last backup."""
from __future__ import annotations

from engine.store.project import Project, project_db_path
from engine.store.project_db import backup_path
from tests.desktop.label_helpers import label_some, open_labeling, patterns, pretrained  # noqa: F401


def test_a_csv_is_imported_as_one_undoable_batch_and_exported_back(qtbot, window, patterns, runs_dir, tmp_path):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir, suggest=False)
    chosen = sorted(truth)[:4]
    source = tmp_path / "in.csv"
    source.write_text("path,label\n" + "".join(f"{p},{truth[p]}\n" for p in chosen)
                      + "gone/away.png,rows\nnot a row\n", encoding="utf-8")
    assert page.transfer.import_csv(str(source))
    assert {p: info.name for p, info in page.model.labels.items()} == {p: truth[p] for p in chosen}
    text = page.banner.text()
    assert page.banner.kind() == "warning" and "Imported 4 labels" in text and "1 row(s)" in text and "Line(s) 7" in text
    assert set(truth[p] for p in chosen) <= set(page.classes.names())

    out = tmp_path / "out.csv"
    assert page.transfer.export_csv(str(out))
    assert out.read_text(encoding="utf-8").splitlines()[1:] == [f"{p},{truth[p]}" for p in chosen]
    page.undo()
    assert page.model.labels == {}


def test_a_csv_that_cannot_be_read_or_written_is_explained(qtbot, window, patterns, runs_dir, tmp_path):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir, suggest=False)
    label_some(page, truth, 1)
    assert not page.transfer.import_csv(str(tmp_path / "missing.csv"))
    assert page.banner.kind() == "error" and "missing.csv" in page.banner.text()
    (tmp_path / "a-file").write_text("")
    assert not page.transfer.export_csv(str(tmp_path / "a-file" / "labels.csv"))
    assert page.banner.kind() == "error" and "cannot be written" in page.banner.text()
    assert len(page.model.labels) == 3


def test_labeled_images_are_copied_into_one_folder_per_class(qtbot, window, patterns, runs_dir, tmp_path):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir, suggest=False)
    labels = label_some(page, truth, 2)
    dest = tmp_path / "classes"
    assert page.transfer.export_folders(str(dest))
    with qtbot.waitSignal(page.transfer.jobs.ended, timeout=30_000):
        pass
    copied = sorted(str(p.relative_to(dest)) for p in dest.rglob("*.png"))
    assert copied == sorted(f"{name}/{path}" for path, name in labels.items())
    assert page.banner.kind() == "success" and f"Copied {len(labels)} labeled images" in page.banner.text()

    assert page.transfer.export_folders(str(dest))                 # not empty any more: refused, nothing touched
    with qtbot.waitSignal(page.transfer.jobs.ended, timeout=30_000):
        pass
    assert page.banner.kind() == "error" and "not empty" in page.banner.text()
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*.png")) == copied


def test_labels_of_removed_images_are_listed_and_dropped_only_on_request(qtbot, window, patterns, runs_dir):
    images, _run, truth = patterns
    kept, removed = sorted(truth)[:2], sorted(truth)[2:4]
    with Project.open(images) as project:
        for name in sorted({truth[p] for p in kept + removed}):
            project.add_class(name)
        project.assign({p: truth[p] for p in kept + removed})
    for path in removed:
        (images / path).unlink()
    page = open_labeling(qtbot, window, images, runs_dir, suggest=False)
    assert page.banner.kind() == "warning" and "2 labels point to images that are no longer" in page.banner.text()
    assert all(path in page.banner.details() for path in removed)
    with Project.open(images) as project:
        assert set(project.labels()) == set(kept + removed)           # nothing dropped silently
    drop = page.banner.action_buttons()[0]
    assert drop.text() == "Drop These Labels"
    drop.click()
    with Project.open(images) as project:
        assert set(project.labels()) == set(kept)
    page.undo()
    with Project.open(images) as project:
        assert set(project.labels()) == set(kept + removed)


def test_starting_an_empty_project_keeps_the_last_backup(qtbot, window, patterns, runs_dir):
    images, _run, truth = patterns
    with Project.open(images) as project:
        project.add_class("rows")
        project.assign({sorted(truth)[0]: "rows"})
    Project.open(images).close()                                      # a good open leaves a backup
    good_backup = backup_path(project_db_path(images)).read_bytes()
    project_db_path(images).write_bytes(b"not a database" * 50)
    page = open_labeling(qtbot, window, images, runs_dir, suggest=False)
    start_empty = page.banner.action_buttons()[-1]
    assert start_empty.text() == "Start an Empty Project"
    start_empty.click()
    assert page.project is not None and page.model.labels == {}
    page.close_project()
    Project.open(images).close()                                      # later opens back up the empty project...
    kept = [p for p in project_db_path(images).parent.iterdir() if ".bak.replaced-" in p.name]
    assert len(kept) == 1 and kept[0].read_bytes() == good_backup     # ...but never over the last good one
