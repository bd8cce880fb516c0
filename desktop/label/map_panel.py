"""The embedding map on the Label step: the map, its tools, and the jobs that compute it.

Opening shows the instant PCA view (or the layout saved with the run); the neighbour-graph
layout is then computed in a second :class:`EngineJob` and replaces it. Labels and
predictions colour the points; a lasso or box selection is announced (``area_selected``) for the
page to review in the grid, and the bar above the map labels what the review leaves selected.
"""
from __future__ import annotations

import html
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup, QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QToolButton, QVBoxLayout, QWidget,
)

from desktop.common.map_colours import MODES, colour_groups
from desktop.common.map_view import MapView
from desktop.common.thumbnail_grid import ThumbnailModel
from desktop.jobs import LatestJob
from desktop.label.jobs import find_neighbours, open_embedding_map, refine_embedding_map
from desktop.label.similar_images import DuplicatesDialog, NeighboursDialog
from engine.core.events import Stage

NEIGHBOURS = 20
IDLE_TEXT = "The map of your images appears here once a pretraining run has finished."
DRAG_MODES = (("Pan", "pan", "Drag to move the map, scroll to zoom, click a point to find its image"),
              ("Lasso", "lasso", "Draw around points to select them (Ctrl adds to the selection)"),
              ("Box", "box", "Drag a rectangle to select points (Ctrl adds to the selection)"))


