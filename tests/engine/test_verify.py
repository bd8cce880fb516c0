"""Checking a header-only scan in the background: truncated files are found, batch by batch."""
from __future__ import annotations

import pytest

from engine.core.events import Cancelled, CancelToken, CheckProgress, Finished, Progress, Stage, Started
from engine.data import verify
from engine.data.scan import scan_folder
from engine.data.verify import found_problems, verify_images
from tests.image_files import write_shape_images, write_truncated_jpeg


@pytest.fixture
def folder_with_cut_files(tmp_path):
    """60 good PNGs, and two truncated JPEGs far apart in path order (img_0005, img_0050)."""
    root = tmp_path / "cut"
    paths = write_shape_images(root, 60, size=16)
    for index in (5, 50):
        paths[index].unlink()
        write_truncated_jpeg(root / f"img_{index:04d}.jpg")
    return root


def test_the_check_finds_the_truncated_files_a_header_scan_misses_and_reports_them_as_it_goes(
        folder_with_cut_files, monkeypatch):
    monkeypatch.setattr(verify, "CHUNK_FILES", 10)
    indexed = scan_folder(folder_with_cut_files, verify=False)
    assert indexed.usable == 60 and indexed.problems == []

    events = []
    paths = [r.path for r in indexed.images]
    verified = verify_images(indexed, paths, on_event=events.append)

    assert {(p.path, p.reason) for p in verified.problems} == {("img_0005.jpg", "truncated"),
                                                              ("img_0050.jpg", "truncated")}
    assert verified.usable == 58 and verified == scan_folder(folder_with_cut_files, verify=True)
    assert events[0] == Started(Stage.CHECK, 60)
    progress = [e for e in events if isinstance(e, Progress)]
    assert all(e.stage is Stage.CHECK and e.total == 60 and isinstance(e.metrics, CheckProgress) for e in progress)
    assert [e.step for e in progress] == sorted(e.step for e in progress) and progress[-1].step == 60
    findings = [(e.step, p.path, p.reason) for e in progress for p in found_problems(e.metrics)]
    assert [(path, reason) for _step, path, reason in findings] == [("img_0005.jpg", "truncated"),
                                                                    ("img_0050.jpg", "truncated")]  # once each
    assert findings[0][0] < 50        # the first was reported before the second was even decoded
    assert events[-1].status == "completed" and events[-1].info.problems == 2


def test_only_the_named_images_are_decoded(folder_with_cut_files):
    indexed = scan_folder(folder_with_cut_files, verify=False)
    verified = verify_images(indexed, ["img_0050.jpg", "img_0001.png"])
    assert [p.path for p in verified.problems] == ["img_0050.jpg"] and verified.usable == 59
    assert verify_images(indexed, []) == indexed


def test_a_cancelled_check_stops_and_says_so(folder_with_cut_files, monkeypatch):
    monkeypatch.setattr(verify, "CHUNK_FILES", 10)
    indexed = scan_folder(folder_with_cut_files, verify=False)
    token = CancelToken()
    events = []

    def cancel_at_first_progress(event):
        events.append(event)
        if isinstance(event, Progress):
            token.cancel()

    with pytest.raises(Cancelled):
        verify_images(indexed, [r.path for r in indexed.images], on_event=cancel_at_first_progress, cancel=token)
    assert events[-1] == Finished(Stage.CHECK, "cancelled")
    assert sum(isinstance(e, Progress) for e in events) == 1
