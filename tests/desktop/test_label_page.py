"""The Label & Fine-tune step with the real engine: classes, labeling by click, keys and selection,
undo, filters, suggestions, fine-tuning, predictions, accepting them, and bad input."""
from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt

from desktop.label.label_grid import LabelRole, PredictionRole, RelPathRole
from engine.finetune.validation import likely_range
from engine.store.project import Project, project_db_path
from tests.desktop.label_helpers import label_some, open_labeling, patterns, pretrained, train  # noqa: F401
from tests.desktop.window_helpers import open_and_scan, tiny_settings


def click(qtbot, grid, row: int, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    index = grid.model().index(row)
    grid.scrollTo(index)
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, modifier, grid.visualRect(index).center())


def path_at(page, row: int) -> str:
    return page.model.index(row).data(RelPathRole)


def label_of(page, rel_path: str):
    row = page.model.row_of(rel_path)
    return None if row is None else page.model.index(row).data(LabelRole)


def test_label_and_export_open_when_pretraining_finishes(qtbot, window, image_folder, runs_dir):
    tiny_settings(window, runs_dir)
    open_and_scan(qtbot, window, image_folder)
    assert not window.is_step_enabled("label") and not window.is_step_enabled("export")
    window.go_to("label")
    assert window.current_step() == "data"
    page = window.pretrain_page
    with qtbot.waitSignal(page.completed, timeout=120_000) as completed:
        assert page.start()
    qtbot.waitUntil(lambda: page.state == "idle")
    assert window.is_step_enabled("label") and window.is_step_enabled("export")
    assert window.label_page.pretrain_run == completed.args[0].run_dir
    assert window.export_page.embedding.isChecked() and not window.export_page.classifier.isEnabled()
    with Project.open(image_folder) as project:            # remembered for the next time the folder opens
        assert [run.path for run in project.runs("pretrain")] == [completed.args[0].run_dir]


def test_a_folder_with_a_finished_run_opens_the_label_step_with_suggestions(qtbot, window, patterns, runs_dir):
    images, run, _truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    assert page.pretrain_run == str(run)
    assert window.is_step_enabled("export") and "pretrain" in window.done_steps
    assert "label" not in window.done_steps
    assert page.model.rowCount() == 48
    assert page.backbone_choice.isHidden()                   # one backbone: nothing to choose
    suggestions = page.suggestions
    first = suggestions.list.item(0)
    assert "cluster not yet labeled" in first.text() or "unlike every image" in first.text()
    path = suggestions.paths()[0]
    suggestions.list.itemClicked.emit(first)
    assert page.grid.selected_paths() == [path]
    items = [suggestions.list.item(row) for row in range(suggestions.list.count())]
    qtbot.waitUntil(lambda: all(not item.icon().isNull() for item in items), timeout=10_000)   # thumbnails


