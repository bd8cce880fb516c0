"""The Label step's label actions: every change to the labels and classes goes to the project
first and the page is redrawn from it, so nothing is lost on a crash; each is one undo step.

The rule a user can predict: a key (1–9, or 0/Delete to clear) changes the images selected in
the grid, and only those. After a key labels the current suggestion, the next suggestion is
selected; after any other key or a click-to-label, nothing is selected, so no key can change
an image that is not shown selected. A lasso or box on the map is reviewed first: the grid shows
only the images drawn around, all selected; Ctrl+click leaves one out, and a key, "Label Selected"
or the map's Apply labels what is still selected, then ends the review. A change of more than
``BULK_CONFIRM`` images asks first.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QMessageBox

from desktop.label.label_grid import LabelInfo, RelPathRole
from engine.store.project import Project, ProjectError

ACCEPTED = "accepted prediction"
BULK_CONFIRM = 50


class LabelActions:
    """The :class:`~desktop.label.page.LabelPage`'s labeling: clicks, keys, the map's lasso, class
    edits, undo and accepting predictions. Uses the page's ``project``, ``classes``, ``browser``,
    ``grid``, ``model``, ``map``, ``suggestions``, ``finetune`` and ``banner``."""

    def _connect_label_actions(self) -> None:
        self.classes.add_requested.connect(self.add_class)
        self.classes.rename_requested.connect(self.rename_class)
        self.classes.recolour_requested.connect(lambda n, c: self.apply_change(lambda p: p.recolour_class(n, c)))
        self.classes.delete_requested.connect(self._delete_class)
        self.classes.reorder_requested.connect(self.reorder_classes)
        self.classes.apply_requested.connect(self._label_selected_as)
        self.grid.painted.connect(self._on_painted)
        self.grid.number_pressed.connect(self.label_selected_with_number)
        self.grid.clear_pressed.connect(self.clear_selected)
        self.map.label_key_pressed.connect(
            lambda number: self.label_selected_with_number(number) if number else self.clear_selected())
        self.browser.undo_button.clicked.connect(self.undo)
        QShortcut(QKeySequence.StandardKey.Undo, self, self.undo,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.map.area_selected.connect(self._review_map_selection)
        self.browser.review_changed.connect(self._on_review_changed)
        self.map.label_requested.connect(self._label_selected_as)
        self.finetune.accept_requested.connect(self.accept_predictions)

    def reload(self) -> None:
        """Redraw classes, labels and counts from the project."""
        classes = self.project.classes() if self.project else []
        counts = self.project.label_counts() if self.project else {}
        colours = {c.name: c.colour for c in classes}
        labels = self.project.labels() if self.project else {}
        self.model.set_labels({path: LabelInfo(label.label, colours.get(label.label, "#888888"),
                                               label.source == ACCEPTED) for path, label in labels.items()})
        self.classes.set_classes(classes, counts)
        self.map.set_labels(self.model.labels, colours)
        self.browser.set_class_names([c.name for c in classes])
        self.browser.undo_button.setEnabled(bool(self.project and self.project.can_undo))
        self.browser.update_count()
        self._set_enabled()

    def apply_change(self, action) -> bool:
        """Run ``action(project)``; a refused change becomes a message, never a crash."""
        if self.project is None:
            return False
        try:
            action(self.project)
        except ProjectError as error:
            self.banner.show_message("error", str(error)[0].upper() + str(error)[1:])
            return False
        self.reload()
        return True

    def confirm_bulk(self, text: str) -> bool:
        """Ask before a change of many images (replaced in tests)."""
        answer = QMessageBox.question(self, "Change Many Images", f"{text}\n\nCtrl+Z undoes it.",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def label_paths(self, paths: list[str], name: Optional[str]) -> bool:
        """Give ``paths`` (relative) the class ``name``, or clear their labels (None); one undo step.
        More than :data:`BULK_CONFIRM` images are changed only once the user agrees."""
        if not paths:
            return False
        if len(paths) > BULK_CONFIRM:
            count = f"{len(paths):,}"
            if not self.confirm_bulk(f"Label {count} images as {name}?" if name else f"Clear the labels of {count} images?"):
                return False
        done = self.apply_change(lambda p: p.assign({path: name for path in paths}))
        if done and name is not None:
            self.suggestions.drop(set(paths))
        return done

    def _review_map_selection(self, paths: list[str]) -> None:
        """A lasso or box drew around ``paths``: show them in the grid for review (none: end it)."""
        if paths:
            self.map.offer_class(self.classes.current())
            self.browser.review(paths)
        else:
            self.browser.end_review()

    def _on_review_changed(self, on: bool) -> None:
        self.map.set_reviewing(on)
        if not on:
            self.map.select_paths(self.grid.selected_paths())

    def _label_selected_as(self, name: str) -> bool:
        """"Label Selected" or the map's Apply: give the grid's selection the class ``name``."""
        paths = self.grid.selected_paths()
        if not self.label_paths(paths, name):
            return False
        self._end_review_after_labeling(len(paths), name)
        return True

    def _end_review_after_labeling(self, count: int, name: Optional[str]) -> None:
        """A reviewed map selection was labeled: say so and end the review (nothing stays selected)."""
        if not self.browser.reviewing():
            return
        self.browser.end_review()
        images = f"{count:,} image{'s' if count != 1 else ''}"
        self.banner.show_message("success", (f"Labeled {images} as {name}." if name else
                                             f"Cleared the labels of {images}.") + " Ctrl+Z undoes it.")

    def label_selected_with_number(self, number: int) -> bool:
        names = self.classes.names()
        if number > len(names):
            self.banner.show_message("info", f"There is no class {number} yet: add classes on the left; the "
                                     "first nine get the keys 1–9.")
            return False
        return self._label_selection(names[number - 1])

    def clear_selected(self) -> bool:
        return self._label_selection(None)

    def _label_selection(self, name: Optional[str]) -> bool:
        """Label the grid's selection by key, then select the next suggestion when the selection
        was the current one, else nothing."""
        paths = self.grid.selected_paths()
        reviewing = self.browser.reviewing()
        following = self.suggestions.following(paths) if name is not None and not reviewing else None
        if not self.label_paths(paths, name):
            return False
        if reviewing:
            self._end_review_after_labeling(len(paths), name)
        elif following:
            self.suggestions.set_current(following)
            self.browser.select_path(following)
        else:
            self.grid.clearSelection()
        return True

    def _on_painted(self, row: int) -> None:
        if self.classes.paint_mode():
            self.label_paths([self.model.index(row).data(RelPathRole)], self.classes.current())
            self.grid.clearSelection()       # the click labeled it: no key may change it unseen

    def add_class(self, name: str) -> bool:
        """Add a class and choose it, so the next clicks label with it."""
        if self.apply_change(lambda p: p.add_class(name)):
            self.classes.set_current(name.strip())
            return True
        return False

    def rename_class(self, old: str, new: str) -> bool:
        if self.apply_change(lambda p: p.rename_class(old, new)):
            self.classes.set_current(new.strip())
            return True
        return False

    def reorder_classes(self, names: list) -> bool:
        """Give the classes the order of ``names``; the chosen class stays chosen."""
        current = self.classes.current()
        if self.apply_change(lambda p: p.reorder_classes(names)):
            self.classes.set_current(current)
            return True
        return False

    def _delete_class(self, name: str) -> None:
        self.apply_change(lambda p: p.delete_class(name))

    def undo(self) -> list[str]:
        if self.project is None:
            return []
        touched = self.project.undo()
        self.reload()
        if touched:
            self.banner.show_message("info", f"Undid the last change ({len(touched)} image"
                                     f"{'s' if len(touched) != 1 else ''}).")
        return touched

    def drop_missing(self, paths: list[str]) -> bool:
        if not self.apply_change(lambda p: p.drop_labels(paths)):
            return False
        self.banner.show_message("info", f"Dropped {len(paths)} label{'s' if len(paths) != 1 else ''} of missing "
                                 "images. Ctrl+Z brings them back.")
        return True

    def accept_predictions(self, threshold: float) -> int:
        outcome = self.finetune.outcome
        if self.project is None or outcome is None:
            return 0
        rows = [(p.path, p.prediction, p.confidence) for p in outcome.predictions.values()]
        labeled = set(self.project.labels())
        due = sum(1 for path, _name, confidence in rows if confidence >= threshold and path not in labeled)
        if due > BULK_CONFIRM and not self.confirm_bulk(
                f"Accept {due:,} predictions at {threshold:.0%} or more as labels?"):
            return 0
        count = 0

        def accept(project: Project) -> None:
            nonlocal count
            count = project.accept_predictions(rows, threshold)

        if self.apply_change(accept):
            self.banner.show_message("success", f"Accepted {count:,} prediction{'s' if count != 1 else ''} at "
                                     f"{threshold:.0%} or more as labels (dashed border). Ctrl+Z undoes it.")
        return count
