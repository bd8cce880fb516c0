"""The centre of the Label step: the filter bar, the labeling grid, and a key hint."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.common.thumbnail_grid import RecordRole, ThumbnailModel
from desktop.common.thumbnails import ThumbnailLoader
from desktop.label.label_grid import LabelGrid, LabelModel

FIXED_FILTERS = (("All images", "all"), ("Labeled", "labeled"), ("Unlabeled", "unlabeled"),
                 ("Disagrees with prediction", "disagrees"))
HINT = ("Choose a class, then click images to label them · Ctrl/Shift-click selects, then press 1–9 or "
        "“Label Selected” · Delete clears a label · Ctrl+Z undoes · double-click enlarges")
REVIEW_HINT = ("Review them: Ctrl+click leaves an image out. Then press a class's number key, “Label Selected” or "
               "Apply above to label the ones still selected · Esc clears")


class LabelBrowser(QWidget):
    """``review_changed(on)``: a lasso or box selection on the map is (no longer) under review
    (:meth:`review`)."""

    review_changed = Signal(bool)

    def __init__(self, source: ThumbnailModel, loader: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self._filter_before_review = "all"
        self.model = LabelModel(source, self)
        self.grid = LabelGrid(self.model)
        self.grid.preview_requested.connect(self._preview)
        self.grid.escape_pressed.connect(self.end_review)
        self.filter = QComboBox()
        self.filter.setToolTip("Which images to show")
        self.filter.setMinimumContentsLength(10)
        self.filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.filter.currentIndexChanged.connect(lambda _i: self._on_filter_chosen())
        self.sort_confidence = QCheckBox("Least sure first")
        self.sort_confidence.setToolTip("Sort by the model's confidence, lowest first (after a fine-tune)")
        self.sort_confidence.setEnabled(False)
        self.sort_confidence.toggled.connect(self.model.set_sort_by_confidence)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Undo the last label change (Ctrl+Z)")
        self.count = QLabel()
        self.count.setProperty("role", "muted")
        self.selection = QLabel(wordWrap=True)
        self.selection.setProperty("role", "heading")
        self.selection.setToolTip("The images the number keys change: only the ones shown selected")
        self.grid.selectionModel().selectionChanged.connect(lambda *_args: self.update_selection())
        self.model.modelReset.connect(self.update_selection)
        self.hint = QLabel(HINT, wordWrap=True)
        self.hint.setProperty("role", "muted")
        self.empty = QLabel("No images match this filter.")
        self.empty.setProperty("role", "muted")
        self.empty.hide()
        self.model.modelReset.connect(self.update_count)
        self.set_class_names([])
        self.update_selection()

        bar = QHBoxLayout()
        bar.addWidget(self.filter, 1)
        bar.addSpacing(8)
        bar.addWidget(self.sort_confidence)
        bar.addStretch(1)
        below = QHBoxLayout()
        below.addWidget(self.count, 1)
        below.addWidget(self.undo_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 0)
        layout.addLayout(bar)
        layout.addWidget(self.empty)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.selection)
        layout.addLayout(below)
        layout.addWidget(self.hint)

    def set_class_names(self, names: list[str]) -> None:
        """Offer a filter per class; a filter on a class that is gone falls back to all images."""
        current = self.filter.currentData() or "all"
        self.filter.blockSignals(True)
        self.filter.clear()
        for text, key in FIXED_FILTERS:
            self.filter.addItem(text, key)
        for name in names:
            self.filter.addItem(f"Class: {name}", f"class:{name}")
        if self.model.filter == "map":
            self.filter.addItem(f"Map selection ({len(self.model.map_selection):,})", "map")
        index = self.filter.findData(current)
        self.filter.setCurrentIndex(max(index, 0))
        self.filter.blockSignals(False)
        if index < 0:
            self.model.set_filter("all")

    def set_filter(self, key: str) -> None:
        self.filter.setCurrentIndex(self.filter.findData(key))

    def _on_filter_chosen(self) -> None:
        key = self.filter.currentData()
        reviewed = self.reviewing()
        self.model.set_filter(key)
        if reviewed and key != "map":
            self.filter.removeItem(self.filter.findData("map"))
            self.model.set_map_selection([])
            self.review_changed.emit(False)

    # --- reviewing a map selection ---------------------------------------------------------------
    def reviewing(self) -> bool:
        return self.model.filter == "map"

    def review(self, paths: list[str]) -> None:
        """Show only ``paths`` (drawn around on the map), all selected, so the user sees what a
        label key will change and can Ctrl+click images out; Esc or another filter ends it."""
        if not self.reviewing():
            self._filter_before_review = self.filter.currentData() or "all"
        self.model.set_map_selection(paths)
        text = f"Map selection ({len(paths):,})"
        if self.reviewing():
            self.filter.setItemText(self.filter.findData("map"), text)
        else:
            self.filter.addItem(text, "map")
            self.set_filter("map")
        self.grid.selectAll()
        self.grid.setFocus()
        self.review_changed.emit(True)

    def end_review(self) -> None:
        """Back to the filter shown before the review, nothing selected."""
        if self.reviewing():
            self.grid.clearSelection()
            before = self._filter_before_review
            self.set_filter(before if self.filter.findData(before) >= 0 else "all")

    def set_predictions(self, predictions: dict) -> None:
        self.model.set_predictions(predictions)
        self.sort_confidence.setEnabled(bool(predictions))
        if not predictions:
            self.sort_confidence.setChecked(False)

    def update_count(self) -> None:
        total = self.model.source.rowCount()
        shown = self.model.rowCount()
        shown_text = f"{shown:,} of {total:,} shown" if shown != total else f"{total:,} images"
        self.count.setText(f"{shown_text}  ·  {len(self.model.labels):,} labeled")
        self.empty.setVisible(total > 0 and shown == 0)

    def update_selection(self) -> None:
        """Say plainly what the next label key will change."""
        paths = self.grid.selected_paths()
        if self.reviewing():
            total = len(self.model.map_selection)
            count = f"{len(paths):,} of {total:,}" if len(paths) != total else f"{total:,}"
            text = f"{count} images selected on the map"
        elif not paths:
            text = "Nothing selected: a number key changes nothing until you select images."
        elif len(paths) == 1:
            text = f"Selected: {paths[0].rsplit('/', 1)[-1]} · keys 1–9 label it, 0 clears its label"
        else:
            text = f"Selected: {len(paths):,} images · keys 1–9 label them all, 0 clears their labels"
        self.selection.setText(text)
        self.hint.setText(REVIEW_HINT if self.reviewing() else HINT)

    def select_path(self, rel_path: str) -> bool:
        """Select ``rel_path`` in the grid (showing every image first if the filter hides it)."""
        if self.model.row_of(rel_path) is None:
            self.set_filter("all")
        found = self.grid.select_path(rel_path)
        if found:
            self.grid.setFocus()
        return found

    def _preview(self, index) -> None:
        from desktop.common.image_preview import ImagePreview

        ImagePreview(self.model.source, self.loader, index.data(RecordRole), self).show()
