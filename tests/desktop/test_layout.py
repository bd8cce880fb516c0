"""Every page holds together in a small window: nothing clipped, nothing jumps, both themes legible."""
from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QPoint, QRect, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QApplication, QCheckBox, QHBoxLayout, QScrollArea, QStyle, QStyleOptionButton, QToolButton, QVBoxLayout, QWidget,
)

from desktop.common.theme import apply_theme
from desktop.common.thumbnails import THUMB_SIZE
from desktop.common.training_plots import TrainingPlots
from desktop.label.class_panel import ClassPanel
from desktop.label.label_grid import SMALLEST_EDGE
from engine.store.project import ClassInfo
from tests.desktop.window_helpers import open_and_scan
from tests.image_files import write_shape_images

SMALL = (1024, 700)
LARGE = (1440, 900)


def settle() -> None:
    """Deliver the posted layout requests, so geometries are final."""
    QCoreApplication.sendPostedEvents()


def show_page(window, page, size=SMALL) -> None:
    window.resize(*size)
    window.pages.setCurrentWidget(page)
    settle()


def reachable(widget: QWidget, window) -> bool:
    """Whole inside the window, once the scroll area holding it (if any) has scrolled to it."""
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QScrollArea):
        parent = parent.parentWidget()
    if parent is not None:
        parent.ensureWidgetVisible(widget, 0, 0)
        settle()
    rect = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
    unclipped = widget.visibleRegion().boundingRect() == widget.rect()
    return widget.isVisible() and window.rect().contains(rect) and unclipped


def test_the_window_fits_1024_by_700_with_every_section_open(window):
    window.pretrain_page.form.advanced_toggle.setChecked(True)
    settle()
    hint = window.minimumSizeHint()
    assert hint.width() <= SMALL[0] and hint.height() <= SMALL[1]
    window.resize(*SMALL)
    settle()
    assert (window.width(), window.height()) == SMALL


def test_at_1024_by_700_the_label_panels_and_the_pretrain_buttons_can_be_reached(window):
    label = window.label_page
    show_page(window, label)
    for widget in (label.finetune.train_button, label.finetune.stop_button, label.finetune.mode,
                   label.finetune.accept_button, label.classes.add_button, label.classes.delete_button):
        assert reachable(widget, window), widget
    pretrain = window.pretrain_page
    pretrain.form.advanced_toggle.setChecked(True)
    show_page(window, pretrain)
    for widget in (pretrain.start_button, pretrain.pause_button, pretrain.stop_button, pretrain.form.compile,
                   pretrain.form.torchrun.copy_button):
        assert reachable(widget, window), widget


def thumbnails_per_row(grid) -> int:
    """How many thumbnails the grid lays out side by side in its first row (all of them whole)."""
    rects = [grid.visualRect(grid.model().index(row)) for row in range(grid.model().rowCount())]
    first_row = [rect for rect in rects if rect.top() == rects[0].top()]
    assert all(0 <= rect.left() and rect.right() < grid.viewport().width() for rect in first_row)
    return len(first_row)


def test_the_label_grid_shows_four_thumbnails_a_row_at_1024_by_700_and_more_at_1440(qtbot, window, tmp_path):
    write_shape_images(tmp_path / "images", 30, seed=4)
    open_and_scan(qtbot, window, tmp_path / "images")
    label = window.label_page
    show_page(window, label)
    small = thumbnails_per_row(label.grid)
    assert small >= 4
    for widget in (label.classes.delete_button, label.finetune.train_button, label.finetune.accept_button):
        assert reachable(widget, window), widget
    show_page(window, label, LARGE)
    assert thumbnails_per_row(label.grid) > small
    assert SMALLEST_EDGE <= label.grid.itemDelegate().edge <= THUMB_SIZE


