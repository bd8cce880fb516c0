"""Live training curves: the data grows per step, the screen repaints on a timer (~4 Hz)."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QVBoxLayout, QWidget

from desktop.common import sticky_range
from desktop.common.theme import ACCENT

REFRESH_MS = 250
ROW_HEIGHT = 125    # the least height of a row of plots, so a chart never flattens to a line
EMA_BETA = 0.95
TEAL = QColor("#1e9e8f")
ORANGE = QColor("#d9822b")


class Series:
    """A growing (x, y) series in amortised O(1) per point."""

    def __init__(self) -> None:
        self._data = np.empty((2, 1024))
        self.size = 0

    def append(self, x: float, y: float) -> None:
        if self.size == self._data.shape[1]:
            self._data = np.concatenate([self._data, np.empty_like(self._data)], axis=1)
        self._data[:, self.size] = (x, y)
        self.size += 1

    @property
    def x(self) -> np.ndarray:
        return self._data[0, :self.size]

    @property
    def y(self) -> np.ndarray:
        return self._data[1, :self.size]

    def clear(self) -> None:
        self.size = 0


RAW_LOSS = QColor(ACCENT.red(), ACCENT.green(), ACCENT.blue(), 90)
# the key of the loss plot's two lines sits in its title, where no curve runs under it
LOSS_TITLE = (f"Loss \u00a0 <span style='color:{ACCENT.name()}'>\u2501</span> smoothed \u00a0 <span style='color:rgba("
              f"{RAW_LOSS.red()},{RAW_LOSS.green()},{RAW_LOSS.blue()},{RAW_LOSS.alphaF():.2f})'>\u2501</span> raw")
COLLAPSE_ALARM = 0.25       # the spread is too low below this share of its healthy value
PANEL_HELP = {
    "loss": "How badly the model does its training task (lower is better): it should fall fast, then "
            "slowly; the bold line is the smoothed loss.",
    "lr": "The learning rate, how big each update of the weights is: it warms up at the start, then "
          "decays towards zero by the end of the run.",
    "images_per_s": "Training speed: images processed per second.",
    "data_wait": "Share of the time spent waiting for images to be loaded: high values mean the disk or "
                 "the decoding, not the model, sets the speed.",
    "collapse": "How different the embeddings of different images are; if it falls towards 0, every image "
                "gets the same embedding (a collapse) and the model has learned nothing useful.",
}


def spread_verdict(spread: float, healthy: float) -> str:
    """"fine" or "too low" for the embedding spread against its ``healthy`` value ("" when
    that is not known yet)."""
    if not healthy:
        return ""
    return "fine" if spread >= COLLAPSE_ALARM * healthy else "too low"


class TitleLabel(pg.LabelItem):
    """A plot title that does not hold its plot wider than the pane: a long title (one with a value
    and a verdict in it) overhangs its plot instead of pushing the charts past the pane's edge."""

    def updateMin(self) -> None:  # noqa: N802 - pyqtgraph API
        super().updateMin()
        self.setMinimumWidth(0)
        self._sizeHint[Qt.SizeHint.MinimumSize] = (0, self._sizeHint[Qt.SizeHint.MinimumSize][1])


