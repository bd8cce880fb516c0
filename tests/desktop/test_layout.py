"""Every page holds together in a small window: nothing clipped, nothing jumps, both themes legible."""
from __future__ import annotations

from types import SimpleNamespace

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QCoreApplication, QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractButton, QApplication, QCheckBox, QComboBox, QFrame, QHBoxLayout, QLineEdit, QRadioButton, QScrollArea,
    QSpinBox, QStyle, QStyleOptionButton, QStyleOptionComboBox, QToolButton, QVBoxLayout, QWidget,
)

from desktop.common.theme import WINDOW_ICONS, apply_theme
from desktop.common.thumbnails import THUMB_SIZE
from desktop.common.training_plots import TrainingPlots
from desktop.export.export_result import ExportResultView
from desktop.label.class_panel import ClassPanel
from desktop.label.label_grid import SMALLEST_EDGE
from engine.core.device import DeviceInfo
from engine.store.project import ClassInfo
from tests.desktop.window_helpers import open_and_scan
from tests.image_files import write_shape_images

SMALL = (1024, 700)
LARGE = (1440, 900)


@pytest.fixture
def dark(qtbot):
    """The dark theme for one test; the light one again afterwards."""
    app = QApplication.instance()
    apply_theme(app, "dark")
    yield
    apply_theme(app, "light")


def settle() -> None:
    """Deliver the posted layout requests, so geometries are final: a section shown while its page was
    hidden reaches a column fitted to its content a round or two later."""
    for _round in range(3):
        QCoreApplication.sendPostedEvents()


def show_page(window, page, size=SMALL) -> None:
    window.resize(*size)
    window.pages.setCurrentWidget(page)
    settle()


def in_view(widget: QWidget, window) -> bool:
    """Whole inside the window and unclipped as the page stands, without scrolling to it."""
    rect = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
    unclipped = widget.visibleRegion().boundingRect() == widget.rect()
    return widget.isVisible() and window.rect().contains(rect) and unclipped


def reachable(widget: QWidget, window) -> bool:
    """Whole inside the window, once the scroll area holding it (if any) has scrolled to it."""
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QScrollArea):
        parent = parent.parentWidget()
    if parent is not None:
        parent.ensureWidgetVisible(widget, 0, 0)
        settle()
    return in_view(widget, window)


def scroll_area_of(widget: QWidget) -> QScrollArea:
    parent = widget.parentWidget()
    while not isinstance(parent, QScrollArea):
        parent = parent.parentWidget()
    return parent


def edit_field_width(combo: QComboBox) -> int:
    """The width the combo box draws its current text in."""
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    return combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                        QStyle.SubControl.SC_ComboBoxEditField, combo).width()


def clipped_texts(page: QWidget) -> list[str]:
    """The choices of the page's combo boxes, and the check boxes and radio buttons, that are cut."""
    cut = [combo.itemText(row) for combo in page.findChildren(QComboBox) if combo.isVisible()
           for row in range(combo.count())
           if combo.fontMetrics().horizontalAdvance(combo.itemText(row)) > edit_field_width(combo)]
    return cut + [button.text() for button in page.findChildren(QAbstractButton)
                  if isinstance(button, (QCheckBox, QRadioButton)) and button.isVisible()
                  and button.width() < button.sizeHint().width()]


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


