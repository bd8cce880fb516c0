"""The pretraining settings: every field defaults to "auto", the rest sits under Advanced."""
from __future__ import annotations

import json

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit,
    QRadioButton, QSpinBox, QToolButton, QVBoxLayout, QWidget,
)

from desktop.common.combo import choice_box
from desktop.pretrain.torchrun_box import TorchrunBox
from engine.core.config import BACKBONES, METHOD_NAMES, METHODS, PRECISIONS, PretrainConfig

METHOD_LABELS = METHOD_NAMES
METHOD_HELP = {
    "auto": "Picks the method from the batch size and the images (the reason shows when the run starts).",
    "simclr": "SimCLR: pulls two augmented views of an image together and pushes other images away; "
              "simple and robust, needs large batches.",
    "byol": "BYOL: a network learns to predict a slowly moving copy of itself on another view; no negative "
            "images needed, works with small batches.",
    "vicreg": "VICReg: matches two views while keeping every embedding dimension varied and uncorrelated; "
              "no negatives, no moving copy.",
    "dino": "DINO: a student network matches a moving-average teacher's class-like outputs on many views "
            "(self-distillation); strong features, slower.",
}
BACKBONE_LABELS = {
    "auto": "Automatic", "smallcnn": "Small CNN (fast)", "mediumcnn": "Medium CNN (deeper)",
    "largecnn": "Large CNN (wider)", "resnet18": "ResNet-18",
    "resnet34": "ResNet-34", "resnet50": "ResNet-50", "mobilenet_v3_small": "MobileNet V3 Small",
    "mobilenet_v3_large": "MobileNet V3 Large", "efficientnet_b0": "EfficientNet-B0",
}
BACKBONE_HELP = {"smallcnn": "Small CNN: fast, learns well on small images within minutes, also on a CPU"}
PRECISION_LABELS = {"auto": "Automatic", "fp32": "32-bit float", "bf16": "bfloat16 (mixed)", "fp16": "float16 (mixed)"}
MAP_EVERY_LABELS = {-1: "Automatic (GPU only)", 0: "Off", 1: "Every epoch", 2: "Every 2 epochs",
                    5: "Every 5 epochs", 10: "Every 10 epochs"}
MAP_EVERY_AUTO = "every 5 epochs on a GPU; none on a CPU, where that time goes to training"
MAP_EVERY_HELP = {-1: f"Automatic: {MAP_EVERY_AUTO}"}
DEVICE_CHARS = 22    # the device list's width in "X"s: a longer name is cut short, whole in its tooltip
SETTINGS_KEY = "pretrain/config"
_REMEMBERED = ("method", "backbone", "image_size", "epochs", "minutes", "batch_size", "lr", "weight_decay",
               "seed", "checkpoint_every", "precision", "pretrained", "compile", "out_dir", "map_every")


def _fitted(combo: QComboBox, text: str) -> str:
    """``text``, cut short with "…" where it is wider than the combo's minimum contents length."""
    metrics = combo.fontMetrics()
    width = combo.minimumContentsLength() * metrics.horizontalAdvance("X")
    return metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)


def _select(combo: QComboBox, value) -> None:
    index = combo.findData(value)
    combo.setCurrentIndex(max(index, 0))


