"""The embedding map on the Label step: computed from the run, coloured by labels, lasso and
box selection labeled with undo, click and grid selection in sync, neighbours, duplicates."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from engine.finetune.run import Prediction
from engine.maps.embedding_map import EmbeddingMap
from engine.maps.projection import layout_map
from engine.store.project import Project
from tests.desktop.label_helpers import open_labeling, patterns, pretrained  # noqa: F401


def wait_for_layout(qtbot, page) -> None:
    qtbot.waitUntil(lambda: page.map.embedding_map is not None and page.map.embedding_map.kind == "layout"
                    and not page.map.jobs.busy(), timeout=60_000)


def synthetic_map(page, truth: dict, tmp_path, duplicate: tuple = ()) -> EmbeddingMap:
    """Show a map whose features form one tight cluster per true class (rows in grid order);
    ``duplicate`` = (a, b) gives image b the features of image a."""
    paths = [record.path for record in page.model.source.records()]
    classes = sorted(set(truth.values()))
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(len(classes), 16)) * 2
    features = np.stack([centres[classes.index(truth[p])] + rng.normal(size=16) for p in paths]).astype(np.float32)
    if duplicate:
        features[paths.index(duplicate[1])] = features[paths.index(duplicate[0])]
    embedding_map = EmbeddingMap(paths, features, layout_map(features, seed=0).xy, "layout", len(paths), tmp_path / "m")
    page.map.show_map(embedding_map)
    return embedding_map


@pytest.fixture(autouse=True)
def every_mouse_move():
    """pyqtgraph drops mouse moves closer than 1/100 s apart; synthetic drags come faster."""
    limit = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOption("mouseRateLimit", 0)
    yield
    pg.setConfigOption("mouseRateLimit", limit)


def drag(view, points_xy: np.ndarray, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """Press, move along ``points_xy`` (map coordinates) and release the left button on the plot."""
    viewport = view.plot.viewport()
    positions = [view.plot.mapFromScene(view.box.mapViewToScene(QPointF(*p))) for p in points_xy]
    if len(positions) > 2:
        positions.append(positions[0])            # close the lasso

    def send(kind, position, buttons):
        event = QMouseEvent(kind, QPointF(position), QPointF(viewport.mapToGlobal(position)),
                            Qt.MouseButton.LeftButton, buttons, modifiers)
        QApplication.sendEvent(viewport, event)

    send(QEvent.Type.MouseButtonPress, positions[0], Qt.MouseButton.LeftButton)
    for position in positions[1:]:
        send(QEvent.Type.MouseMove, position, Qt.MouseButton.LeftButton)
    send(QEvent.Type.MouseButtonRelease, positions[-1], Qt.MouseButton.NoButton)


def circle_around(xy: np.ndarray, scale: float = 1.15, count: int = 36) -> np.ndarray:
    centre = xy.mean(0)
    radius = np.linalg.norm(xy - centre, axis=1).max() * scale + 1e-3
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    return centre + radius * np.stack([np.cos(angles), np.sin(angles)], 1)


def choose_mode(panel, mode: str) -> None:
    next(b for b in panel.modes.buttons() if b.property("mode") == mode).click()


def test_the_map_is_computed_from_the_run_and_coloured_by_labels(qtbot, window, patterns, runs_dir):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    wait_for_layout(qtbot, page)
    panel = page.map
    assert panel.view.xy.shape == (len(truth), 2) and np.isfinite(panel.view.xy).all()
    assert "unlabeled (48)" in panel.legend.text()
    page.classes.add_requested.emit("stripes")
    first = sorted(truth)[0]
    assert page.label_paths([first], "stripes")
    assert "stripes (1)" in panel.legend.text() and "unlabeled (47)" in panel.legend.text()
    assert panel.colour_by.findData("confidence") >= 0
    panel.colour_by.setCurrentIndex(panel.colour_by.findData("confidence"))
    assert "no prediction (48)" in panel.legend.text()


def test_the_first_predictions_colour_the_map_unless_the_user_chose_a_colouring(qtbot, window, patterns, runs_dir):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    wait_for_layout(qtbot, page)
    panel = page.map
    page.classes.add_requested.emit("stripes")
    predictions = {path: Prediction(path, "stripes", 0.8, "", 0.0, "") for path in truth}
    page._set_predictions(predictions)
    assert panel.colour_by.currentData() == "prediction" and f"stripes ({len(truth)})" in panel.legend.text()

    label_mode = panel.colour_by.findData("label")
    panel.colour_by.setCurrentIndex(label_mode)
    panel.colour_by.activated.emit(label_mode)            # what a pick from the list sends
    page._set_predictions({})                             # another folder: no predictions
    page._set_predictions(predictions)
    assert panel.colour_by.currentData() == "label" and "unlabeled" in panel.legend.text()


def test_a_lasso_over_one_cluster_labels_exactly_it_with_one_undo(qtbot, window, patterns, runs_dir, tmp_path):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    wait_for_layout(qtbot, page)
    embedding_map = synthetic_map(page, truth, tmp_path)
    target = sorted(set(truth.values()))[0]
    members = [i for i, p in enumerate(embedding_map.paths) if truth[p] == target]
    page.classes.add_requested.emit("first")
    panel = page.map
    choose_mode(panel, "lasso")
    drag(panel.view, circle_around(embedding_map.xy[members]))
    assert sorted(panel.selected_paths()) == sorted(embedding_map.paths[i] for i in members)
    assert panel.selection_bar.isVisible() and panel.label_as.currentText() == "first"
    panel.label_button.click()
    with Project.open(images) as project:
        labels = project.labels()
    assert {p: label.label for p, label in labels.items()} == {embedding_map.paths[i]: "first" for i in members}
    assert f"first ({len(members)})" in panel.legend.text()
    page.undo()
    with Project.open(images) as project:
        assert project.labels() == {}


def test_a_box_selection_with_ctrl_adds_to_the_lasso_selection(qtbot, window, patterns, runs_dir, tmp_path):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    wait_for_layout(qtbot, page)
    embedding_map = synthetic_map(page, truth, tmp_path)
    names = sorted(set(truth.values()))
    groups = [[i for i, p in enumerate(embedding_map.paths) if truth[p] == name] for name in names[:2]]
    panel = page.map
    choose_mode(panel, "box")
    xy = embedding_map.xy
    margin = 0.02 * (xy.max(0) - xy.min(0))
    for group, modifiers in zip(groups, (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ControlModifier)):
        low, high = xy[group].min(0) - margin, xy[group].max(0) + margin
        assert (((xy >= low) & (xy <= high)).all(1).sum()) == len(group)     # the box holds one cluster only
        drag(panel.view, np.array([low, high]), modifiers)
    expected = sorted(embedding_map.paths[i] for group in groups for i in group)
    assert sorted(panel.selected_paths()) == expected
    panel.clear_button.click()
    assert panel.selected_paths() == []


def test_clicking_a_point_selects_its_image_in_the_grid_and_back(qtbot, window, patterns, runs_dir, tmp_path):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    wait_for_layout(qtbot, page)
    embedding_map = synthetic_map(page, truth, tmp_path)
    panel = page.map
    row = 5
    scene = panel.view.box.mapViewToScene(QPointF(*embedding_map.xy[row]))
    assert panel.view.row_at(panel.view.box.mapSceneToView(scene)) in (row, *[
        i for i in range(len(embedding_map.paths)) if np.allclose(embedding_map.xy[i], embedding_map.xy[row], atol=1e-3)])
    qtbot.mouseClick(panel.view.plot.viewport(), Qt.MouseButton.LeftButton, pos=panel.view.plot.mapFromScene(scene))
    clicked = embedding_map.paths[panel.view.selected_rows()[0]]
    assert page.grid.selected_paths() == [clicked]

    other = page.model.index(10).data(Qt.ItemDataRole.UserRole + 12)
    page.browser.select_path(other)
    assert panel.selected_paths() == [other]
    assert panel.similar_button.isEnabled()


def test_hovering_a_point_shows_its_thumbnail_and_name(qtbot, window, patterns, runs_dir, tmp_path):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    wait_for_layout(qtbot, page)
    embedding_map = synthetic_map(page, truth, tmp_path)
    view = page.map.view
    scene = view.box.mapViewToScene(QPointF(*embedding_map.xy[3]))
    view.plot.scene().sigMouseMoved.emit(scene)
    row = view.row_at(view.box.mapSceneToView(scene))
    assert view.tip.isVisible()
    assert embedding_map.paths[row].rsplit("/", 1)[-1] in view.tip_caption.text()
    qtbot.waitUntil(lambda: view.tip_image.pixmap() is not None and not view.tip_image.pixmap().isNull(),
                    timeout=10_000)
    view.plot.scene().sigMouseMoved.emit(view.box.mapViewToScene(QPointF(1e6, 1e6)))
    assert not view.tip.isVisible()


def test_similar_images_come_from_the_same_cluster(qtbot, window, patterns, runs_dir, tmp_path):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    wait_for_layout(qtbot, page)
    embedding_map = synthetic_map(page, truth, tmp_path)
    path = embedding_map.paths[7]
    page.browser.select_path(path)
    page.map.similar_button.click()
    dialog = page.map.neighbours
    qtbot.waitUntil(dialog.isVisible, timeout=10_000)                # searched off the GUI thread
    assert dialog.isVisible() and dialog.model.rowCount() == 20
    found = [dialog.model.index(i).data(Qt.ItemDataRole.UserRole + 12) for i in range(20)]
    same = [p for p in found if truth[p] == truth[path]]
    assert same == found[:len(same)] and len(same) == sum(1 for p in truth if truth[p] == truth[path]) - 1
    assert path not in found and "%" in dialog.model.index(0).data()
    dialog.strip.clicked.emit(dialog.model.index(0))
    assert page.grid.selected_paths() == [found[0]]


def test_near_duplicates_lists_the_planted_pair_for_review(qtbot, window, patterns, runs_dir, tmp_path):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    wait_for_layout(qtbot, page)
    paths = [record.path for record in page.model.source.records()]
    synthetic_map(page, truth, tmp_path, duplicate=(paths[2], paths[30]))
    page.map.duplicates_button.click()
    dialog = page.map.duplicates
    qtbot.waitUntil(lambda: not dialog.jobs.busy() and dialog.pairs.count() > 0, timeout=30_000)
    assert dialog.pairs.count() == 1
    assert dialog.pairs.item(0).data(Qt.ItemDataRole.UserRole) == [paths[2], paths[30]]
    assert dialog.model.rowCount() == 2
    dialog.show_button.click()
    assert sorted(page.map.selected_paths()) == sorted([paths[2], paths[30]])
    dialog.reject()
    assert not dialog.isVisible()


def test_a_lasso_hides_the_hover_thumbnail(qtbot, window, patterns, runs_dir, tmp_path):
    images, _run, truth = patterns
    page = open_labeling(qtbot, window, images, runs_dir)
    wait_for_layout(qtbot, page)
    embedding_map = synthetic_map(page, truth, tmp_path)
    view = page.map.view
    view.plot.scene().sigMouseMoved.emit(view.box.mapViewToScene(QPointF(*embedding_map.xy[3])))
    assert view.tip.isVisible()
    choose_mode(page.map, "lasso")
    with qtbot.waitSignal(view.hovered) as left:
        drag(view, circle_around(embedding_map.xy[:5]))
    assert left.args == [-1] and not view.tip.isVisible()