class MapPanel(QWidget):
    """``path_clicked(path)``: a point was clicked; ``area_selected(paths)``: a lasso or box drew
    around these images (none: the selection was cleared); ``label_requested(class)``: label the
    reviewed selection; ``failed(message, details)``: the map could not be computed."""

    path_clicked = Signal(str)
    area_selected = Signal(list)
    label_requested = Signal(str)
    label_key_pressed = Signal(int)      # a label key pressed in the Similar Images window
    failed = Signal(str, str)

    def __init__(self, source: ThumbnailModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.embedding_map = None
        self.run_key: tuple = ()
        self.jobs = LatestJob(self)
        self.neighbour_jobs = LatestJob(self)
        self.neighbour_jobs.succeeded.connect(self._show_found_neighbours)
        self._neighbours_of = ""
        self.jobs.progress.connect(self._on_progress)
        self.jobs.succeeded.connect(self.show_map)
        self.jobs.failed.connect(self._on_failed)
        self.jobs.ended.connect(lambda: self.progress.setVisible(self.jobs.busy()))
        self.reviewing = False         # the page shows the drawn selection in the grid (set_reviewing)
        self._row_of: dict[str, int] = {}
        self._source_rows: dict[str, int] = {}
        self._current_row = -1
        self._hover_row = -1
        self.labels: dict = {}
        self.class_colours: dict[str, str] = {}
        self.predictions: dict = {}
        self._colour_chosen = False          # the user picked a colouring: predictions leave it be
        self.view = MapView()
        self.view.clicked.connect(self._on_clicked)
        self.view.hovered.connect(self._on_hovered)
        self.view.selection_changed.connect(self._on_map_selection)
        source.dataChanged.connect(self._on_thumbnail_changed)
        source.modelReset.connect(self._index_source)
        self.neighbours = NeighboursDialog(source, self)
        self.neighbours.picked.connect(self.path_clicked)
        self.neighbours.label_key_pressed.connect(self.label_key_pressed)
        self.duplicates = DuplicatesDialog(source, self)
        self.duplicates.pair_picked.connect(self.select_paths)
        self._build()
        self._index_source()
        self._set_ready(False)

    def _build(self) -> None:
        self.colour_by = QComboBox()
        for text, key in MODES:
            self.colour_by.addItem(f"Colour: {text}", key)
        self.colour_by.setMaximumWidth(self.colour_by.sizeHint().width())    # whole names where there is room,
        self.colour_by.setMinimumContentsLength(8)                            # 8 characters in a narrow pane
        self.colour_by.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.colour_by.setToolTip("Colour the points by their label, the model's prediction or its confidence")
        self.colour_by.currentIndexChanged.connect(lambda _i: self.recolour())
        self.colour_by.activated.connect(self._on_colour_chosen)
        self.modes = QButtonGroup(self)
        bar = QHBoxLayout()
        bar.addWidget(self.colour_by, 1)
        for text, key, tip in DRAG_MODES:
            button = QToolButton(text=text, checkable=True, toolTip=tip)
            button.setProperty("mode", key)
            button.setProperty("role", "mode")
            button.setChecked(key == "pan")
            self.modes.addButton(button)
            bar.addWidget(button)
        self.modes.buttonClicked.connect(lambda button: self.view.set_mode(button.property("mode")))
        self.similar_button = QPushButton("Similar Images")
        self.similar_button.setToolTip(f"The {NEIGHBOURS} images most like the chosen one")
        self.similar_button.clicked.connect(self.show_neighbours)
        self.duplicates_button = QPushButton("Near-Duplicates…")
        self.duplicates_button.setToolTip("Find pairs of images that are almost the same")
        self.duplicates_button.clicked.connect(self.find_duplicates)
        bar.addStretch(1)
        self.tools_bar = QWidget()          # gives its row to the selection bar during a review
        tools = QHBoxLayout(self.tools_bar)
        tools.setContentsMargins(0, 0, 0, 0)
        tools.addWidget(self.similar_button)
        tools.addWidget(self.duplicates_button)
        tools.addStretch(1)
        self.status = QLabel(IDLE_TEXT, wordWrap=True)
        self.status.setProperty("role", "muted")
        self.progress = QProgressBar(textVisible=False, maximumHeight=6)
        self.progress.hide()
        self.legend = QLabel(wordWrap=True)
        self.selection_text = QLabel()
        self.label_as = QComboBox()
        self.label_as.setMinimumContentsLength(8)
        self.label_button = QPushButton("Apply")
        self.label_button.setToolTip("Give the images shown selected this class (Ctrl+Z undoes it)")
        self.label_button.clicked.connect(self._label_selection)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Clear the selection on the map (Esc in the grid)")
        self.clear_button.clicked.connect(self.view.clear_selection)
        self.selection_bar = QWidget()
        selection = QHBoxLayout(self.selection_bar)
        selection.setContentsMargins(0, 0, 0, 0)
        selection.addWidget(self.selection_text)
        selection.addWidget(QLabel("· label as"))
        selection.addWidget(self.label_as)
        selection.addWidget(self.label_button)
        selection.addWidget(self.clear_button)
        selection.addStretch(1)
        self.selection_bar.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 4)
        layout.addLayout(bar)
        layout.addWidget(self.tools_bar)
        layout.addWidget(self.selection_bar)
        layout.addWidget(self.progress)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.legend)
        layout.addWidget(self.status)

    # --- computing the map ---------------------------------------------------------------------
    def start(self, pretrain_run: str, root: str, cache_dir: str = "", scan=None) -> bool:
        """Show the map of ``root`` with ``pretrain_run``'s backbone (computed once per run);
        ``scan``: the session's scan of ``root``."""
        key = (pretrain_run, root)
        if key == self.run_key and (self.jobs.busy() or self.embedding_map is not None):
            return False
        self.discard()
        self.run_key = key
        self._run(open_embedding_map, pretrain_run, root, cache_dir, scan, text="Reading the embeddings…")
        return True

    def discard(self) -> None:
        """Forget the map (another folder or run); a running job is cancelled and ignored."""
        self.jobs.discard()
        self.embedding_map, self.run_key = None, ()
        self._row_of = {}
        self.view.set_points(np.zeros((0, 2), dtype=np.float32))
        self.view.set_groups([])
        self.neighbours.hide()
        self.duplicates.reject()
        self.status.setText(IDLE_TEXT)
        self.legend.clear()
        self.progress.hide()
        self._set_ready(False)

    def _run(self, fn, *args, text: str) -> None:
        self.status.setText(text)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.jobs.start(fn, *args)

    def _on_progress(self, event) -> None:
        names = {Stage.EMBED: "Reading the embeddings", Stage.LAYOUT: "Arranging similar images together",
                 Stage.PLACING: "Placing the other images beside their neighbours"}
        if event.stage in names and event.total:
            self.status.setText(f"{names[event.stage]}… {event.step:,} of {event.total:,}")
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.step)

    def show_map(self, embedding_map) -> None:
        """Draw an ``engine.maps.embedding_map.EmbeddingMap``; a PCA view starts the layout job."""
        self.embedding_map = embedding_map
        self._row_of = {path: i for i, path in enumerate(embedding_map.paths)}
        self.view.set_points(embedding_map.xy)
        self.recolour()
        self._set_ready(True)
        if embedding_map.kind == "pca":     # the PCA view stays while the layout is computed
            self._run(refine_embedding_map, embedding_map, text="A first view (PCA); arranging similar images "
                      "together…")
            return
        count = len(embedding_map.paths)
        note = (f" The layout was fitted on {embedding_map.layout_points:,} images drawn at random; the other "
                f"{embedding_map.placed:,} sit beside their nearest neighbours." if embedding_map.placed else "")
        self.status.setText(f"{count:,} images: similar images sit together.{note} Hover for a thumbnail; "
                            "choose Lasso or Box to select a group and label it.")

    def _on_failed(self, message: str, details: str) -> None:
        self.status.setText("No map: see the message above." if self.embedding_map is None else
                            "The first view is shown; the better layout failed (see the message above).")
        self.failed.emit(message, details)


    def _set_ready(self, ready: bool) -> None:
        for widget in (self.similar_button, self.duplicates_button, self.colour_by, *self.modes.buttons()):
            widget.setEnabled(ready)
        self.similar_button.setEnabled(ready and self._current_row >= 0)

    # --- colours -------------------------------------------------------------------------------
    def set_labels(self, labels: dict, class_colours: dict[str, str]) -> None:
        """``labels``: ``{path: desktop.label.label_grid.LabelInfo}``; ``class_colours`` in class order."""
        self.labels, self.class_colours = labels, dict(class_colours)
        current = self.label_as.currentText()
        self.label_as.clear()
        self.label_as.addItems(list(class_colours))
        self.label_as.setCurrentIndex(max(self.label_as.findText(current), 0))
        self._on_selection_changed()
        self.recolour()

    def set_predictions(self, predictions: dict) -> None:
        """The first predictions turn the map to "Colour: Prediction", and their end (another
        backbone or folder) back to "Colour: Label", unless the user has chosen a colouring."""
        first = bool(predictions) and not self.predictions
        self.predictions = predictions
        automatic = self.colour_by.findData("prediction" if predictions else "label")
        if (first or not predictions) and not self._colour_chosen and self.colour_by.currentIndex() != automatic:
            self.colour_by.setCurrentIndex(automatic)      # recolours
        else:
            self.recolour()

    def offer_class(self, name: Optional[str]) -> None:
        """Put class ``name`` (the one chosen on the left, or None) in the label bar's list."""
        index = self.label_as.findText(name) if name else -1
        if index >= 0:
            self.label_as.setCurrentIndex(index)

    def _on_colour_chosen(self, _index: int) -> None:
        self._colour_chosen = True

    def recolour(self) -> None:
        if self.embedding_map is None:
            return
        mode = self.colour_by.currentData()
        labels = {path: info.name for path, info in self.labels.items()}
        groups = colour_groups(self.embedding_map.paths, mode, self.class_colours, labels, self.predictions)
        self.view.set_groups(groups)
        self.legend.setText("   ".join(f'<span style="color:{g.colour}">●</span> {html.escape(g.name)} '
                                       f"({len(g.rows):,})" for g in groups))

    # --- selection -----------------------------------------------------------------------------
    def select_paths(self, paths: list[str]) -> None:
        """Select ``paths`` on the map (from the grid, or a duplicate pair)."""
        rows = [self._row_of[p] for p in paths if p in self._row_of]
        self.view.set_selected_rows(rows)
        self._current_row = rows[0] if rows else -1
        self._on_selection_changed()

    def selected_paths(self) -> list[str]:
        if self.embedding_map is None:
            return []
        return [self.embedding_map.paths[r] for r in self.view.selected_rows()]

    def set_reviewing(self, on: bool) -> None:
        """Whether the grid shows the drawn selection for review; the label bar shows meanwhile."""
        self.reviewing = on
        self._on_selection_changed()

    def _on_map_selection(self) -> None:
        self._on_selection_changed()
        self.area_selected.emit(self.selected_paths())

    def _on_selection_changed(self) -> None:
        count = len(self.view.selected_rows())
        self.selection_text.setText(f"{count:,} selected")
        self.selection_bar.setVisible(self.reviewing and count > 0)
        self.tools_bar.setVisible(self.selection_bar.isHidden())
        self.label_button.setEnabled(count > 0 and self.label_as.count() > 0)
        self.label_button.setToolTip("" if self.label_as.count() else "Add a class on the left first")
        self.similar_button.setEnabled(self.embedding_map is not None and self._current_row >= 0)

    def _label_selection(self) -> None:
        if self.selected_paths() and self.label_as.currentText():
            self.label_requested.emit(self.label_as.currentText())

    def _on_clicked(self, row: int) -> None:
        self._current_row = row
        self.view.set_selected_rows([row])
        self._on_selection_changed()
        self.path_clicked.emit(self.embedding_map.paths[row])

    # --- similar images ------------------------------------------------------------------------
    def show_neighbours(self) -> bool:
        """Search the images most like the chosen one off the GUI thread, then show them."""
        if self.embedding_map is None or self._current_row < 0:
            return False
        row = self._current_row
        self.neighbour_jobs.start(find_neighbours, self.embedding_map.features, row, NEIGHBOURS)
        self._neighbours_of = self.embedding_map.paths[row]
        return True

    def _show_found_neighbours(self, neighbours: list) -> None:
        paths = [self.embedding_map.paths[n.index] for n in neighbours]
        keep = [(self._source_rows[p], n.similarity) for p, n in zip(paths, neighbours) if p in self._source_rows]
        self.neighbours.show_neighbours(self._neighbours_of, [r for r, _s in keep], [s for _r, s in keep])

    def find_duplicates(self) -> None:
        if self.embedding_map is not None:
            self.duplicates.open_for(self.embedding_map.features, self.embedding_map.paths, self._source_rows)

    # --- hover ---------------------------------------------------------------------------------
    def _index_source(self) -> None:
        self._source_rows = {record.path: row for row, record in enumerate(self.source.records())}

    def _on_hovered(self, row: int) -> None:
        self._hover_row = row
        if row >= 0:
            self._fill_tip()

    def _fill_tip(self) -> None:
        path = self.embedding_map.paths[self._hover_row]
        lines = [path.rsplit("/", 1)[-1]]
        label = self.labels.get(path)
        if label is not None:
            lines.append(f"Label: {label.name}")
        prediction = self.predictions.get(path)
        if prediction is not None:
            lines.append(f"Prediction: {prediction.prediction} {prediction.confidence:.0%}")
        source_row = self._source_rows.get(path)
        pixmap = None if source_row is None else self.source.index(source_row).data(Qt.ItemDataRole.DecorationRole)
        self.view.show_tip(pixmap, "\n".join(lines))

    def _on_thumbnail_changed(self, top, bottom, _roles=()) -> None:
        if self._hover_row >= 0 and self.embedding_map is not None:
            source_row = self._source_rows.get(self.embedding_map.paths[self._hover_row], -1)
            if top.row() <= source_row <= bottom.row():
                self._fill_tip()