class TrainingPlots(QWidget):
    """Loss (raw and smoothed), learning rate, images/s, data-wait % and the collapse metric."""

    SERIES = ("loss", "loss_ema", "lr", "images_per_s", "data_wait", "collapse")
    PANELS = ("loss", "lr", "images_per_s", "data_wait", "collapse")

    def __init__(self, parent: QWidget | None = None, panels: tuple = PANELS, ema_beta: float = EMA_BETA,
                 x_label: str = "step") -> None:
        """``panels``: which plots to show (a subset of :attr:`PANELS`, e.g. ``("loss",)``)."""
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        self.series = {name: Series() for name in self.SERIES}
        self._ema_beta = ema_beta
        self._x_label = x_label
        self._ema = 0.0
        self._ema_weight = 0.0
        self._stale: set[str] = set()    # plots with points not drawn yet
        self._ranges: dict[str, tuple] = {}  # plot -> (x range, y range) shown
        self.total_steps = 0
        self._turn = 0
        self.collapse_healthy = 0.0
        self.view = pg.GraphicsLayoutWidget()
        self.view.ci.setSpacing(10)
        self._plots: dict[str, pg.PlotItem] = {}
        rows = (self.view.ci.addLayout(row=0, col=0), None)
        if set(panels) & {"images_per_s", "data_wait", "collapse"}:
            rows = (rows[0], self.view.ci.addLayout(row=1, col=0))
        self._rows = rows
        titles = {"loss": LOSS_TITLE, "lr": "Learning rate", "images_per_s": "Images / s",
                  "data_wait": "Waiting for data (%)", "collapse": "Embedding spread (collapse → 0)"}
        columns = [0, 0]
        for name in self.PANELS:
            if name in panels:
                row = 0 if name in ("loss", "lr") else 1
                self._plot(rows[row], columns[row], name, titles[name], stretch=2 if name == "loss" else 1)
                columns[row] += 1
        pens = {
            "loss": pg.mkPen(RAW_LOSS),
            "loss_ema": pg.mkPen(ACCENT, width=2.5), "lr": pg.mkPen(TEAL, width=2),
            "images_per_s": pg.mkPen(TEAL, width=2), "data_wait": pg.mkPen(ORANGE, width=2),
            "collapse": pg.mkPen(ACCENT, width=2),
        }
        self.curves = {}
        for name in self.SERIES:
            plot = self._plots.get("loss" if name == "loss_ema" else name)
            if plot is not None:
                self.curves[name] = plot.plot(pen=pens[name])
        self.healthy_line = pg.InfiniteLine(angle=0, movable=False,
                                            pen=pg.mkPen(TEAL, width=1, style=Qt.PenStyle.DashLine),
                                            label="healthy", labelOpts={"position": 0.1, "color": TEAL})
        self.healthy_line.hide()
        if "collapse" in self._plots:
            self._plots["collapse"].addItem(self.healthy_line)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._apply_palette()
        self._moved: pg.PlotItem | None = None     # the second row's last plot, on a row of its own when narrow
        self._third_row: pg.GraphicsLayout | None = None
        self.setMinimumHeight(ROW_HEIGHT * sum(row is not None for row in rows))
        # One plot per tick, in turn: each plot still redraws every REFRESH_MS, but the GUI
        # thread never repaints all the axes at once (that burst alone was a 100+ ms stall).
        self.timer = QTimer(self, interval=max(1, REFRESH_MS // len(self._plots)))
        self.timer.timeout.connect(self._refresh_next_plot)
        self.timer.start()

    def _plot(self, row: pg.GraphicsLayout, col: int, name: str, title: str, stretch: int = 1) -> pg.PlotItem:
        plot = row.addPlot(col=col)
        plot.layout.removeItem(plot.titleLabel)
        plot.scene().removeItem(plot.titleLabel)
        plot.titleLabel = TitleLabel("", size="11pt", parent=plot)
        plot.layout.addItem(plot.titleLabel, 0, 1)
        plot.setTitle(title)
        plot.setToolTip(PANEL_HELP[name])
        row.layout.setColumnStretchFactor(col, stretch)
        plot.setDownsampling(auto=True, mode="peak")
        plot.setClipToView(True)
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setMenuEnabled(False)
        plot.disableAutoRange()               # ranges follow the data in _fit (sticky_range)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.setLabel("bottom", self._x_label)
        self._plots[name] = plot
        return plot

    def add(self, step: int, metrics: dict, total: int = 0) -> None:
        """Record one step's metrics, by name (a step payload's ``as_dict()`` or a metrics.jsonl
        row; ``total``: the planned steps, 0 when unknown); nothing is drawn until the next refresh."""
        self.total_steps = total or self.total_steps
        loss = metrics.get("loss")
        if loss is not None and math.isfinite(loss):
            beta = self._ema_beta
            self._ema = beta * self._ema + (1 - beta) * loss
            self._ema_weight = beta * self._ema_weight + (1 - beta)
            self.series["loss"].append(step, loss)
            self.series["loss_ema"].append(step, self._ema / self._ema_weight)
        for name, scale in (("lr", 1.0), ("images_per_s", 1.0), ("data_wait", 100.0), ("collapse", 1.0)):
            value = metrics.get(name)
            if value is not None and math.isfinite(value):
                self.series[name].append(step, value * scale)
        healthy = metrics.get("collapse_healthy")
        if healthy:
            self.collapse_healthy = healthy
        self._stale.update(self._plots)

    def load(self, rows: list[dict]) -> None:
        """Add a run's recorded history (``metrics.jsonl`` rows that have a step and a loss)."""
        for row in rows:
            if "step" in row and "lr" in row:
                self.add(int(row["step"]), row)
        self.finish()

    def finish(self) -> None:
        """The run ended (or its history was loaded): the x axes end at its last step rather
        than at the planned total."""
        last = max((float(s.x[-1]) for s in self.series.values() if s.size), default=0.0)
        if last:
            self.total_steps = last
            self._stale.update(self._plots)
        self.refresh()

    def clear(self) -> None:
        for series in self.series.values():
            series.clear()
        self._ranges.clear()
        self.total_steps = 0
        self._ema = self._ema_weight = 0.0
        self.collapse_healthy = 0.0
        self._stale.update(self._plots)
        self.refresh()

    def x_end(self, plot: str = "loss") -> float:
        """The last step that ``plot``'s x axis shows."""
        return float(self._plots[plot].viewRange()[0][1])

    def drawn_points(self) -> int:
        """How many loss points the plot currently shows."""
        x, _y = self.curves["loss"].getData()
        return 0 if x is None else len(x)

    def refresh(self) -> None:
        """Draw every plot that has new points now."""
        for plot in list(self._stale):
            self._draw(plot)

    def _refresh_next_plot(self) -> None:
        names = list(self._plots)
        plot = names[self._turn % len(names)]
        self._turn += 1
        if plot in self._stale:
            self._draw(plot)

    def _draw(self, plot: str) -> None:
        self._stale.discard(plot)
        drawn = [name for name in self.curves if ("loss" if name == "loss_ema" else name) == plot]
        for name in drawn:
            self.curves[name].setData(self.series[name].x, self.series[name].y)  # views: points never change
        self._fit(plot, [self.series[name] for name in drawn if self.series[name].size])
        if plot == "collapse":
            self.healthy_line.setValue(self.collapse_healthy)
            self.healthy_line.setVisible(bool(self.collapse_healthy))
            self._judge_spread()

    def _judge_spread(self) -> None:
        """Say in the spread plot's title and tool tip whether its last value is fine."""
        series = self.series["collapse"]
        verdict = spread_verdict(float(series.y[-1]), self.collapse_healthy) if series.size else ""
        title = "Embedding spread (collapse → 0)"
        help_text = PANEL_HELP["collapse"]
        if verdict:
            title += f": {series.y[-1]:.3f}, {verdict}"
            help_text += f" Now {series.y[-1]:.3f}: {verdict} (healthy is about {self.collapse_healthy:.3f})."
        self._plots["collapse"].setTitle(title)
        self._plots["collapse"].setToolTip(help_text)
        self._fit_rows()        # a longer title may need a row of its own

    def _fit(self, plot: str, series: list) -> None:
        """Move the plot's ranges only when its data needs it (see :mod:`sticky_range`)."""
        if not series:
            return
        x_now, y_now = self._ranges.get(plot, ((0.0, 0.0), None))
        x_new = sticky_range.x_range(x_now[1], max(s.x[-1] for s in series), self.total_steps)
        if plot == "data_wait":
            y_new = (0.0, 100.0)
        else:
            low, high = min(float(s.y.min()) for s in series), max(float(s.y.max()) for s in series)
            if plot == "collapse" and self.collapse_healthy:
                low, high = min(low, self.collapse_healthy), max(high, self.collapse_healthy)
            y_new = sticky_range.y_range(y_now, low, high)
        if (x_new, y_new) != (x_now, y_now):
            self._ranges[plot] = (x_new, y_new)
            self._plots[plot].setRange(xRange=x_new, yRange=y_new, padding=0)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit_rows()

    def _fit_rows(self) -> None:
        """Too narrow for every plot of the second row side by side: its last plot gets a row of its own,
        so no chart runs past the right edge; wide enough again, it goes back."""
        row = self._rows[1]
        if row is None:
            return
        second = list(row.items) + ([self._moved] if self._moved is not None else [])
        narrow = self.width() < max(self._width_for(list(self._rows[0].items)), self._width_for(second))
        if narrow == (self._moved is not None):
            return
        if narrow:
            if len(row.items) < 2:
                return
            self._moved = max(row.items, key=lambda plot: row.items[plot][0][1])    # by its column
            row.removeItem(self._moved)
            self._third_row = self.view.ci.addLayout(row=2, col=0)
            self._third_row.addItem(self._moved, row=0, col=0)
            self.setMinimumHeight(3 * ROW_HEIGHT)
        else:
            self._third_row.removeItem(self._moved)
            self.view.ci.removeItem(self._third_row)     # an empty row would still take its share of the height
            row.addItem(self._moved, row=0, col=len(row.items))
            self._moved, self._third_row = None, None
            self.setMinimumHeight(2 * ROW_HEIGHT)
        for layout in (row, self.view.ci):    # their minimum widths changed
            layout.layout.invalidate()
            layout.updateGeometry()
        self.view.ci.setGeometry(QRectF(self.view.viewport().rect()))

    def _width_for(self, plots: list) -> float:
        """The width ``plots`` need side by side with their whole titles."""
        spacing = self.view.ci.layout.horizontalSpacing() * (len(plots) - 1) + 8
        return spacing + sum(plot.effectiveSizeHint(Qt.SizeHint.MinimumSize).width()
                             + plot.titleLabel.effectiveSizeHint(Qt.SizeHint.PreferredSize).width() for plot in plots)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()

    def _apply_palette(self) -> None:
        palette = self.palette()
        self.view.setBackground(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.Text)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        for plot in self._plots.values():
            plot.setTitle(plot.titleLabel.text, color=text.name(), size="10pt")
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setPen(muted)
                plot.getAxis(axis).setTextPen(muted)
