"""A folder is scanned once per session: the Data step's scan serves every later engine call."""
from __future__ import annotations

import sys

import engine.data.scan
from tests.desktop.label_helpers import label_some, open_labeling, patterns, pretrained, train  # noqa: F401


def count_scans(monkeypatch) -> list:
    """Record the root of every call of ``engine.data.scan.scan_folder``, however it was imported."""
    original = engine.data.scan.scan_folder
    roots: list = []

    def counting(root, *args, **kwargs):
        roots.append(str(root))
        return original(root, *args, **kwargs)

    for module in list(sys.modules.values()):
        if getattr(module, "scan_folder", None) is original:
            monkeypatch.setattr(module, "scan_folder", counting)
    return roots


def test_the_label_step_reuses_the_scan_of_the_data_step(qtbot, window, patterns, runs_dir, monkeypatch):
    images, _run, truth = patterns
    roots = count_scans(monkeypatch)
    page = open_labeling(qtbot, window, images, runs_dir)          # the map and the suggestions
    qtbot.waitUntil(lambda: page.map.embedding_map is not None and not page.map.jobs.busy(), timeout=60_000)
    label_some(page, truth, 2)
    train(qtbot, page, "linear")                                    # the fine-tune, then suggestions again
    assert roots == [str(images)]
