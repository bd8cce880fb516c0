"""Shared set-up for the Label and Export step tests: a finished pretraining run on a copy of
three visibly different pattern classes, found by the window when the folder is opened."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.store.runs import PretrainRun
from tests.desktop.window_helpers import open_and_scan, tiny_settings
from tests.engine.fewlabel_data import pick, pretrained  # noqa: F401 - the session fixture

__all__ = ["patterns", "open_labeling", "label_some", "pick", "pretrained"]


@pytest.fixture
def patterns(pretrained, tmp_path: Path, runs_dir: Path) -> tuple[Path, Path, dict]:
    """(image folder, its finished run in ``runs_dir``, every image's true class), private to the test."""
    run, root, truth = pretrained
    images = tmp_path / "patterns"
    shutil.copytree(root, images, ignore=shutil.ignore_patterns(".pretext"))
    target = runs_dir / run.name
    shutil.copytree(run, target, ignore=shutil.ignore_patterns("embeddings", "finetune"))
    config_path = PretrainRun(target).config_path
    config = json.loads(config_path.read_text())
    config["data_dir"] = str(images)
    config_path.write_text(json.dumps(config))
    return images, target, truth


def open_labeling(qtbot, window, images: Path, runs_dir: Path, suggest: bool = True):
    """Open ``images`` (its finished run is in ``runs_dir``), go to the Label step and wait for
    its first suggestions, so no background job is left running."""
    tiny_settings(window, runs_dir)
    open_and_scan(qtbot, window, images)
    assert window.is_step_enabled("label")
    page = window.label_page
    window.go_to("label")
    assert window.current_step() == "label"
    if suggest:
        qtbot.waitUntil(lambda: not page.suggestions.jobs.busy() and page.suggestions.list.count() > 0, timeout=60_000)
    return page


def label_some(page, truth: dict, per_class: int) -> dict:
    """Create the classes and label ``per_class`` images of each through the page."""
    labels = pick(truth, per_class)
    for name in sorted(set(labels.values())):
        page.classes.add_requested.emit(name)
    for name in sorted(set(labels.values())):
        assert page.label_paths([p for p, c in labels.items() if c == name], name)
    return labels


def train(qtbot, page, mode: str = "linear"):
    """Click Train with ``mode`` and wait for the outcome."""
    page.finetune.mode.setCurrentIndex(page.finetune.mode.findData(mode))
    with qtbot.waitSignal(page.finetuned, timeout=120_000) as done:
        page.finetune.train_button.click()
    qtbot.waitUntil(lambda: not page.finetune.is_running() and not page.suggestions.jobs.busy(), timeout=60_000)
    return done.args[0]
