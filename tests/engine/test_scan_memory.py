"""Opening a folder again: only images added or changed since the last scan are decoded, whether
in one verifying scan or as a header-only index followed by a background check."""
from __future__ import annotations

import os

from PIL import Image

from engine.data import imageio
from engine.data.scan_memory import index_remembered, report_path, scan_remembered, verify_remembered
from tests.image_files import write_truncated_jpeg


def counting_verify(monkeypatch) -> list:
    checked = []
    real = imageio.verify

    def verify(path):
        checked.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(imageio, "verify", verify)
    return checked


def test_a_second_scan_decodes_only_what_changed(image_folder, tmp_path, monkeypatch):
    memory = tmp_path / "scans"
    first = scan_remembered(image_folder, folder=memory)
    assert first.usable == 24 and report_path(image_folder, memory).is_file()

    checked = counting_verify(monkeypatch)
    again = scan_remembered(image_folder, folder=memory)
    assert checked == [] and again.images == first.images

    changed = image_folder / "a" / sorted(os.listdir(image_folder / "a"))[0]
    write_truncated_jpeg(changed)                                  # same name, new bytes: broken now
    Image.new("RGB", (9, 7)).save(image_folder / "added.png")
    (image_folder / "b" / "deeper" / sorted(os.listdir(image_folder / "b" / "deeper"))[0]).unlink()
    third = scan_remembered(image_folder, folder=memory)
    assert sorted(checked) == sorted([changed.name, "added.png"])
    assert {p.path: p.reason for p in third.problems} == {f"a/{changed.name}": "truncated"}
    assert third.usable == 23 and "added.png" in {r.path for r in third.images}


def test_a_damaged_or_foreign_report_means_a_full_scan(image_folder, tmp_path, monkeypatch):
    memory = tmp_path / "scans"
    scan_remembered(image_folder, folder=memory)
    report_path(image_folder, memory).write_text('{"root": "/elsewhere", "images": [{"path": 3}]')
    checked = counting_verify(monkeypatch)
    assert scan_remembered(image_folder, folder=memory).usable == 24 and len(checked) == 24

    checked.clear()
    other = tmp_path / "other"
    other.mkdir()
    scan_remembered(other / ".." / "images", folder=memory)      # the same folder by another path
    assert checked == []


def test_a_report_that_cannot_be_kept_does_not_fail_the_scan(image_folder, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the reports' folder should be")
    assert scan_remembered(image_folder, folder=blocker).usable == 24
    assert not report_path(image_folder, blocker).exists()


def test_an_unchanged_broken_file_is_not_decoded_again(image_folder, tmp_path, monkeypatch):
    memory = tmp_path / "scans"
    broken = image_folder / "broken.jpg"
    write_truncated_jpeg(broken)
    first = scan_remembered(image_folder, folder=memory)
    assert [(p.path, p.reason) for p in first.problems] == [("broken.jpg", "truncated")]

    checked = counting_verify(monkeypatch)
    again = scan_remembered(image_folder, folder=memory)
    assert checked == [] and again.problems == first.problems and again.usable == 24

    Image.new("RGB", (9, 7)).save(broken, format="JPEG")         # repaired in place
    repaired = scan_remembered(image_folder, folder=memory)
    assert checked == ["broken.jpg"] and repaired.problems == [] and repaired.usable == 25


def test_an_unreadable_file_is_tried_again(image_folder, tmp_path, monkeypatch):
    memory = tmp_path / "scans"
    locked = image_folder / "a" / sorted(os.listdir(image_folder / "a"))[0]
    real_verify = imageio.verify

    def refuse(path):
        if path == str(locked):
            raise PermissionError(13, "Permission denied", path)
        return real_verify(path)

    monkeypatch.setattr(imageio, "verify", refuse)
    first = scan_remembered(image_folder, folder=memory)
    assert [(p.path, p.reason) for p in first.problems] == [(f"a/{locked.name}", "unreadable")]

    monkeypatch.setattr(imageio, "verify", real_verify)
    checked = counting_verify(monkeypatch)
    again = scan_remembered(image_folder, folder=memory)
    assert checked == [locked.name] and again.problems == [] and again.usable == 24


def test_an_indexed_folder_is_checked_once_and_a_reopened_one_needs_no_check(image_folder, tmp_path, monkeypatch):
    memory = tmp_path / "scans"
    broken = write_truncated_jpeg(image_folder / "broken.jpg")
    checked = counting_verify(monkeypatch)
    indexed = index_remembered(image_folder, folder=memory)
    assert checked == [] and indexed.report.usable == 25 and len(indexed.unchecked) == 25
    assert not report_path(image_folder, memory).exists()     # only a verified report is kept

    verified = verify_remembered(indexed, folder=memory)
    assert len(checked) == 25 and [(p.path, p.reason) for p in verified.problems] == [("broken.jpg", "truncated")]

    checked.clear()
    reopened = index_remembered(image_folder, folder=memory)
    assert checked == [] and reopened.unchecked == () and reopened.report == verified
    assert scan_remembered(image_folder, folder=memory) == verified and checked == []

    Image.new("RGB", (9, 7)).save(image_folder / "added.png")
    write_truncated_jpeg(broken, size=80)                         # changed, still broken
    again = index_remembered(image_folder, folder=memory)
    assert again.unchecked == ("added.png", "broken.jpg") and again.report.problems == []   # headers only
    assert [p.path for p in verify_remembered(again, folder=memory).problems] == ["broken.jpg"]
    assert sorted(checked) == ["added.png", "broken.jpg"]