def _spin(low: int, high: int, auto_text: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    if auto_text:
        spin.setSpecialValueText(auto_text)
    return spin


class PretrainForm(QWidget):
    """Edits a :class:`~engine.core.config.PretrainConfig` (everything but ``data_dir``)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.method = choice_box(METHOD_LABELS, METHODS, METHOD_HELP)
        self.backbone = choice_box(BACKBONE_LABELS, BACKBONES, BACKBONE_HELP)
        self.image_size = _spin(0, 1024, "Automatic")
        self.image_size.setSuffix(" px")
        self.image_size.setSingleStep(16)
        self.by_epochs = QRadioButton("Epochs")
        self.by_epochs.setToolTip("Train for a number of passes over the images")
        self.by_minutes = QRadioButton("Time budget")
        self.by_minutes.setToolTip("Train for a fixed time; the schedule adapts to the speed")
        self.by_epochs.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.by_epochs)
        group.addButton(self.by_minutes)
        self.epochs = _spin(1, 100_000)
        self.minutes = QDoubleSpinBox(decimals=1, minimum=0.5, maximum=100_000.0, value=10.0, suffix=" min")
        self.by_epochs.toggled.connect(self._sync_length)
        self.batch_size = _spin(0, 65_536, "Automatic")
        self.device = QComboBox()     # device names are not ours to keep short: a fixed width, long ones cut
        self.device.setMinimumContentsLength(DEVICE_CHARS)
        self.device.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device.currentIndexChanged.connect(self._sync_device_tooltip)
        self.device.addItem("Automatic (detecting…)", "auto")

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Method", self.method)
        form.addRow("Backbone", self.backbone)
        form.addRow("Image size", self.image_size)
        form.addRow(self.by_epochs, self.epochs)
        form.addRow(self.by_minutes, self.minutes)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Device", self.device)

        self.advanced_toggle = QToolButton(text="Advanced", checkable=True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setAutoRaise(True)
        self.advanced_toggle.toggled.connect(self._toggle_advanced)
        self.advanced = self._advanced_section()
        self.advanced.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.advanced_toggle)
        layout.addWidget(self.advanced)
        self.data_dir = ""
        self.set_config(PretrainConfig(data_dir=""))
        self._connect_changes()

    def set_data_dir(self, data_dir: str) -> None:
        """The folder the shown torchrun command trains on."""
        self.data_dir = data_dir
        self._refresh_command()

    def _connect_changes(self) -> None:
        for combo in (self.method, self.backbone, self.device, self.precision, self.map_every):
            combo.currentIndexChanged.connect(self._refresh_command)
        for spin in (self.image_size, self.epochs, self.minutes, self.batch_size, self.lr, self.weight_decay,
                     self.seed, self.checkpoint_every):
            spin.valueChanged.connect(self._refresh_command)
        for box in (self.pretrained, self.compile, self.by_minutes):
            box.toggled.connect(self._refresh_command)
        self.out_dir.textChanged.connect(self._refresh_command)
        self._refresh_command()

    def _refresh_command(self) -> None:
        self.torchrun.set_config(self.config(self.data_dir or "DIR"))

    def _advanced_section(self) -> QWidget:
        self.lr = QDoubleSpinBox(decimals=5, minimum=0.0, maximum=10.0, singleStep=0.001)
        self.lr.setSpecialValueText("Automatic")
        self.weight_decay = QDoubleSpinBox(decimals=6, minimum=0.0, maximum=1.0, singleStep=0.0001)
        self.seed = _spin(0, 2**31 - 1)
        self.checkpoint_every = _spin(1, 1_000_000)
        self.checkpoint_every.setSuffix(" steps")
        self.precision = choice_box(PRECISION_LABELS, PRECISIONS)
        self.map_every = choice_box(MAP_EVERY_LABELS, MAP_EVERY_LABELS, MAP_EVERY_HELP)
        self.map_every.setToolTip("Lay out 2,000 images by their embeddings every few epochs, to watch "
                                  f"clusters form (costs about a second of CPU time each). Automatic: {MAP_EVERY_AUTO}")
        self.pretrained = QCheckBox("Start from ImageNet weights")
        self.pretrained.setToolTip("When the backbone has them")
        self.compile = QCheckBox("Compile with torch.compile")
        self.compile.setToolTip("CUDA only; the run starts slower, then trains faster")
        self.out_dir = QLineEdit(placeholderText="Default (the app's data folder)")
        browse = QToolButton(text="…")
        browse.clicked.connect(self._browse_out_dir)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_dir, 1)
        out_row.addWidget(browse)
        section = QWidget()
        form = QFormLayout(section)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("Learning rate", self.lr)
        form.addRow("Weight decay", self.weight_decay)
        form.addRow("Seed", self.seed)
        form.addRow("Checkpoint every", self.checkpoint_every)
        form.addRow("Precision", self.precision)
        form.addRow("Live map", self.map_every)
        form.addRow("", self.pretrained)
        form.addRow("", self.compile)
        form.addRow("Save runs in", out_row)
        self.torchrun = TorchrunBox()
        form.addRow("torchrun", self.torchrun)
        return section

    def set_devices(self, devices: list) -> None:
        """Fill the device list from ``engine.core.device.available_devices()`` (best first)."""
        current = self.device.currentData()
        self.device.clear()
        best = devices[0].label if devices else "CPU"
        for text, value in ((f"Automatic: {best}", "auto"), *((info.label, info.name) for info in devices)):
            self.device.addItem(_fitted(self.device, text), value)
            self.device.setItemData(self.device.count() - 1, text, Qt.ItemDataRole.ToolTipRole)
        _select(self.device, current)
        self._sync_device_tooltip()

    def _sync_device_tooltip(self) -> None:
        """The chosen device's whole name, which the field may show cut short."""
        self.device.setToolTip(self.device.currentData(Qt.ItemDataRole.ToolTipRole) or "")

    def config(self, data_dir: str) -> PretrainConfig:
        """The settings as a config for ``data_dir`` (not yet validated)."""
        return PretrainConfig(
            data_dir=data_dir, out_dir=self.out_dir.text().strip(), method=self.method.currentData(),
            backbone=self.backbone.currentData(), image_size=self.image_size.value(),
            epochs=self.epochs.value(), minutes=self.minutes.value() if self.by_minutes.isChecked() else None,
            batch_size=self.batch_size.value(), lr=self.lr.value(), weight_decay=self.weight_decay.value(),
            device=self.device.currentData() or "auto", precision=self.precision.currentData(),
            seed=self.seed.value(), checkpoint_every=self.checkpoint_every.value(),
            pretrained=self.pretrained.isChecked(), compile=self.compile.isChecked(),
            map_every=self.map_every.currentData(),
        )

    def set_config(self, cfg: PretrainConfig) -> None:
        _select(self.method, cfg.method)
        _select(self.backbone, cfg.backbone)
        self.image_size.setValue(cfg.image_size)
        self.epochs.setValue(cfg.epochs)
        self.by_minutes.setChecked(cfg.minutes is not None)
        self.by_epochs.setChecked(cfg.minutes is None)
        if cfg.minutes is not None:
            self.minutes.setValue(cfg.minutes)
        self.batch_size.setValue(cfg.batch_size)
        self.lr.setValue(cfg.lr)
        self.weight_decay.setValue(cfg.weight_decay)
        self.seed.setValue(cfg.seed)
        self.checkpoint_every.setValue(cfg.checkpoint_every)
        _select(self.precision, cfg.precision)
        if self.map_every.findData(cfg.map_every) < 0:
            self.map_every.addItem(f"Every {cfg.map_every} epochs", cfg.map_every)
        _select(self.map_every, cfg.map_every)
        self.pretrained.setChecked(cfg.pretrained)
        self.compile.setChecked(cfg.compile)
        self.out_dir.setText(cfg.out_dir)
        self._sync_length()

    def save(self, settings: QSettings) -> None:
        values = self.config("").to_dict()
        settings.setValue(SETTINGS_KEY, json.dumps({key: values[key] for key in _REMEMBERED}))

    def restore(self, settings: QSettings) -> None:
        """Load the last used settings; anything unreadable falls back to the defaults."""
        try:
            values = json.loads(settings.value(SETTINGS_KEY, "{}"))
            cfg = PretrainConfig(data_dir="", **{k: v for k, v in values.items() if k in _REMEMBERED}).validate()
        except (TypeError, ValueError):
            return
        self.set_config(cfg)

    def _sync_length(self) -> None:
        self.epochs.setEnabled(self.by_epochs.isChecked())
        self.minutes.setEnabled(self.by_minutes.isChecked())

    def _toggle_advanced(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.advanced_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _browse_out_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Save Runs In", self.out_dir.text())
        if path:
            self.out_dir.setText(path)
