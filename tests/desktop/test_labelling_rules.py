"""Labels never go to an image the user does not see selected: the keys change the grid's
selection only, and what they will change next is shown; a lasso on the map is reviewed in the
grid before it is labeled; bulk changes ask first."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from desktop.label import label_actions
from desktop.label.label_grid import LabelRole, RelPathRole
from tests.desktop.label_helpers import open_labeling, patterns, pretrained  # noqa: F401


def click(qtbot, grid, row: int, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    index = grid.model().index(row)
    grid.scrollTo(index)
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, modifier, grid.visualRect(index).center())


def label_of(page, rel_path: str):
    info = page.model.index(page.model.row_of(rel_path)).data(LabelRole)
    return None if info is None else info.name


def three_classes(page) -> None:
    answers = iter(["rows", "columns", "disc"])
    page.classes.ask_name = lambda *_args: next(answers)
    for _ in range(3):
        page.classes.add_button.click()


def test_a_key_on_a_suggestion_labels_it_then_selects_the_next_suggestion(qtbot, window, patterns, runs_dir):
    images, _run, _truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    three_classes(page)
    page.classes.set_current(None)
    first, second = page.suggestions.paths()[:2]
    suggested = page.suggestions.list
    qtbot.mouseClick(suggested.viewport(), Qt.MouseButton.LeftButton,
                     pos=suggested.visualItemRect(suggested.item(0)).center())       # click the first suggestion
    assert page.grid.selected_paths() == [first]
    qtbot.keyClick(page.grid, Qt.Key.Key_1)
    assert label_of(page, first) == "rows"
    assert page.grid.selected_paths() == [second]                           # the grid follows the list
    assert page.suggestions.list.currentItem().data(Qt.ItemDataRole.UserRole) == second
    assert second.rsplit("/", 1)[-1] in page.browser.selection.text()
    qtbot.keyClick(page.grid, Qt.Key.Key_2)
    assert (label_of(page, first), label_of(page, second)) == ("rows", "columns")   # the first kept its label


def test_a_click_to_label_leaves_nothing_selected_so_a_key_cannot_relabel_it(qtbot, window, patterns, runs_dir):
    images, _run, _truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    three_classes(page)
    page.classes.set_current("rows")                                        # click-to-label is on
    a, b = page.model.index(0).data(RelPathRole), page.model.index(1).data(RelPathRole)
    click(qtbot, page.grid, 0)
    assert label_of(page, a) == "rows" and page.grid.selected_paths() == []
    assert page.browser.selection.text().startswith("Nothing selected")
    click(qtbot, page.grid, 1, Qt.KeyboardModifier.ControlModifier)
    assert page.grid.selected_paths() == [b]
    qtbot.keyClick(page.grid, Qt.Key.Key_2)
    assert (label_of(page, a), label_of(page, b)) == ("rows", "columns")


def test_label_keys_work_in_the_similar_images_window_on_the_image_it_selected(qtbot, window, patterns, runs_dir):
    images, _run, _truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    qtbot.waitUntil(lambda: page.map.embedding_map is not None and not page.map.jobs.busy(), timeout=60_000)
    three_classes(page)
    page.classes.set_current(None)
    page.browser.select_path(page.model.index(5).data(RelPathRole))
    page.map.similar_button.click()
    dialog = page.map.neighbours
    qtbot.waitUntil(dialog.isVisible, timeout=10_000)                # searched off the GUI thread
    assert dialog.isVisible()
    dialog.strip.clicked.emit(dialog.model.index(0))
    chosen = page.grid.selected_paths()
    assert len(chosen) == 1
    qtbot.keyClick(dialog, Qt.Key.Key_3)
    assert label_of(page, chosen[0]) == "disc" and dialog.isVisible()


def test_a_change_of_many_images_asks_first_and_is_undone_in_one_step(qtbot, window, patterns, runs_dir, monkeypatch):
    images, _run, _truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    three_classes(page)
    page.classes.set_current(None)
    monkeypatch.setattr(label_actions, "BULK_CONFIRM", 10)
    asked = []
    page.confirm_bulk = lambda text: asked.append(text) or False
    page.grid.selectAll()
    count = len(page.grid.selected_paths())
    qtbot.keyClick(page.grid, Qt.Key.Key_1)
    assert asked == [f"Label {count} images as rows?"] and not page.model.labels      # refused: nothing changed
    page.confirm_bulk = lambda text: asked.append(text) or True
    page.grid.selectAll()
    qtbot.keyClick(page.grid, Qt.Key.Key_1)
    assert len(page.model.labels) == count
    page.undo()
    assert not page.model.labels
    page.grid.selectAll()
    page.grid.clearSelection()
    for row in range(5):                                                    # a few: no question
        page.grid.selectionModel().select(page.model.index(row), page.grid.selectionModel().SelectionFlag.Select)
    qtbot.keyClick(page.grid, Qt.Key.Key_2)
    assert len(asked) == 2 and len(page.model.labels) == 5


def lasso_left_half(qtbot, page) -> list[str]:
    """Wait for the map, draw a polygon around its left half with the map's own selection call,
    and return the paths it holds."""
    qtbot.waitUntil(lambda: page.map.embedding_map is not None and not page.map.jobs.busy(), timeout=60_000)
    xy = page.map.embedding_map.xy
    (left, bottom), (_right, top) = xy.min(0) - 1, xy.max(0) + 1
    middle = float(np.median(xy[:, 0]))
    polygon = np.array([[left, bottom], [middle, bottom], [middle, top], [left, top]])
    assert page.map.view.select_polygon(polygon) > 0
    return [page.map.embedding_map.paths[row] for row in page.map.view.selected_rows()]


def labels_now(page) -> dict:
    return {path: info.name for path, info in page.model.labels.items()}


def test_a_lasso_is_reviewed_in_the_grid_and_a_key_labels_only_what_stays_selected(
        qtbot, window, patterns, runs_dir, monkeypatch):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    three_classes(page)
    monkeypatch.setattr(label_actions, "BULK_CONFIRM", 3)
    asked = []
    page.confirm_bulk = lambda text: asked.append(text) or True
    drawn = lasso_left_half(qtbot, page)
    assert sorted(page.grid.selected_paths()) == sorted(drawn)             # shown, all selected, only them
    assert page.model.rowCount() == len(drawn) and page.browser.reviewing()
    assert page.browser.selection.text().startswith(f"{len(drawn)} images selected on the map")
    assert "Esc clears" in page.browser.hint.text() and page.map.selection_bar.isVisible()
    assert labels_now(page) == {}                                           # nothing labeled yet

    left_out = page.model.index(1).data(RelPathRole)
    click(qtbot, page.grid, 1, Qt.KeyboardModifier.ControlModifier)         # the review: leave one out
    assert left_out not in page.grid.selected_paths()
    assert sorted(page.map.selected_paths()) == sorted(set(drawn) - {left_out})     # the map shows it too
    assert page.browser.selection.text().startswith(f"{len(drawn) - 1} of {len(drawn)} images")
    qtbot.keyClick(page.grid, Qt.Key.Key_1)
    assert asked == [f"Label {len(drawn) - 1} images as rows?"]
    assert labels_now(page) == {path: "rows" for path in drawn if path != left_out}
    assert not page.browser.reviewing() and page.grid.selected_paths() == []      # the review ended
    assert page.model.rowCount() == len(truth) and page.map.selected_paths() == []
    assert not page.map.selection_bar.isVisible() and "Esc clears" not in page.browser.hint.text()
    qtbot.keyClick(page.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)     # one undo step
    assert labels_now(page) == {}


def test_the_maps_apply_labels_only_the_reviewed_selection_and_esc_clears_a_review(qtbot, window, patterns,
                                                                                  runs_dir):
    images, _run, _truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    three_classes(page)
    page.confirm_bulk = lambda text: True
    page.browser.set_filter("unlabeled")
    drawn = lasso_left_half(qtbot, page)
    left_out = page.model.index(0).data(RelPathRole)
    click(qtbot, page.grid, 0, Qt.KeyboardModifier.ControlModifier)
    assert page.map.label_as.currentText() == "disc"          # the class chosen on the left (the last added)
    page.map.label_button.click()
    assert labels_now(page) == {path: "disc" for path in drawn if path != left_out}
    assert "Labeled" in page.banner.text() and page.browser.filter.currentData() == "unlabeled"

    drawn = lasso_left_half(qtbot, page)
    assert page.browser.reviewing() and len(page.grid.selected_paths()) == len(drawn)
    qtbot.keyClick(page.grid, Qt.Key.Key_Escape)
    assert not page.browser.reviewing() and page.grid.selected_paths() == [] and page.map.selected_paths() == []
    assert page.browser.filter.findData("map") < 0 and page.browser.filter.currentData() == "unlabeled"
    assert page.browser.selection.text().startswith("Nothing selected")
    before = labels_now(page)
    qtbot.keyClick(page.grid, Qt.Key.Key_2)                                 # nothing selected: nothing changes
    assert labels_now(page) == before


def test_opening_a_folder_ends_a_map_review(qtbot, window, patterns, runs_dir):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    lasso_left_half(qtbot, page)
    assert page.browser.reviewing()
    page.set_project(page.root, page._runs_dirs, page.scan)          # what opening a folder does
    assert not page.browser.reviewing() and page.browser.filter.currentData() == "all"
    assert page.model.rowCount() == len(truth) and page.grid.selected_paths() == []