def test_click_keys_selection_and_undo_label_images(qtbot, window, patterns, runs_dir):
    images, _run, _truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    answers = iter(["rows", "columns", "disc"])
    page.classes.ask_name = lambda *_args: next(answers)
    for _ in range(3):
        page.classes.add_button.click()
    assert page.classes.names() == ["rows", "columns", "disc"]

    page.classes.set_current("columns")                     # paint mode: a plain click labels
    click(qtbot, page.grid, 0)
    assert label_of(page, path_at(page, 0)).name == "columns"
    click(qtbot, page.grid, 1, Qt.KeyboardModifier.ControlModifier)   # ctrl-click only selects
    assert label_of(page, path_at(page, 1)) is None

    page.classes.set_current(None)                          # no class chosen: clicks select
    click(qtbot, page.grid, 2)
    assert label_of(page, path_at(page, 2)) is None
    click(qtbot, page.grid, 3, Qt.KeyboardModifier.ShiftModifier)
    assert page.grid.selected_paths() == [path_at(page, r) for r in (2, 3)]
    qtbot.keyClick(page.grid, Qt.Key.Key_3)                 # key 3 = the third class
    assert {label_of(page, path_at(page, r)).name for r in (2, 3)} == {"disc"}

    selection = page.grid.selectionModel()
    selection.clearSelection()
    for row in (4, 6):
        selection.select(page.model.index(row), QItemSelectionModel.SelectionFlag.Select)
    page.classes.set_current("rows")
    page.classes.apply_button.click()                       # multi-select, then a class
    assert {label_of(page, path_at(page, r)).name for r in (4, 6)} == {"rows"}
    assert "1  rows   (2)" in page.classes.list.item(0).text()

    qtbot.keyClick(page.grid, Qt.Key.Key_9)                 # no ninth class: explained, nothing changes
    assert "no class 9" in page.banner.text()
    qtbot.keyClick(page.grid, Qt.Key.Key_Delete)            # clears the selection's labels
    assert label_of(page, path_at(page, 4)) is None
    qtbot.keyClick(page.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert label_of(page, path_at(page, 4)).name == "rows"
    page.browser.undo_button.click()                               # undoes "Label Selected"
    assert label_of(page, path_at(page, 4)) is None and label_of(page, path_at(page, 3)).name == "disc"

    page.classes.ask_name = lambda *_args: "stripes"
    page.classes.set_current("rows")
    page.classes.rename_button.click()
    page.classes.ask_colour = lambda _colour: "#123456"
    page.classes.colour_button.click()
    assert page.classes.names() == ["stripes", "columns", "disc"]
    with Project.open(images) as project:                   # every change is in the project store
        assert project.classes()[0].colour == "#123456"
        assert {label.label for label in project.labels().values()} == {"columns", "disc"}


def test_alt_arrows_reorder_the_classes_and_the_number_keys_follow(qtbot, window, patterns, runs_dir):
    images, _run, _truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    for name in ("rows", "columns", "disc"):
        page.classes.add_requested.emit(name)
    page.classes.set_current("disc")
    page.classes.list.setFocus()
    qtbot.keyClick(page.classes.list, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert page.classes.names() == ["rows", "disc", "columns"] and page.classes.current() == "disc"
    assert page.classes.list.item(1).text().startswith("2  disc")
    qtbot.keyClick(page.classes.list, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(page.classes.list, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)   # already first: no change
    assert page.classes.names() == ["disc", "rows", "columns"]
    with Project.open(images) as project:                   # kept in the project store
        assert project.class_names() == ["disc", "rows", "columns"]

    page.classes.set_current(None)
    page.grid.selectionModel().select(page.model.index(0), QItemSelectionModel.SelectionFlag.Select)
    qtbot.keyClick(page.grid, Qt.Key.Key_1)                 # key 1 is now the class moved first
    assert label_of(page, path_at(page, 0)).name == "disc"

    page.classes.set_current("columns")
    qtbot.keyClick(page.classes.list, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)   # already last
    assert page.classes.names() == ["disc", "rows", "columns"]
    assert not page.reorder_classes(["disc", "rows"])      # a partial order is refused with a message
    assert "every class exactly once" in page.banner.text() and page.classes.names() == ["disc", "rows", "columns"]


def test_deleting_a_class_with_labels_asks_first(qtbot, window, patterns, runs_dir):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    label_some(page, truth, 2)
    page.classes.ask_name = lambda *_args: "empty"
    page.classes.add_button.click()
    asked = []
    page.classes.confirm_delete = lambda name, count: asked.append((name, count)) or False
    page.classes.set_current("disc")
    page.classes.delete_button.click()
    assert asked == [("disc", 2)] and "disc" in page.classes.names()
    page.classes.confirm_delete = lambda name, count: asked.append((name, count)) or True
    page.classes.delete_button.click()
    assert "disc" not in page.classes.names()
    assert all(label.name != "disc" for label in page.model.labels.values())
    page.classes.set_current("empty")                       # no labels: deleted without asking
    page.classes.delete_button.click()
    assert len(asked) == 2 and "empty" not in page.classes.names()


def test_filters_show_labeled_unlabeled_and_one_class(qtbot, window, patterns, runs_dir):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    labels = label_some(page, truth, 2)
    counts = {}
    for key in ("all", "labeled", "unlabeled", "class:rows", "disagrees"):
        page.browser.set_filter(key)
        counts[key] = page.model.rowCount()
    assert counts == {"all": 48, "labeled": 6, "unlabeled": 42, "class:rows": 2, "disagrees": 0}
    page.browser.set_filter("class:rows")
    assert set(page.model.paths()) == {p for p, c in labels.items() if c == "rows"}
    assert "2 of 48 shown" in page.browser.count.text()


def test_fine_tune_shows_accuracy_predictions_and_accepts_the_confident_ones(qtbot, window, patterns, runs_dir):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    label_some(page, truth, 2)
    outcome = train(qtbot, page, "linear")
    result = outcome.result
    assert result.status == "completed" and result.mode == "linear"
    view = page.finetune.validation
    assert view.summary.text().startswith("Validation accuracy") and "leave-one-out" in view.summary.text()
    low, high = likely_range(result.validation)
    assert f"On new images, likely between {low:.0%} and {high:.0%}" in view.scheme_note.text()
    assert f"Validation accuracy {result.validation['accuracy']:.0%} (leave-one-out; likely {low:.0%}–{high:.0%})" \
        in page.banner.text()
    assert view.per_class.rowCount() == 3 and view.confusion.columnCount() == 3
    assert page.finetune.plots.drawn_points() > 0
    assert all(page.model.index(r).data(PredictionRole) is not None for r in range(page.model.rowCount()))
    assert "label" in window.done_steps and window.export_page.classifier.isEnabled()
    assert window.export_page.finetune_run == result.run_dir

    page.browser.sort_confidence.setChecked(True)
    confidences = [page.model.index(r).data(PredictionRole).confidence for r in range(page.model.rowCount())]
    assert confidences == sorted(confidences)

    page.finetune.threshold.setValue(50)
    page.finetune.accept_button.click()
    accepted = [path for path, info in page.model.labels.items() if info.accepted]
    expected = sum(1 for p in outcome.predictions.values() if p.confidence >= 0.5 and not p.label)
    assert len(accepted) == expected > 0 and "Accepted" in page.banner.text()
    with Project.open(images) as project:
        assert {project.labels()[path].source for path in accepted} == {"accepted prediction"}
    page.undo()
    assert not any(info.accepted for info in page.model.labels.values())

    with qtbot.waitSignal(page.finetuned, timeout=120_000):   # retraining is one click
        page.finetune.train_button.click()
    qtbot.waitUntil(lambda: not page.finetune.is_running() and not page.suggestions.jobs.busy(), timeout=60_000)
    assert page.finetune_run != result.run_dir
    latest = page.finetune_run

    open_and_scan(qtbot, window, images)                   # opening the folder again shows the last model
    qtbot.waitUntil(lambda: page._load_job is None and bool(page.model.predictions), timeout=30_000)
    assert page.finetune_run == latest and "label" in window.done_steps
    assert page.finetune.validation.summary.text().startswith("Validation accuracy")
    assert page.finetune.accept_button.isEnabled()


def test_fine_tuning_bad_labels_gives_the_engines_message(qtbot, window, patterns, runs_dir):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)

    def fails_with(text: str) -> None:
        with qtbot.waitSignal(page.finetune.failed, timeout=60_000):
            page.finetune.train_button.click()
        qtbot.waitUntil(lambda: not page.finetune.is_running())
        assert page.banner.kind() == "error" and text in page.banner.text()
        assert page.finetune.train_button.isEnabled()

    fails_with("There are no labels")
    page.classes.add_requested.emit("rows")
    page.label_paths([p for p, c in truth.items() if c == "rows"][:2], "rows")
    fails_with("only one class")
    page.classes.add_requested.emit("disc")
    fails_with("'disc' has no label")
    assert "label" not in window.done_steps


def test_a_damaged_project_file_is_explained_and_its_backup_restored(qtbot, window, patterns, runs_dir):
    images, _run, truth = patterns
    labels = dict(list(truth.items())[:3])
    with Project.open(images) as project:
        for name in sorted(set(labels.values())):
            project.add_class(name)
        project.assign(labels)
    Project.open(images).close()                            # an open of a good file keeps a backup
    project_db_path(images).write_bytes(b"this is not a database" * 100)
    page = open_labeling(qtbot, window, images, runs_dir, suggest=False)
    assert page.project is None and page.banner.kind() == "error"
    assert "cannot be read" in page.banner.text() and "Nothing was deleted" in page.banner.text()
    restore = page.banner.action_buttons()[0]
    assert restore.text() == "Restore the Last Backup"
    restore.click()
    assert page.project is not None and page.banner.kind() == "success"
    assert {path: info.name for path, info in page.model.labels.items()} == labels


def test_training_time_goes_to_the_engine_for_semi_and_full_but_not_linear(qtbot, window, patterns, runs_dir,
                                                                            monkeypatch):
    images, _, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    label_some(page, truth, 2)
    panel = page.finetune
    configs = []
    monkeypatch.setattr(panel, "start", lambda cfg, labels, scan: configs.append(cfg) or True)
    panel.time_limit.setCurrentIndex(panel.time_limit.findText("3 minutes"))
    for mode, enabled, minutes in (("linear", False, None), ("semi", True, 3.0), ("full", True, 3.0)):
        panel.mode.setCurrentIndex(panel.mode.findData(mode))
        assert panel.time_limit.isEnabled() == enabled
        panel.train_button.click()
        assert (configs[-1].mode, configs[-1].minutes) == (mode, minutes)
    panel.time_limit.setCurrentIndex(panel.time_limit.findText("Quick (seconds)"))
    panel.train_button.click()
    assert configs[-1].minutes is None


def test_a_folder_with_two_backbones_offers_the_choice_and_reopens_with_the_chosen_models(
        qtbot, window, patterns, runs_dir, monkeypatch):
    import os
    import shutil

    images, newest, truth = patterns
    older = runs_dir / "20200101-000000-simclr-smallcnn"
    shutil.copytree(newest, older)
    stamp = (newest / "backbone.pt").stat().st_mtime - 3600
    os.utime(older / "backbone.pt", (stamp, stamp))
    page = open_labeling(qtbot, window, images, runs_dir)
    choice = page.backbone_choice
    assert not choice.isHidden() and choice.count() == 2
    assert choice.currentData() == page.pretrain_run == str(newest)
    assert choice.itemText(1).startswith("SimCLR · smallcnn · 48 images · ")

    monkeypatch.setattr(page, "is_busy", lambda: True)           # a fine-tune running: refused, said why
    assert not page.choose_backbone(str(older))
    assert "A fine-tune is running" in page.banner.text() and choice.currentData() == str(newest)
    monkeypatch.undo()

    with qtbot.waitSignal(page.models_changed) as changed:
        choice.activated.emit(1)
    assert changed.args == [str(older), ""] and page.pretrain_run == str(older)
    label_some(page, truth, 2)
    result = train(qtbot, page, "linear").result
    assert result.run_dir.startswith(str(older / "finetune"))

    open_and_scan(qtbot, window, images)                         # the chosen model's backbone comes back
    qtbot.waitUntil(lambda: page._load_job is None and bool(page.model.predictions), timeout=30_000)
    assert page.pretrain_run == str(older) and choice.currentData() == str(older)
    assert page.finetune_run == result.run_dir


def test_switching_to_a_backbone_without_a_fine_tune_clears_the_other_backbones_results(
        qtbot, window, patterns, runs_dir):
    import os
    import shutil

    images, newest, truth = patterns
    older = runs_dir / "20200101-000000-simclr-smallcnn"
    shutil.copytree(newest, older)
    stamp = (newest / "backbone.pt").stat().st_mtime - 3600
    os.utime(older / "backbone.pt", (stamp, stamp))
    page = open_labeling(qtbot, window, images, runs_dir)
    assert page.pretrain_run == str(newest)
    label_some(page, truth, 2)
    train(qtbot, page, "linear")
    assert page.model.predictions and page.finetune.validation.per_class.rowCount() > 0

    with qtbot.waitSignal(page.models_changed) as changed:
        page.backbone_choice.activated.emit(page.backbone_choice.findData(str(older)))
    assert changed.args == [str(older), ""]
    assert not page.model.predictions and page.map.colour_by.currentData() != "prediction"
    assert page.finetune.validation.per_class.isHidden() and page.finetune.validation.per_class.rowCount() == 0
    assert page.finetune.validation.summary.isHidden() and "Last model" not in page.finetune.status.text()
    assert not page.finetune.accept_button.isEnabled()


def test_a_label_in_a_suggested_cluster_drops_that_suggestion(qtbot, window, patterns, runs_dir):
    from desktop.label.suggestion_list import CLUSTER_ROLE

    images, _run, _truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    suggested = page.suggestions.list
    item = next(suggested.item(row) for row in range(suggested.count())
                if len(suggested.item(row).data(CLUSTER_ROLE)) > 1)
    path = item.data(Qt.ItemDataRole.UserRole)
    neighbour = sorted(item.data(CLUSTER_ROLE) - {path} - set(page.suggestions.paths()))[0]
    page.classes.add_requested.emit("stripes")
    assert page.label_paths([neighbour], "stripes")
    assert path not in page.suggestions.paths()
