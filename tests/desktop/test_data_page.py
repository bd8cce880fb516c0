"""The Data step: dropping folders (and things that are not one folder), scan results, thumbnails."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPersistentModelIndex, Qt

from desktop.common.thumbnail_grid import RecordRole
from desktop.jobs import running_jobs
from tests.desktop.window_helpers import drop_paths, open_and_scan
from tests.image_files import write_shape_images, write_truncated_jpeg


def test_dropping_a_folder_scans_it_and_shows_the_counts(qtbot, window, image_folder):
    with qtbot.waitSignal(window.data_page.project_opened, timeout=30_000) as opened:
        enter, _drop = drop_paths(window.data_page, [image_folder])
        assert enter.isAccepted()
    page = window.data_page
    assert opened.args[0] == str(image_folder)
    assert page.root == str(image_folder)
    assert page.counts.images.text() == "24"
    assert page.counts.broken.text() == "0"
    assert page.model.rowCount() == 24
    assert page.details.sizes.text() == "32 × 32 (24)"
    assert page.details.modes.text() == "RGB (24)"
    assert "data" in window.done_steps
    assert window.is_step_enabled("pretrain")
    assert window.recent.folders() == [str(image_folder)]


def test_scan_lists_each_problem_with_its_reason(qtbot, window, tmp_path):
    folder = tmp_path / "mixed"
    write_shape_images(folder, 5)
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.jpg").write_text("not a picture")
    (folder / "readme.txt").write_text("skipped")
    (folder / ".hidden.png").write_bytes(b"")
    open_and_scan(qtbot, window, folder)
    page = window.data_page
    assert page.counts.images.text() == "5"
    assert page.counts.broken.text() == "2"
    assert page.counts.skipped.text() == "2"
    assert page.details.skipped.text() == "readme.txt (not image files)"        # the hidden one is not named
    rows = {page.details.problems_model.index(r, 0).data(): page.details.problems_model.index(r, 1).data()
            for r in range(page.details.problems_model.rowCount())}
    assert rows == {"empty.png": "empty", "notes.jpg": "not an image"}
    assert page.details.problems.isVisibleTo(page)
    assert page.banner.kind() == "warning" and "2 files could not be used" in page.banner.text()

    (folder / "notes.jpg").unlink()
    open_and_scan(qtbot, window, folder)
    assert page.banner.text() == "1 file could not be used and will be left out. It is listed under Problems."


def problem_rows(page) -> list[tuple[str, str]]:
    model = page.details.problems_model
    return [(model.index(r, 0).data(), model.index(r, 1).data()) for r in range(model.rowCount())]


def test_the_grid_shows_from_the_headers_and_broken_files_arrive_while_the_images_are_checked(
        qtbot, window, image_folder):
    write_truncated_jpeg(image_folder / "cut.jpg")      # its header is intact: only a decode finds it
    page = window.data_page
    arrivals = []   # (problem rows, broken count, the page's report) at each change of the Problems table
    page.details.problems_model.modelReset.connect(lambda: arrivals.append(
        (len(problem_rows(page)), page.counts.broken.text(), page.report)))
    with qtbot.waitSignal(page.project_opened, timeout=30_000) as opened:
        drop_paths(page, [image_folder])
    assert opened.args[1].usable == 25 and page.model.rowCount() == 25 and page.counts.broken.text() == "0"
    assert page.is_checking() and page.progress_label.isVisibleTo(page)
    assert page.progress_label.text() == "Checking images… 0 of 25"
    assert window.is_step_enabled("pretrain")           # nothing waits for the check

    with qtbot.waitSignal(page.scan_verified, timeout=30_000) as verified:
        pass
    # the row came with a batch of findings, before the checked report replaced the indexed one
    assert [(rows, broken) for rows, broken, report in arrivals if report is not verified.args[1]][-1] == (1, "1")
    assert verified.args[0] == str(image_folder) and verified.args[1].usable == 24
    assert problem_rows(page) == [("cut.jpg", "truncated")] and page.counts.images.text() == "24"
    assert page.model.rowCount() == 24 and "cut.jpg" not in {r.path for r in page.model.records()}
    assert "24 colour images" in window.pretrain_page.subtitle.text()
    assert page.banner.text() == "1 file could not be used and will be left out. It is listed under Problems."
    qtbot.waitUntil(lambda: not page.is_scanning())
    assert not page.progress_label.isVisibleTo(page)


def test_a_reopened_folder_is_shown_checked_without_a_second_check(qtbot, window, image_folder):
    write_truncated_jpeg(image_folder / "cut.jpg")
    open_and_scan(qtbot, window, image_folder)
    page = window.data_page
    with qtbot.waitSignal(page.project_opened, timeout=30_000) as opened:
        drop_paths(page, [image_folder])
    assert not page.is_scanning()
    assert [p.path for p in opened.args[1].problems] == ["cut.jpg"] and page.counts.broken.text() == "1"
    assert page.model.rowCount() == 24


def test_opening_another_folder_stops_the_check_of_the_first(qtbot, window, image_folder, tmp_path):
    other = tmp_path / "other"
    write_shape_images(other, 3)
    page = window.data_page
    checked = []
    page.scan_verified.connect(lambda root, _report: checked.append(root))
    with qtbot.waitSignal(page.project_opened, timeout=30_000):
        drop_paths(page, [image_folder])
    assert page.is_checking()
    with qtbot.waitSignal(page.scan_verified, timeout=30_000):
        drop_paths(page, [other])
    qtbot.waitUntil(lambda: not running_jobs())
    assert checked == [str(other)] and page.root == str(other)


@pytest.mark.parametrize("case", ["file", "missing", "several"])
def test_a_drop_that_is_not_one_folder_explains_and_keeps_the_project(qtbot, window, image_folder, tmp_path, case):
    open_and_scan(qtbot, window, image_folder)
    page = window.data_page
    other = tmp_path / "other"
    write_shape_images(other, 3)
    paths = {
        "file": [image_folder / "a" / "img_0000.png"],
        "missing": [tmp_path / "does-not-exist"],
        "several": [image_folder, other],
    }[case]
    drop_paths(page, paths)
    expected = {"file": "is a file", "missing": "does not exist", "several": "one folder at a time"}[case]
    assert page.banner.kind() == "error"
    assert expected in page.banner.text()
    assert not page.is_scanning()
    assert page.root == str(image_folder)
    assert page.model.rowCount() == 24


def test_unreadable_folder_is_refused(qtbot, window, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    write_shape_images(locked, 2)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == locked else real_access(path, mode))
    drop_paths(window.data_page, [locked])
    assert "not allowed to read" in window.data_page.banner.text()
    assert not window.data_page.is_scanning()


def test_a_folder_without_images_is_an_error_and_changes_nothing(qtbot, window, image_folder, tmp_path):
    open_and_scan(qtbot, window, image_folder)
    empty = tmp_path / "no-images"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello")
    page = window.data_page
    drop_paths(page, [empty])
    assert page.is_scanning()
    qtbot.waitUntil(lambda: not page.is_scanning(), timeout=30_000)
    assert page.banner.kind() == "error" and "No usable images" in page.banner.text()
    assert page.root == str(image_folder)


def test_thumbnails_load_off_thread_and_are_cached_on_disk(qtbot, window, image_folder, tmp_path):
    open_and_scan(qtbot, window, image_folder)
    page = window.data_page
    qtbot.waitUntil(lambda: page.model.loaded_count() >= 8, timeout=20_000)
    cached = list((tmp_path / "thumbnails").rglob("*.jpg"))
    assert len(cached) >= 8
    dialog = page.show_preview(QPersistentModelIndex(page.model.index(3)))
    qtbot.waitUntil(dialog.has_image, timeout=10_000)
    assert dialog.windowTitle().endswith("img_0003.png")
    size = page.model.index(3).data(RecordRole).size
    assert dialog.info.text().endswith(f"·   {size / 1000:.1f} KB")        # decimal units, bytes below 1 KB
    dialog.close()


def test_the_welcome_state_offers_recent_folders_and_the_sample(qtbot, make_window, settings, image_folder):
    settings.setValue("recent/folders", [str(image_folder), "/nowhere/at/all"])
    window = make_window()
    welcome = window.data_page.welcome
    assert window.data_page.stack.currentWidget() is welcome
    assert welcome.recent.count() == 1   # the missing folder is left out
    with qtbot.waitSignal(window.data_page.project_opened, timeout=30_000):      # one click opens it
        qtbot.mouseClick(welcome.recent.viewport(), Qt.MouseButton.LeftButton,
                         pos=welcome.recent.visualItemRect(welcome.recent.item(0)).center())
    assert window.data_page.root == str(image_folder)


def test_the_sample_dataset_opens(qtbot, window):
    from resources import SAMPLE_DIR

    if not Path(SAMPLE_DIR).is_dir():
        pytest.skip("the sample dataset is not bundled in this checkout")
    with qtbot.waitSignal(window.data_page.project_opened, timeout=60_000) as opened:
        window.data_page.welcome.sample_button.click()
    assert opened.args[1].usable > 100
    assert opened.args[1].grayscale
