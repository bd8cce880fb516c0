"""Two ways to look at similar images: the nearest neighbours of one image, and the pairs
of near-duplicates in the whole folder (for review)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QDoubleSpinBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar,
    QPushButton, QSplitter, QVBoxLayout, QWidget,
)

from desktop.common.thumbnail_grid import ThumbnailModel
from desktop.jobs import LatestJob
from desktop.label.image_subset import ImageStrip, ImageSubsetModel
from desktop.label.jobs import find_near_duplicates
from desktop.label.label_grid import label_key


class NeighboursDialog(QDialog):
    """The images most like one image, most similar first; ``picked(path)`` on a click, which
    selects it in the grid. The label keys work here as in the grid: ``label_key_pressed(n)``
    (1–9, 0 to clear) labels the grid's selection, so a result can be labeled without closing."""

    picked = Signal(str)
    label_key_pressed = Signal(int)

    def __init__(self, source: ThumbnailModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.resize(760, 520)
        self.model = ImageSubsetModel(source, self)
        self.strip = ImageStrip(self.model)
        self.strip.clicked.connect(lambda index: self.picked.emit(self.strip.path_at(index)))
        self.heading = QLabel(wordWrap=True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.strip, 1)
        layout.addWidget(buttons)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        number = label_key(event)
        if number is None:
            super().keyPressEvent(event)
        else:
            self.label_key_pressed.emit(number)

    def show_neighbours(self, path: str, source_rows: list[int], similarities: list[float]) -> None:
        self.setWindowTitle(f"Images like {path.rsplit('/', 1)[-1]}")
        self.heading.setText(f"The {len(source_rows)} images most like <b>{path}</b> by their embeddings "
                             "(cosine similarity). Click one to select it in the grid; "
                             "keys 1–9 label it from here.")
        self.model.set_rows(source_rows, [f"{s:.0%} · {self.model.source.records()[r].path.rsplit('/', 1)[-1]}"
                                          for r, s in zip(source_rows, similarities)])
        self.show()
        self.raise_()


class DuplicatesDialog(QDialog):
    """Finds pairs above a similarity threshold in an :class:`EngineJob` and lists them for
    review; choosing a pair shows both images, ``pair_picked([a, b])`` shows them on the map."""

    pair_picked = Signal(list)

    def __init__(self, source: ThumbnailModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Near-duplicates")
        self.resize(820, 560)
        self.jobs = LatestJob(self)
        self.jobs.progress.connect(self._on_progress)
        self.jobs.succeeded.connect(lambda found: self.set_pairs(found[1], found[0]))
        self.jobs.failed.connect(lambda message, _details: self.status.setText(message))
        self.jobs.ended.connect(self._on_ended)
        self._features = None
        self._from_data = True                 # the next search sets its threshold from the data
        self._paths: list[str] = []
        self._source_rows: dict[str, int] = {}
        self.threshold = QDoubleSpinBox(decimals=1, minimum=80.0, maximum=100.0, singleStep=0.5, suffix=" %")
        self.threshold.setToolTip("Pairs at least this similar (cosine similarity of their embeddings). At first "
                                  "it is set from this folder: the similarity that only the most similar 1 % of "
                                  "images reach with their nearest neighbour.")
        self.threshold.valueChanged.connect(lambda _value: setattr(self, "_from_data", False))
        self.find_button = QPushButton("Find")
        self.find_button.setDefault(True)
        self.find_button.clicked.connect(self.search)
        self.progress = QProgressBar(maximum=0, textVisible=False)
        self.progress.hide()
        self.status = QLabel(wordWrap=True)
        self.status.setProperty("role", "muted")
        self.pairs = QListWidget()
        self.pairs.setAlternatingRowColors(True)
        self.pairs.currentItemChanged.connect(self._on_pair_chosen)
        self.model = ImageSubsetModel(source, self)
        self.strip = ImageStrip(self.model)
        self.show_button = QPushButton("Show on the Map")
        self.show_button.setEnabled(False)
        self.show_button.clicked.connect(self._show_pair)
        top = QHBoxLayout()
        top.addWidget(QLabel("Similarity at least"))
        top.addWidget(self.threshold)
        top.addWidget(self.find_button)
        top.addWidget(self.progress, 1)
        splitter = QSplitter()
        splitter.addWidget(self.pairs)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.strip, 1)
        right_layout.addWidget(self.show_button)
        splitter.addWidget(right)
        splitter.setSizes([360, 440])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)

    def open_for(self, features, paths: list[str], source_rows: dict[str, int]) -> None:
        """Review the near-duplicates among ``features`` (row i is ``paths[i]``)."""
        self._features, self._paths, self._source_rows = features, list(paths), source_rows
        self.show()
        self.raise_()
        if not self.pairs.count() and not self.jobs.busy():
            self.search()

    def search(self) -> bool:
        if self._features is None or self.jobs.busy():
            return False
        self.jobs.start(find_near_duplicates, self._features, None if self._from_data else self.threshold.value() / 100)
        self.find_button.setEnabled(False)
        self.progress.setMaximum(0)
        self.progress.show()
        self.status.setText("Comparing every image with every other…")
        return True

    def set_pairs(self, pairs: list, threshold: float) -> None:
        chosen_by_data, self._from_data = self._from_data, False
        self.threshold.blockSignals(True)
        self.threshold.setValue(threshold * 100)
        self.threshold.blockSignals(False)
        self.pairs.clear()
        for pair in pairs:
            first, second = self._paths[pair.first], self._paths[pair.second]
            item = QListWidgetItem(f"{pair.similarity:.1%}   {first}  ↔  {second}")
            item.setData(Qt.ItemDataRole.UserRole, [first, second])
            self.pairs.addItem(item)
        origin = " (set from this folder: only its most similar 1 % of images reach it)" if chosen_by_data else ""
        self.status.setText(f"{len(pairs):,} pair{'s' if len(pairs) != 1 else ''} at {threshold:.1%} or more{origin}, "
                            "the most similar first. Choose one to compare the two images." if pairs else
                            f"No pair of images is {threshold:.1%} similar or more{origin}.")
        if pairs:
            self.pairs.setCurrentRow(0)


    def reject(self) -> None:
        if self.jobs.busy():
            self.jobs.discard()
            self.status.setText("Stopped.")
        super().reject()

    def _on_progress(self, event) -> None:
        self.progress.setMaximum(event.total)
        self.progress.setValue(event.step)

    def _on_ended(self) -> None:
        self.find_button.setEnabled(not self.jobs.busy())
        self.progress.setVisible(self.jobs.busy())

    def _on_pair_chosen(self, item) -> None:
        paths = item.data(Qt.ItemDataRole.UserRole) if item is not None else []
        self.model.set_rows([self._source_rows[p] for p in paths if p in self._source_rows])
        self.show_button.setEnabled(bool(paths))

    def _show_pair(self) -> None:
        item = self.pairs.currentItem()
        if item is not None:
            self.pair_picked.emit(item.data(Qt.ItemDataRole.UserRole))
