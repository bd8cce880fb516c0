"""The exact torchrun command for the current settings, ready to copy to a cluster."""
from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget

from engine.cli.commands import torchrun_command
from engine.core.config import PretrainConfig


class TorchrunBox(QWidget):
    """Processes per node and node count, the resulting command, and a Copy button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._config = PretrainConfig(data_dir="DIR")
        self.processes = QSpinBox(minimum=1, maximum=64, value=1, suffix=" per node")
        self.processes.setToolTip("Processes per machine: one per GPU")
        self.nodes = QSpinBox(minimum=1, maximum=1024, value=1, suffix=" node(s)")
        self.command = QPlainTextEdit(readOnly=True)
        self.command.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.command.setMaximumHeight(84)
        self.copy_button = QPushButton("Copy")
        self.copy_button.clicked.connect(self.copy)
        for spin in (self.processes, self.nodes):
            spin.valueChanged.connect(self._refresh)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.processes)
        row.addWidget(self.nodes)
        row.addStretch(1)
        row.addWidget(self.copy_button)
        hint = QLabel("Run the same job with torchrun on a cluster, then open the run folder here "
                      "to label and export. Multi-node runs need MASTER_ADDR set on every node.")
        hint.setWordWrap(True)
        hint.setProperty("role", "hint")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.command)
        layout.addWidget(hint)
        self._refresh()

    def set_config(self, cfg: PretrainConfig) -> None:
        self._config = cfg
        self._refresh()

    def text(self) -> str:
        return self.command.toPlainText()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text())
        self.copy_button.setText("Copied")

    def _refresh(self) -> None:
        self.command.setPlainText(torchrun_command(self._config, self.processes.value(), self.nodes.value()))
        self.copy_button.setText("Copy")
