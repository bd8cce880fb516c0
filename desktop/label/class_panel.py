"""The classes of a project: a list with colour swatches, label counts and key numbers,
and buttons to add, rename, recolour and delete; dragging a class (or Alt+Up/Down) changes
the order, which gives the number keys and the exported model's class order. It only asks;
the page changes the project."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPainter, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QColorDialog, QGridLayout, QInputDialog, QLabel, QListWidget, QListWidgetItem,
    QPushButton, QStackedWidget, QVBoxLayout, QWidget,
)


def swatch(colour: str, size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(colour))
    painter.drawRoundedRect(0, 0, size, size, 4, 4)
    painter.end()
    return QIcon(pixmap)


class ClassList(QListWidget):
    """The class rows, reordered by dragging; ``reordered`` follows a drag that changed the order.

    Qt ends an internal move either inside the drop or only after the drag loop returns
    (the copy inserted at the drop, the source row removed later), so the order is compared
    once :meth:`startDrag` is over, and announced after the mouse event that started it."""

    reordered = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)

    def names(self) -> list[str]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def startDrag(self, actions) -> None:
        before = self.names()
        super().startDrag(actions)
        if self.names() != before:
            QTimer.singleShot(0, self, self.reordered.emit)


class ClassPanel(QWidget):
    """``ask_name``, ``ask_colour`` and ``confirm_delete`` are attributes so tests can answer them."""

    add_requested = Signal(str)
    rename_requested = Signal(str, str)
    recolour_requested = Signal(str, str)
    delete_requested = Signal(str)
    reorder_requested = Signal(list)     # every class name, in the new order
    apply_requested = Signal(str)        # label the selected images with this class
    current_changed = Signal(object)     # class name or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._counts: dict[str, int] = {}
        heading = QLabel("Classes")
        heading.setProperty("role", "heading")
        self.list = ClassList()
        self.list.setIconSize(QSize(14, 14))
        self.list.setMinimumHeight(120)
        self.list.currentItemChanged.connect(lambda *_: self._on_current_changed())
        self.list.setToolTip("Drag a class, or press Alt+Up / Alt+Down, to change the order: it sets the "
                             "number keys and the order of the exported model's classes.")
        self.list.reordered.connect(lambda: self.reorder_requested.emit(self.names()))
        for key, step in (("Alt+Up", -1), ("Alt+Down", 1)):
            QShortcut(QKeySequence(key), self.list, lambda step=step: self.move_current(step),
                      context=Qt.ShortcutContext.WidgetShortcut)
        self.empty_hint = QLabel("Add a class for each kind of image, e.g. “cat” and “dog”. "
                                 "Then click images to label them.", wordWrap=True)
        self.empty_hint.setProperty("role", "muted")
        self.add_button = QPushButton("Add…")
        self.add_button.clicked.connect(self._add)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(self._rename)
        self.colour_button = QPushButton("Colour…")
        self.colour_button.clicked.connect(self._recolour)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self._delete)
        self.apply_button = QPushButton("Label Selected")
        self.apply_button.setToolTip("Give the selected images the chosen class (or press its number key)")
        self.apply_button.clicked.connect(lambda: self.current() and self.apply_requested.emit(self.current()))
        self.paint = QCheckBox("Click an image to label it")
        self.paint.setToolTip("With a class chosen, a plain click labels the image. Ctrl/Shift-click only selects.")
        self.paint.setChecked(True)
        buttons = QGridLayout()
        buttons.setSpacing(6)
        buttons.addWidget(self.add_button, 0, 0)
        buttons.addWidget(self.rename_button, 0, 1)
        buttons.addWidget(self.colour_button, 1, 0)
        buttons.addWidget(self.delete_button, 1, 1)
        buttons.addWidget(self.apply_button, 2, 0, 1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading)
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self._list_or_hint = QStackedWidget()     # one place for both, so the buttons below never move
        self._list_or_hint.addWidget(self.empty_hint)
        self._list_or_hint.addWidget(self.list)
        layout.addWidget(self._list_or_hint, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.paint)
        self._update_buttons()

    # --- the dialogs (replaced in tests) -------------------------------------------------------
    def ask_name(self, title: str, text: str = "") -> Optional[str]:
        name, ok = QInputDialog.getText(self, title, "Class name:", text=text)
        return name.strip() if ok and name.strip() else None

    def ask_colour(self, colour: str) -> Optional[str]:
        chosen = QColorDialog.getColor(QColor(colour), self, "Class Colour")
        return chosen.name() if chosen.isValid() else None

    def confirm_delete(self, name: str, count: int) -> bool:
        from PySide6.QtWidgets import QMessageBox

        answer = QMessageBox.question(
            self, "Delete Class?", f"“{name}” has {count:,} label{'s' if count != 1 else ''}. "
            "Delete the class and its labels? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    # --- state ---------------------------------------------------------------------------------
    def set_classes(self, classes: list, counts: dict[str, int]) -> None:
        """Show ``classes`` (engine.store.project.ClassInfo, in order) with their label counts."""
        current = self.current()
        self._counts = dict(counts)
        self.list.blockSignals(True)
        self.list.clear()
        for number, info in enumerate(classes, start=1):
            key = f"{number}  " if number <= 9 else "    "
            item = QListWidgetItem(swatch(info.colour), f"{key}{info.name}   ({counts.get(info.name, 0):,})")
            item.setData(Qt.ItemDataRole.UserRole, info.name)
            item.setData(Qt.ItemDataRole.UserRole + 1, info.colour)
            item.setToolTip(f"Key {number}" if number <= 9 else "")
            self.list.addItem(item)
            if info.name == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self._list_or_hint.setCurrentWidget(self.list if classes else self.empty_hint)
        self._on_current_changed()

    def names(self) -> list[str]:
        return self.list.names()

    def current(self) -> Optional[str]:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None and item.isSelected() else None

    def set_current(self, name: Optional[str]) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(i)
                return
        self.list.clearSelection()
        self._on_current_changed()

    def move_current(self, step: int) -> None:
        """Ask to move the chosen class ``step`` places up (negative) or down."""
        name, names = self.current(), self.names()
        if name is None:
            return
        row = names.index(name)
        target = min(max(row + step, 0), len(names) - 1)
        if target != row:
            names.insert(target, names.pop(row))
            self.reorder_requested.emit(names)

    def paint_mode(self) -> bool:
        return self.paint.isChecked() and self.current() is not None

    def _on_current_changed(self) -> None:
        self._update_buttons()
        self.current_changed.emit(self.current())

    def _update_buttons(self) -> None:
        chosen = self.current() is not None
        for button in (self.rename_button, self.colour_button, self.delete_button, self.apply_button):
            button.setEnabled(chosen)

    # --- actions -------------------------------------------------------------------------------
    def _add(self) -> None:
        name = self.ask_name("Add Class")
        if name:
            self.add_requested.emit(name)

    def _rename(self) -> None:
        old = self.current()
        new = self.ask_name("Rename Class", old) if old else None
        if new and new != old:
            self.rename_requested.emit(old, new)

    def _recolour(self) -> None:
        item = self.list.currentItem()
        if item is None or self.current() is None:
            return
        colour = self.ask_colour(item.data(Qt.ItemDataRole.UserRole + 1))
        if colour:
            self.recolour_requested.emit(self.current(), colour)

    def _delete(self) -> None:
        name = self.current()
        if name is None:
            return
        count = self._counts.get(name, 0)
        if count == 0 or self.confirm_delete(name, count):
            self.delete_requested.emit(name)