def test_the_pretrain_actions_stay_in_view_however_far_the_settings_scroll_at_1024_by_700(window):
    page = window.pretrain_page
    page.form.advanced_toggle.setChecked(True)
    page.continue_button.show()
    page.resume_banner.show_message("info", "This folder has an unfinished run.",
                                    actions=[("Resume", lambda: None), ("Start New", lambda: None)])
    show_page(window, page)
    bar = scroll_area_of(page.form).verticalScrollBar()
    assert bar.maximum() > 0       # Advanced is taller than the pane: the settings scroll
    for value in (bar.minimum(), bar.maximum() // 2, bar.maximum()):
        bar.setValue(value)
        settle()
        actions = [page.start_button, page.pause_button, page.stop_button, page.continue_button,
                   *page.resume_banner.action_buttons()]
        assert [button.text() for button in actions if not in_view(button, window)] == [], value


def test_the_pretrain_actions_follow_the_settings_at_1440_by_900_and_stay_put_as_a_run_fills_the_column(window):
    page = window.pretrain_page
    show_page(window, page, LARGE)
    settings_end = page.form.mapTo(window, QPoint(0, page.form.height())).y()
    start = page.start_button.mapTo(window, QPoint(0, 0)).y()
    assert 0 <= start - settings_end <= 3 * page.start_button.height()    # no empty stretch between them
    page.choices.setText("<br>".join(["<b>Run</b>: simclr · smallcnn"] * 8))   # what a run's Started shows
    page.choices.show()
    page.continue_button.show()
    settle()
    assert page.start_button.mapTo(window, QPoint(0, 0)).y() == start
    assert in_view(page.choices, window) and in_view(page.continue_button, window)


def test_a_disabled_text_field_looks_disabled_like_a_disabled_spin_box(qtbot):
    holder = QWidget()
    qtbot.addWidget(holder)
    column = QVBoxLayout(holder)
    enabled, disabled, spin = QLineEdit("runs"), QLineEdit("runs"), QSpinBox()
    for field in (enabled, disabled, spin):
        column.addWidget(field)
    disabled.setEnabled(False)
    spin.setEnabled(False)
    holder.show()
    qtbot.waitExposed(holder)

    def fill(field: QWidget) -> QColor:     # inside the frame, right of the text
        return QColor(field.grab().toImage().pixel(field.width() - 6, field.height() // 2))

    assert fill(disabled) != fill(enabled)
    assert fill(disabled).lightness() < fill(enabled).lightness()
    assert abs(fill(disabled).lightness() - fill(spin).lightness()) <= 6


def test_every_choice_and_check_box_shows_its_whole_text_at_1024_by_700_and_1440_by_900(qtbot, window, image_folder):
    open_and_scan(qtbot, window, image_folder)
    window.pretrain_page.form.advanced_toggle.setChecked(True)
    for size in (SMALL, (1440, 900)):
        for page in (window.data_page, window.pretrain_page, window.export_page):
            show_page(window, page, size)
            assert clipped_texts(page) == [], (type(page).__name__, size)


def test_a_long_device_name_is_cut_to_the_field_and_moves_nothing(window):
    page = window.pretrain_page
    page.form.advanced_toggle.setChecked(True)
    show_page(window, page)
    device = page.form.device
    before = (device.width(), page.start_button.mapTo(window, QPoint(0, 0)))
    name = "NVIDIA GeForce RTX 4090 Laptop GPU with a much longer marketing name (17.2 GB)"
    page.form.set_devices([DeviceInfo("cuda:0", "cuda", name), DeviceInfo("cpu", "cpu", "CPU (2 threads)")])
    settle()
    assert clipped_texts(page) == []
    assert (device.width(), page.start_button.mapTo(window, QPoint(0, 0))) == before
    assert device.itemText(1).endswith("…") and device.itemData(1, Qt.ItemDataRole.ToolTipRole) == name
    assert name in device.toolTip()      # the current choice, Automatic, names the device it picks


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


def test_an_unchecked_check_box_stands_out_from_the_dark_background(qtbot, dark):
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


def test_the_loss_chart_names_its_lines_in_its_title_not_in_a_legend_over_the_curve(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    loss = plots._plots["loss"]
    assert loss.legend is None and not [item for item in loss.vb.addedItems if isinstance(item, pg.LegendItem)]
    assert "smoothed" in loss.titleLabel.text and "raw" in loss.titleLabel.text


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


def test_the_active_map_tool_stands_out_in_the_dark_theme(qtbot, dark):
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


def lightness_range(image, rect: QRect) -> int:
    values = [QColor.fromRgba(image.pixel(x, y)).lightness() for x in range(rect.left(), rect.right() + 1)
              for y in range(rect.top(), rect.bottom() + 1) if QColor.fromRgba(image.pixel(x, y)).alpha() > 128]
    return max(values) - min(values) if values else 0


def test_the_window_button_icons_stand_out_on_both_themes(qtbot):
    app = QApplication.instance()
    try:
        for theme in ("dark", "light"):
            apply_theme(app, theme)
            background = app.palette().window().color().lightness()
            for icon in WINDOW_ICONS:
                image = app.style().standardIcon(icon).pixmap(16, 16).toImage()
                strokes = [QColor.fromRgba(image.pixel(x, y)).lightness() for x in range(16) for y in range(16)
                           if QColor.fromRgba(image.pixel(x, y)).alpha() > 128]
                assert strokes and max(abs(value - background) for value in strokes) >= 120, (theme, icon)
    finally:
        apply_theme(app, "light")


def test_a_text_field_on_a_card_shows_its_frame_on_the_dark_theme(qtbot, dark):
    card = QFrame()
    card.setProperty("role", "card")
    qtbot.addWidget(card)
    field = QLineEdit()
    QVBoxLayout(card).addWidget(field)
    card.show()
    qtbot.waitExposed(card)
    image = card.grab().toImage()
    left = field.geometry().left()
    middle = field.geometry().center().y()
    assert lightness_range(image, QRect(left - 3, middle, 8, 1)) >= 25   # the card, the frame, the field


def test_the_int8_table_shows_every_row_in_a_narrow_column(qtbot):
    int8 = SimpleNamespace(measure="cosine similarity", images=1000, value=0.9999, fp32_value=None,
                           size_bytes=420_000, fp32_size_bytes=1_570_000, latency_ms=0.07, fp32_latency_ms=0.11,
                           recommended="int8", path="/models/sample-embedding.int8.onnx")
    result = SimpleNamespace(kind="embedding", max_abs_diff=6e-7, tolerance=2e-4, batch_sizes=(1, 8),
                             images_checked=9, top1_agreement=None, metadata={"input_name": "input"},
                             raw_input=False, precision="fp32", size_bytes=1_570_000, int8=int8,
                             path="/models/sample-embedding.onnx", readme_path="/models/README.txt",
                             model_card_path="/models/MODEL_CARD.md")
    view = ExportResultView()
    qtbot.addWidget(view)
    view.show_result(result)
    qtbot.waitExposed(view)
    table = view.int8

    def every_row_shows(wrapped: bool) -> bool:
        rows = [table.rowHeight(row) for row in range(table.rowCount())]
        return (rows[0] > rows[1]) == wrapped and table.viewport().height() >= sum(rows)

    for width in (700, 300, 700):    # the first column's text wraps in the narrow one: its row grows
        view.resize(width, 900)
        qtbot.waitUntil(lambda: every_row_shows(wrapped=width == 300), timeout=3000)


def test_the_wheel_over_a_setting_scrolls_the_settings_and_leaves_the_setting_alone(window):
    page = window.pretrain_page
    page.form.advanced_toggle.setChecked(True)
    show_page(window, page)
    bar = scroll_area_of(page.form).verticalScrollBar()
    for field in (page.form.checkpoint_every, page.form.precision):
        bar.setValue(bar.minimum())
        before = field.value() if hasattr(field, "value") else field.currentIndex()
        centre = QPointF(field.rect().center())
        wheel = QWheelEvent(centre, QPointF(field.mapToGlobal(field.rect().center())), QPoint(), QPoint(0, -120),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(field, wheel)
        settle()
        assert bar.value() > bar.minimum(), field
        assert (field.value() if hasattr(field, "value") else field.currentIndex()) == before, field
