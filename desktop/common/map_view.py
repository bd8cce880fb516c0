"""The embedding map itself: a pyqtgraph scatter of every image that stays interactive at
100k points.

Each colour group is one ``ScatterPlotItem`` with a single brush and no outline (pyqtgraph's
fast path). Hit-testing (hover and click) is a vectorised nearest-point search in screen
units over the positions, never a per-item query. Drag modes: "pan" (drag pans, wheel
zooms, click picks one image), "lasso" and "box" (drag encloses points; Ctrl adds to the
selection).
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QFrame, QGraphicsPathItem, QLabel, QVBoxLayout, QWidget

from desktop.common.map_colours import UNKNOWN_COLOUR, ColourGroup
from desktop.common.theme import ACCENT
from engine.maps.lasso import points_in_polygon, rectangle

POINT_SIZE = 5
HIT_PIXELS = 8


class _Dots(pg.ScatterPlotItem):
    """A scatter that leaves clicks to the view box (pyqtgraph's own hit test is per point)."""

    def mouseClickEvent(self, event) -> None:  # noqa: N802 - pyqtgraph API
        event.ignore()


class _MapViewBox(pg.ViewBox):
    """A view box whose left drag draws a lasso or a box outside "pan" mode."""

    def __init__(self, view: "MapView") -> None:
        super().__init__(enableMenu=False)
        self._view = view
        self.mode = "pan"
        self._trace: list[QPointF] = []
        self.outline = QGraphicsPathItem()
        pen = QPen(ACCENT, 1.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.outline.setPen(pen)
        self.outline.setZValue(10)
        self.addItem(self.outline, ignoreBounds=True)

    def mouseDragEvent(self, event, axis=None) -> None:  # noqa: N802 - pyqtgraph API
        if self.mode == "pan" or event.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(event, axis)
            return
        event.accept()
        here = self.mapSceneToView(event.scenePos())
        if event.isStart():
            self._trace = [self.mapSceneToView(event.buttonDownScenePos())]
            self._view.end_hover()
        self._trace = self._trace[:1] + [here] if self.mode == "box" else self._trace + [here]
        polygon = self._polygon()
        path = QPainterPath()
        path.moveTo(*polygon[0])
        for x, y in polygon[1:]:
            path.lineTo(x, y)
        path.closeSubpath()
        self.outline.setPath(path)
        if event.isFinish():
            self.outline.setPath(QPainterPath())
            additive = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
            self._view.select_polygon(polygon, additive)

    def mouseClickEvent(self, event) -> None:  # noqa: N802 - pyqtgraph API
        if event.button() == Qt.MouseButton.LeftButton:
            event.accept()
            self._view.click_at(self.mapSceneToView(event.scenePos()))
        else:
            super().mouseClickEvent(event)

    def _polygon(self) -> np.ndarray:
        points = [(p.x(), p.y()) for p in self._trace]
        return rectangle(points[0], points[-1]) if self.mode == "box" else np.array(points, dtype=np.float64)


class MapView(QWidget):
    """``clicked(row)`` when a point is clicked; ``selection_changed`` after a lasso or box;
    ``hovered(row)`` (-1 when the pointer leaves every point)."""

    clicked = Signal(int)
    selection_changed = Signal()
    hovered = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.xy = np.zeros((0, 2), dtype=np.float32)
        self.selected = np.zeros(0, dtype=bool)
        self._hovered = -1
        self.box = _MapViewBox(self)
        self.plot = pg.PlotWidget(viewBox=self.box)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setAspectLocked(False)
        self._groups: list[_Dots] = []
        base = QColor(UNKNOWN_COLOUR)
        base.setAlpha(150)
        self._base = _Dots(size=POINT_SIZE, pen=None, brush=pg.mkBrush(base), antialias=False)
        self._base.setZValue(-1)
        self.plot.addItem(self._base)
        self._highlight = _Dots(size=POINT_SIZE + 5, brush=None, antialias=False)
        self._highlight.setZValue(5)
        self.plot.addItem(self._highlight)
        self.tip = QFrame(self.plot)
        self.tip.setObjectName("mapTip")
        self.tip.setFrameShape(QFrame.Shape.StyledPanel)
        self.tip.setAutoFillBackground(True)
        self.tip.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.tip_image = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.tip_caption = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        tip_layout = QVBoxLayout(self.tip)
        tip_layout.setContentsMargins(6, 6, 6, 4)
        tip_layout.setSpacing(2)
        tip_layout.addWidget(self.tip_image)
        tip_layout.addWidget(self.tip_caption)
        self.tip.hide()
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self._apply_palette()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()

    def _apply_palette(self) -> None:
        palette = self.palette()
        self.plot.setBackground(palette.color(QPalette.ColorRole.Base))
        self._highlight.setPen(pg.mkPen(palette.color(QPalette.ColorRole.Highlight), width=1.5))   # as the grid

    # --- content -------------------------------------------------------------------------------
    def set_points(self, xy: np.ndarray) -> None:
        """New positions ``(N, 2)``; the selection is kept when the count is the same."""
        same = len(xy) == len(self.xy)
        self.xy = np.asarray(xy, dtype=np.float32)
        if not same:
            self.selected = np.zeros(len(self.xy), dtype=bool)
        self._base.setData(x=self.xy[:, 0], y=self.xy[:, 1])
        self._draw_selection()
        if len(self.xy):
            low, high = self.xy.min(0).tolist(), self.xy.max(0).tolist()
            self.box.setRange(xRange=(low[0], high[0]), yRange=(low[1], high[1]), padding=0.04)

    def set_groups(self, groups: list[ColourGroup]) -> None:
        """Draw the points in ``groups`` (each a colour and its rows), first group at the bottom.

        While most points are in the grey "no value" group, they are drawn by a grey base
        layer of every point, set once per layout, and only the coloured groups are rebuilt:
        labeling a few of 100k points then redraws a few points, not 100k."""
        for item in self._groups:
            self.plot.removeItem(item)
        self._groups = []
        grey = next((group for group in groups if group.colour == UNKNOWN_COLOUR), None)
        use_base = grey is not None and 2 * len(grey.rows) > len(self.xy)
        self._base.setVisible(use_base)
        for z, group in enumerate(groups):
            if use_base and group is grey:
                continue
            colour = QColor(group.colour)
            colour.setAlpha(150 if group is grey else 220)
            item = _Dots(x=self.xy[group.rows, 0], y=self.xy[group.rows, 1], size=POINT_SIZE, pen=None,
                         brush=pg.mkBrush(colour), antialias=False)
            item.setZValue(z * 1e-3)
            self.plot.addItem(item)
            self._groups.append(item)

    def set_mode(self, mode: str) -> None:
        """"pan", "lasso" or "box"."""
        self.box.mode = mode
        self.plot.setCursor(Qt.CursorShape.ArrowCursor if mode == "pan" else Qt.CursorShape.CrossCursor)

    # --- selection -----------------------------------------------------------------------------
    def select_polygon(self, polygon: np.ndarray, additive: bool = False) -> int:
        """Select the points inside ``polygon`` ``(V, 2)`` (in map coordinates); return how many."""
        inside = points_in_polygon(self.xy, polygon)
        self.end_hover()
        self.selected = (self.selected | inside) if additive else inside
        self._draw_selection()
        self.selection_changed.emit()
        return int(inside.sum())

    def set_selected_rows(self, rows) -> None:
        """Show ``rows`` as selected (e.g. the grid's selection) without emitting a change."""
        self.selected = np.zeros(len(self.xy), dtype=bool)
        self.selected[np.asarray(list(rows), dtype=np.int64)] = True
        self._draw_selection()

    def selected_rows(self) -> np.ndarray:
        return np.nonzero(self.selected)[0]

    def clear_selection(self) -> None:
        self.selected[:] = False
        self._draw_selection()
        self.selection_changed.emit()

    def _draw_selection(self) -> None:
        rows = self.selected_rows()
        self._highlight.setData(x=self.xy[rows, 0], y=self.xy[rows, 1])

    # --- pointer -------------------------------------------------------------------------------
    def row_at(self, point: QPointF) -> int:
        """The point nearest ``point`` (map coordinates) within ``HIT_PIXELS`` on screen, or -1."""
        if not len(self.xy):
            return -1
        width, height = self.box.viewPixelSize()
        dx = (self.xy[:, 0] - point.x()) / max(width, 1e-12)
        dy = (self.xy[:, 1] - point.y()) / max(height, 1e-12)
        distance = dx * dx + dy * dy
        row = int(np.argmin(distance))
        return row if distance[row] <= HIT_PIXELS ** 2 else -1

    def click_at(self, point: QPointF) -> None:
        row = self.row_at(point)
        if row >= 0:
            self.clicked.emit(row)

    def show_tip(self, pixmap: QPixmap | None, text: str) -> None:
        """Fill the hover tip (a thumbnail over a caption) beside the pointer."""
        self.tip_image.setVisible(pixmap is not None)
        if pixmap is not None:
            self.tip_image.setPixmap(pixmap)
        self.tip_caption.setText(text)
        self.tip.adjustSize()

    def end_hover(self) -> None:
        """Hide the hover tip until the pointer next rests on a point (a lasso or box has its own
        feedback, and its end leaves no pointer move to hide the tip)."""
        if self._hovered >= 0 or self.tip.isVisible():
            self._hovered = -1
            self.tip.hide()
            self.hovered.emit(-1)

    def _on_mouse_moved(self, scene_pos) -> None:
        row = self.row_at(self.box.mapSceneToView(scene_pos)) if self.box.sceneBoundingRect().contains(scene_pos) else -1
        if row != self._hovered:
            self._hovered = row
            self.tip.setVisible(row >= 0)
            self.hovered.emit(row)
        if row >= 0:
            spot = self.plot.mapFromScene(scene_pos)
            x = spot.x() + 16 if spot.x() + 16 + self.tip.width() < self.plot.width() else spot.x() - 16 - self.tip.width()
            y = min(max(spot.y() - self.tip.height() // 2, 0), max(self.plot.height() - self.tip.height(), 0))
            self.tip.move(int(x), int(y))