def test_a_label_column_the_user_widened_keeps_its_width_in_a_smaller_window(qtbot, window):
    label = window.label_page
    show_page(window, label, LARGE)
    splitter = label.side_fit.splitter
    handle = splitter.handle(2)                      # between the centre and the fine-tune column
    start = handle.rect().center()
    qtbot.mousePress(handle, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(handle, start - QPoint(80, 0))
    qtbot.mouseRelease(handle, Qt.MouseButton.LeftButton, pos=start - QPoint(80, 0))
    widened = splitter.sizes()[2]
    assert widened >= 290 + 70
    show_page(window, label, SMALL)
    assert splitter.sizes()[2] == widened


def test_the_step_sidebar_is_a_rail_of_icons_over_titles_in_a_narrow_window(window):
    sidebar = window.sidebar
    titles = [sidebar.item(row).text() for row in range(sidebar.count())]
    show_page(window, window.data_page, LARGE)
    wide = sidebar.width()
    show_page(window, window.data_page)
    assert sidebar.width() < wide / 2
    assert [sidebar.item(row).text() for row in range(sidebar.count())] == titles     # still named
    for row in range(sidebar.count()):
        rect = sidebar.visualItemRect(sidebar.item(row))
        assert 0 <= rect.left() and rect.right() < sidebar.viewport().width()
    show_page(window, window.data_page, LARGE)
    assert sidebar.width() == wide


def test_a_banner_appearing_or_going_moves_nothing_on_any_page(window):
    for page in (window.data_page, window.pretrain_page, window.label_page, window.export_page):
        show_page(window, page)
        before = {child: child.mapTo(window, QPoint(0, 0)) for child in page.findChildren(QWidget)
                  if child.isVisible()}
        page.banner.show_message("warning", "A message long enough to wrap onto a second line at this width, "
                                 "as the messages after an undo, an apply or an export often are. " * 2,
                                 details="details", actions=[("Act", lambda: None)])
        settle()
        bar = page.banner.bar()
        assert bar.isVisible() and bar.height() > 30
        assert bar.mapTo(window, QPoint(0, 0)) == page.banner.mapTo(window, QPoint(0, 0))
        moved = [child for child, point in before.items() if child.mapTo(window, QPoint(0, 0)) != point]
        assert moved == []
        page.banner.dismiss()
        settle()
        assert not bar.isVisible()
        assert all(child.mapTo(window, QPoint(0, 0)) == point for child, point in before.items())


def test_a_one_line_message_fits_the_room_kept_for_it_and_covers_nothing(window):
    page = window.label_page
    show_page(window, page)
    page.banner.show_message("success", "Labeled 3 images as shirt.", actions=[("Undo", lambda: None)])
    settle()
    bar = page.banner.bar()
    assert bar.geometry() == page.banner.geometry() and page.banner.height() > 20


def test_an_unchecked_check_box_stands_out_from_the_dark_background(qtbot):
    app = QApplication.instance()
    apply_theme(app, "dark")
    try:
        holder = QWidget()
        qtbot.addWidget(holder)
        box = QCheckBox("Compile")
        QVBoxLayout(holder).addWidget(box)
        holder.show()
        qtbot.waitExposed(holder)
        option = QStyleOptionButton()
        option.initFrom(box)
        indicator = box.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, box)
        image = box.grab().toImage()
        background = holder.palette().window().color()
        contrast = max(max(abs(QColor(image.pixel(x, y)).lightness() - background.lightness())
                           for y in range(indicator.top(), indicator.bottom() + 1))
                       for x in range(indicator.left(), indicator.right() + 1))
        assert contrast >= 30
    finally:
        apply_theme(app, "light")


def test_training_charts_take_another_row_rather_than_run_past_a_narrow_pane(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.show()
    qtbot.waitExposed(plots)
    plots.collapse_healthy = 0.088
    for step in range(1, 6):     # the spread's title then carries its value and verdict: a long title
        plots.add(step, {"loss": 5 - step / 10, "lr": 0.06, "images_per_s": 60, "data_wait": 0.1,
                         "collapse": 0.084}, total=22)
    plots.refresh()
    qtbot.waitUntil(lambda: ":" in plots._plots["collapse"].titleLabel.text)

    def rights() -> list[float]:
        settle()
        return [plot.sceneBoundingRect().right() for plot in plots._plots.values()]

    for width in (1000, 380, 520, 1000):
        plots.resize(width, 500)
        qtbot.waitUntil(lambda: max(rights()) <= plots.view.viewport().width() + 1)
        assert min(rights()) > 0
    assert len(plots.view.ci.items) == 2        # wide again: two rows, no empty third one taking height
    assert plots.minimumHeight() >= 2 * 100


def test_the_class_buttons_stay_put_when_the_first_class_arrives(qtbot):
    panel = ClassPanel()
    qtbot.addWidget(panel)
    panel.resize(240, 420)
    panel.show()
    qtbot.waitExposed(panel)
    settle()
    before = panel.add_button.mapTo(panel, QPoint(0, 0))
    panel.set_classes([ClassInfo("cat", "#e6194b", 0)], {"cat": 2})
    settle()
    assert panel.list.isVisible() and not panel.empty_hint.isVisible()
    assert panel.add_button.mapTo(panel, QPoint(0, 0)) == before


def test_the_active_map_tool_stands_out_in_the_dark_theme(qtbot):
    app = QApplication.instance()
    apply_theme(app, "dark")
    try:
        holder = QWidget()
        qtbot.addWidget(holder)
        row = QHBoxLayout(holder)
        tools = []
        for text, checked in (("Pan", True), ("Box", False)):
            tool = QToolButton(text=text, checkable=True, checked=checked)
            tool.setProperty("role", "mode")
            row.addWidget(tool)
            tools.append(tool)
        holder.show()
        qtbot.waitExposed(holder)
        active, other = (tool.grab().toImage() for tool in tools)
        inside = QPoint(4, active.height() // 2)
        assert abs(QColor(active.pixel(inside)).lightness() - QColor(other.pixel(inside)).lightness()) >= 40
    finally:
        apply_theme(app, "light")
