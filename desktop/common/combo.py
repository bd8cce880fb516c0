"""Combo boxes as wide as their longest choice, so a column that holds one never clips its text."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox


def choice_box(labels: dict, values=None, help_texts: dict | None = None) -> QComboBox:
    """A combo box of ``values`` (``labels``' keys by default) shown as their labels, each with its
    ``help_texts`` entry as tooltip. Keep the labels short and put the detail in the tooltips: the
    box is as wide as its longest label, and the layout never squeezes it narrower."""
    combo = QComboBox()
    for value in labels if values is None else values:
        combo.addItem(labels.get(value, str(value)), value)
        if help_texts and value in help_texts:
            combo.setItemData(combo.count() - 1, help_texts[value], Qt.ItemDataRole.ToolTipRole)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    return combo
