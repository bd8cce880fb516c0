"""Scanning folders: good images indexed, every bad entry skipped or reported with a reason."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from engine.core.events import Cancelled, CancelToken, Finished, Progress, ScanStart, Stage, Started
from engine.data import scan
from engine.data.scan import ImageRecord, Problem, ScanError, ScanReport, scan_folder
from tests.image_files import deny_reading, write_png_header, write_truncated_jpeg

GOOD = {  # name: (size, mode, save params)
    "photo.jpg": ((30, 20), "RGB", {"quality": 90}),
    "gray.png": ((16, 24), "L", {}),
    "icon.gif": ((12, 12), "P", {}),
    "scan.tif": ((20, 10), "RGB", {}),
    "web.webp": ((18, 18), "RGB", {}),
    "old.bmp": ((8, 6), "RGB", {}),
    "x.jpg/inside.png": ((10, 14), "RGB", {}),  # a folder named like an image is walked
}
PROBLEMS = {
    "cut.jpg": "truncated",
    "empty.png": "empty",
    "text.jpg": "not an image",
    "locked.png": "unreadable",
    "bomb.png": "decompression bomb",
    "deep/bigbomb.png": "decompression bomb",
}


@pytest.fixture
def messy_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "messy"
    for name, (size, mode, params) in GOOD.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new(mode, size, 40).save(path, **params)
    write_truncated_jpeg(root / "cut.jpg")
    (root / "empty.png").write_bytes(b"")
    (root / "text.jpg").write_text("not really a picture")
    Image.new("RGB", (5, 5)).save(root / "locked.png")
    deny_reading(monkeypatch, root / "locked.png")
    write_png_header(root / "bomb.png", 100_000, 100_000)
    (root / "deep").mkdir()
    write_png_header(root / "deep" / "bigbomb.png", 50_000, 50_000)
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / ".thumbs").mkdir()
    Image.new("RGB", (4, 4)).save(root / ".thumbs" / "t.png")
    os.symlink(root, root / "loop")  # a link to its own parent folder
    (root / "readme.txt").write_text("hello")
    (root / ".pretext").mkdir()                      # the project store: neither scanned nor counted
    Image.new("RGB", (4, 4)).save(root / ".pretext" / "p.png")
    return root


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_messy_folder_lists_good_images_and_every_problem(messy_folder, monkeypatch, workers):
    monkeypatch.setattr(scan, "CHECK_WORKERS", workers)      # inline, and on threads
    monkeypatch.setattr(scan, "IN_FLIGHT_PER_WORKER", 1)
    report = scan_folder(messy_folder)
    assert report.root == str(messy_folder)
    records = {r.path: r for r in report.images}
    assert sorted(records) == sorted(GOOD)
    for name, (size, mode, _) in GOOD.items():
        assert (records[name].width, records[name].height, records[name].mode) == (*size, mode)
        assert records[name].size == (messy_folder / name).stat().st_size
    assert {p.path: p.reason for p in report.problems} == PROBLEMS
    assert report.skipped_hidden == 2  # .DS_Store and .thumbs/
    assert report.skipped_other == 2  # readme.txt and the loop link
    assert len(report.skipped_names) == 2 and "readme.txt" in report.skipped_names
    assert report.skipped_names == sorted(report.skipped_names)
    assert "readme.txt" in report.summary_text()
    assert ScanReport.from_json(report.to_json()).skipped_names == report.skipped_names
    assert [r.path for r in report.images] == sorted(records)
    assert not report.grayscale and report.channels == 3


def test_without_verify_the_truncated_file_passes_the_header_check(messy_folder):
    report = scan_folder(messy_folder, verify=False)
    assert "cut.jpg" in {r.path for r in report.images}
    assert "cut.jpg" not in {p.path for p in report.problems}


def test_summary_names_every_problem_and_the_counts(messy_folder):
    text = scan_folder(messy_folder).summary_text()
    assert f"{len(GOOD)} usable images" in text
    for path, reason in PROBLEMS.items():
        assert f"{path}: {reason}" in text
    assert "2 hidden entries" in text and "2 other files" in text


def test_grayscale_detection(gray_folder, image_folder):
    gray = scan_folder(gray_folder)
    assert gray.usable == 16 and gray.grayscale and gray.channels == 1
    assert gray.size_histogram() == {(28, 28): 16}
    assert gray.mode_histogram() == {"L": 16}
    colour = scan_folder(image_folder)
    assert colour.usable == 24 and not colour.grayscale and colour.channels == 3


def test_events_report_progress_and_counts(image_folder, monkeypatch):
    monkeypatch.setattr(scan, "PROGRESS_FILES", 5)
    seen = []
    scan_folder(image_folder, on_event=seen.append)
    assert seen[0] == Started(Stage.SCAN, 0, ScanStart(root=str(image_folder)))
    progress = [e for e in seen if isinstance(e, Progress)]
    assert len(progress) >= 4
    assert all(e.stage is Stage.SCAN and e.total == 0 for e in progress)
    steps = [e.step for e in progress]
    assert steps == sorted(steps) and progress[-1].metrics.images > 0
    assert isinstance(seen[-1], Finished) and seen[-1].status == "completed"
    assert (seen[-1].info.images, seen[-1].info.problems, seen[-1].info.files) == (24, 0, 27)


def test_cancel_stops_the_scan(image_folder, monkeypatch):
    monkeypatch.setattr(scan, "PROGRESS_FILES", 1)
    token = CancelToken()
    seen = []

    def sink(event):
        seen.append(event)
        if isinstance(event, Progress) and event.step >= 3:
            token.cancel()

    with pytest.raises(Cancelled):
        scan_folder(image_folder, on_event=sink, cancel=token)
    assert (seen[-1].stage, seen[-1].status, seen[-1].info.files) == (Stage.SCAN, "cancelled", 3)


def test_bad_roots_raise_scan_error(tmp_path, monkeypatch):
    with pytest.raises(ScanError, match="folder not found"):
        scan_folder(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(ScanError, match="not a folder"):
        scan_folder(tmp_path / "file.png")
    assert issubclass(ScanError, ValueError)

    real_scandir = os.scandir

    def denied(path):
        if os.fspath(path) == str(tmp_path):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(ScanError, match="cannot read folder .*Permission denied"):
        scan_folder(tmp_path)


def test_unreadable_subfolder_is_a_problem(image_folder, monkeypatch):
    real_scandir = os.scandir
    locked = str(image_folder / "b")

    def denied(path):
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    report = scan_folder(image_folder)
    assert report.usable == 12
    assert report.problems == [Problem("b", "unreadable", "cannot list folder (Permission denied)")]


def test_folder_without_usable_images(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty.jpg").write_bytes(b"")
    report = scan_folder(tmp_path)
    assert report.usable == 0 and report.median_side() == 0 and not report.grayscale
    with pytest.raises(ScanError, match=r"no usable images in .*: 1 files skipped, 1 broken"):
        report.require_usable()


def test_report_round_trips_and_moves_images_to_problems(tmp_path, image_folder):
    report = scan_folder(image_folder)
    assert report.require_usable() is report
    path = tmp_path / "report.json"
    report.save(path)
    assert ScanReport.load(path) == report
    assert ScanReport.from_json(report.to_json()) == report

    broken = Problem("a/img_0003.png", "truncated", "image file is truncated")
    smaller = report.without([broken])
    assert smaller.usable == 23 and broken in smaller.problems
    assert "a/img_0003.png" not in {r.path for r in smaller.images}
    assert report.usable == 24 and report.problems == []  # the original is unchanged


def test_median_side_uses_the_shorter_side():
    records = [ImageRecord(f"{i}.png", 1, 0.0, w, h, "RGB") for i, (w, h) in enumerate([(10, 40), (50, 20), (30, 90)])]
    assert ScanReport(root="/r", images=records).median_side() == 20

