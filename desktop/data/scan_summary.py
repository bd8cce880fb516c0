"""What a scan found: the counts, the image sizes and modes, and the list of problems."""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

TOP_SIZES = 6
SKIPPED_SHOWN = 8


PROBLEMS_WIDTH = 420    # the least width of the pane while it lists problems


class ProblemsModel(QAbstractTableModel):
    """Rows of ``engine.data.scan.Problem``: path, reason, detail."""

    HEADERS = ("File", "Reason", "Detail")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._problems: list = []

    def set_problems(self, problems: list) -> None:
        self.beginResetModel()
        self._problems = list(problems)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self._problems)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.HEADERS)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if index.isValid() and role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            problem = self._problems[index.row()]
            return (problem.path or "(the folder itself)", problem.reason, problem.detail)[index.column()]
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None


def _card(title: str) -> tuple[QFrame, QLabel]:
    card = QFrame()
    card.setProperty("role", "card")
    value = QLabel("0")
    value.setProperty("role", "metric")
    caption = QLabel(title)
    caption.setProperty("role", "muted")
    layout = QVBoxLayout(card)
    layout.setContentsMargins(16, 10, 16, 10)
    layout.addWidget(value)
    layout.addWidget(caption)
    return card, value


def describe_sizes(report) -> str:
    sizes = report.size_histogram().most_common()
    if not sizes:
        return "—"
    text = ", ".join(f"{w} × {h} ({n:,})" for (w, h), n in sizes[:TOP_SIZES])
    return text + (f", and {len(sizes) - TOP_SIZES:,} more" if len(sizes) > TOP_SIZES else "")


def describe_skipped(report) -> str:
    """"notes.txt, a/readme.md and 3 more (not image files)"; "—" when nothing was skipped but
    hidden entries (the names beyond the shown ones are in the label's tool tip)."""
    names = report.skipped_names
    if not report.skipped_other:
        return "—"
    more = report.skipped_other - min(len(names), SKIPPED_SHOWN)
    shown = ", ".join(names[:SKIPPED_SHOWN]) or f"{report.skipped_other:,} files"
    return f"{shown}{f' and {more:,} more' if more > 0 and names else ''} (not image files)"


def describe_modes(report) -> str:
    modes = report.mode_histogram().most_common()
    return ", ".join(f"{mode} ({n:,})" for mode, n in modes) or "—"


class ScanCounts(QWidget):
    """Three cards: usable images, skipped files, broken files."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        cards = {}
        for name, title in (("images", "images"), ("skipped", "skipped (hidden or not images)"),
                            ("broken", "broken")):
            card, cards[name] = _card(title)
            layout.addWidget(card)
        self.images, self.skipped, self.broken = cards["images"], cards["skipped"], cards["broken"]

    def show_report(self, report) -> None:
        self.images.setText(f"{report.usable:,}")
        self.skipped.setText(f"{report.skipped_hidden + report.skipped_other:,}")
        self.broken.setText(f"{len(report.problems):,}")


class ScanDetails(QWidget):
    """Sizes and modes found, then the Problems table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sizes = QLabel(wordWrap=True)
        self.modes = QLabel(wordWrap=True)
        self.colour = QLabel()
        self.skipped = QLabel(wordWrap=True)
        facts = QGridLayout()
        for row, (name, label) in enumerate((("Sizes", self.sizes), ("Modes", self.modes), ("Colour", self.colour),
                                             ("Skipped", self.skipped))):
            caption = QLabel(name)
            caption.setProperty("role", "muted")
            facts.addWidget(caption, row, 0, Qt.AlignmentFlag.AlignTop)
            facts.addWidget(label, row, 1)
        facts.setColumnStretch(1, 1)
        self.problems_title = QLabel("Problems")
        self.problems_title.setProperty("role", "heading")
        self.problems_model = ProblemsModel(self)
        self.problems = QTableView()
        self.problems.setModel(self.problems_model)
        self.problems.verticalHeader().hide()
        self.problems.setWordWrap(False)
        self.problems.setTextElideMode(Qt.TextElideMode.ElideMiddle)    # long paths keep their file name
        self.problems.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.problems.setAlternatingRowColors(True)
        header = self.problems.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 110)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)      # the Detail column: the rest of the width
        self.no_problems = QLabel("Every image file could be read.")
        self.no_problems.setProperty("role", "muted")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 0, 0, 0)
        heading = QLabel("Found")
        heading.setProperty("role", "heading")
        layout.addWidget(heading)
        layout.addLayout(facts)
        layout.addSpacing(8)
        layout.addWidget(self.problems_title)
        layout.addWidget(self.no_problems)
        layout.addWidget(self.problems, 100)
        layout.addStretch(1)

    def show_report(self, report) -> None:
        self.sizes.setText(describe_sizes(report))
        self.modes.setText(describe_modes(report))
        self.colour.setText("grayscale (1 channel)" if report.grayscale else "colour (3 channels)")
        self.skipped.setText(describe_skipped(report))
        self.skipped.setToolTip("\n".join(report.skipped_names))
        self.show_problems(report.problems)

    def show_problems(self, problems: list) -> None:
        self.problems_model.set_problems(problems)
        self.problems_title.setText(f"Problems ({len(problems):,})")
        self.problems.setVisible(bool(problems))
        self.no_problems.setVisible(not problems)
        self.setMinimumWidth(PROBLEMS_WIDTH if problems else 0)     # room for the Detail column
