"""How good the fine-tuned classifier is: accuracy with its scheme, per class, and the confusion matrix."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)


def percent(value) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def accuracy_text(validation: dict, labels_used: int) -> str:
    """One line: the estimate and how it was made, or why there is none."""
    if not validation:
        return ""
    if validation.get("accuracy") is None:
        return "No validation estimate yet: every class needs at least 2 labels."
    scheme = validation.get("scheme", "")
    text = (f"Validation accuracy {validation['accuracy']:.0%}  (balanced: the mean over classes; {scheme}, "
            f"{validation.get('evaluated', 0)} of {labels_used} labels)")
    return text + "".join(f"\n{warning}" for warning in class_warnings(validation))


def scheme_help(scheme: str) -> str:
    """One sentence on a validation ``scheme`` ("5-fold", "leave-one-out"); "" for others."""
    if scheme == "leave-one-out":
        return "leave-one-out: each labeled image is predicted by a model trained on all the others."
    if scheme.endswith("-fold"):
        folds = scheme.split("-")[0]
        return (f"{scheme}: the labeled images are split into {folds} parts, and each part is predicted by a "
                "model trained on the others, so every figure comes from images the model did not learn from.")
    return ""


def class_warnings(validation: dict) -> list[str]:
    """The weakest class, and the classes with far fewer labels than the others, in words."""
    warnings = []
    worst = validation.get("worst_class")
    if worst is not None:
        warnings.append(f"Weakest class: {worst}, {validation['per_class'][worst]:.0%}.")
    few = validation.get("few_labels") or []
    if few:
        warnings.append(f"{', '.join(few)} {'has' if len(few) == 1 else 'have'} far fewer labels than the other "
                        "classes: label more of them for a fair estimate and a better model.")
    return warnings


def make_table(rows: int, columns: int) -> QTableWidget:
    table = QTableWidget(rows, columns)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    for header in (table.horizontalHeader(), table.verticalHeader()):   # rows grow as a narrower table wraps
        header.sectionResized.connect(lambda *_: _fit_rows(table))
    return table


def fit_height(table: QTableWidget) -> None:
    """Show every row without an inner scroll bar (there are few classes), also once the rows
    grow or shrink with the table's width."""
    table.resizeRowsToContents()
    _fit_rows(table)


def _fit_rows(table: QTableWidget) -> None:
    header = table.horizontalHeader()
    height = (0 if header.isHidden() else header.sizeHint().height()) + 2 * table.frameWidth() + 2
    height += sum(table.rowHeight(row) for row in range(table.rowCount()))
    table.setFixedHeight(min(height, 320))


class ValidationView(QWidget):
    """Empty until :meth:`show_validation`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel(wordWrap=True)
        self.summary.setProperty("role", "heading")
        self.scheme_note = QLabel(wordWrap=True)
        self.scheme_note.setProperty("role", "muted")
        self.per_class_title = QLabel("Per class")
        self.per_class = make_table(0, 2)
        self.per_class.setHorizontalHeaderLabels(["Class", "Accuracy"])
        self.per_class.verticalHeader().hide()
        self.per_class.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.per_class.horizontalHeader().setStretchLastSection(False)
        self.confusion_title = QLabel("Confusion matrix (rows: true class, columns: predicted)")
        self.confusion_title.setWordWrap(True)
        self.confusion = make_table(0, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.scheme_note)
        layout.addWidget(self.per_class_title)
        layout.addWidget(self.per_class)
        layout.addWidget(self.confusion_title)
        layout.addWidget(self.confusion)
        self.clear()

    def clear(self) -> None:
        self.per_class.setRowCount(0)
        self.confusion.setRowCount(0)
        self.confusion.setColumnCount(0)
        for widget in (self.summary, self.scheme_note, self.per_class_title, self.per_class,
                       self.confusion_title, self.confusion):
            widget.hide()

    def show_validation(self, validation: dict, classes: tuple, labels_used: int, mode_reason: str = "") -> None:
        self.summary.setText(accuracy_text(validation, labels_used))
        self.summary.show()
        from engine.finetune.validation import likely_range, shorter_folds_note  # torch: not at start-up

        notes = []
        bounds = likely_range(validation)
        if bounds is not None:
            notes.append(f"On new images, likely between {bounds[0]:.0%} and {bounds[1]:.0%}: "
                         f"{validation['evaluated']} tested labels give a rough estimate, and every label "
                         "added narrows the range.")
        if mode_reason:
            notes.append(f"Mode: {mode_reason}")
        scheme = validation.get("scheme", "")
        self.summary.setToolTip(scheme_help(scheme))
        if scheme == "leave-one-out":
            notes.append("Each label was predicted by a model trained on all the others (few labels: no "
                         "label is wasted on a fixed test split).")
        elif scheme.endswith("-fold"):
            notes.append(f"{scheme}: each label was predicted by a model trained without its fold.")
        shorter_folds = shorter_folds_note(validation)
        if shorter_folds:
            notes.append(f"To leave most of the training time to the final model, {shorter_folds}: expect the "
                         "final model to do at least as well as this estimate.")
        if validation.get("skipped"):
            notes.append(f"{validation['skipped']} label(s) of classes with a single label could not be tested.")
        self.scheme_note.setText("\n".join(notes))
        self.scheme_note.setVisible(bool(notes))
        per_class = validation.get("per_class") or {}
        self.per_class.setRowCount(len(classes))
        for row, name in enumerate(classes):
            self.per_class.setItem(row, 0, QTableWidgetItem(name))
            value = QTableWidgetItem(percent(per_class.get(name)))
            value.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.per_class.setItem(row, 1, value)
        fit_height(self.per_class)
        confusion = validation.get("confusion") or []
        self.confusion.setRowCount(len(classes))
        self.confusion.setColumnCount(len(classes))
        self.confusion.setHorizontalHeaderLabels(list(classes))
        self.confusion.setVerticalHeaderLabels(list(classes))
        self.confusion.horizontalHeader().setStretchLastSection(False)
        for i, row in enumerate(confusion[:len(classes)]):
            total = sum(row) or 1
            for j, count in enumerate(row[:len(classes)]):
                item = QTableWidgetItem(str(count))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if count:
                    tint = QColor("#1e9e8f" if i == j else "#dc3545")
                    tint.setAlphaF(0.15 + 0.5 * count / total)
                    item.setBackground(tint)
                self.confusion.setItem(i, j, item)
        fit_height(self.confusion)
        has_tables = bool(per_class) and validation.get("accuracy") is not None
        for widget in (self.per_class_title, self.per_class, self.confusion_title, self.confusion):
            widget.setVisible(has_tables)

    def cell(self, table: QTableWidget, row: int, column: int) -> str:
        item = table.item(row, column)
        return item.text() if item is not None else ""
