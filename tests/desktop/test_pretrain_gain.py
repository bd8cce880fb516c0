"""The Pretrain page's gain line: the probe's figure when the folder has labels, the collapse
metric in plain words when it has none."""
from __future__ import annotations

import errno
from pathlib import Path

import pytest

from desktop.pretrain.gain_line import collapse_sentence, probe_sentence, recorded_probes
from engine.core import atomic
from engine.core.events import PretrainMetrics, ProbeResult, Progress, Stage
from engine.pretrain import gain_probe
from engine.store.project import Project
from engine.store.project_io import PROBE_LABELS_FILE
from tests.desktop.window_helpers import open_and_scan, tiny_settings


def label_shapes(folder: Path) -> int:
    """Label every image of the ``image_folder`` fixture in its project (odd files are discs)."""
    paths = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    with Project.open(folder) as project:
        for name in ("disc", "square"):
            project.add_class(name)
        project.label([p for p in paths if int(p[-8:-4]) % 2], "disc")
        project.label([p for p in paths if not int(p[-8:-4]) % 2], "square")
    return len(paths)


def is_probe_after(epochs: int):
    return lambda event: event.stage is Stage.PROBE and event.metrics.epoch >= epochs


def step_metrics(collapse: float, healthy: float) -> PretrainMetrics:
    return PretrainMetrics(loss=1.0, lr=0.1, images_per_s=100.0, data_wait=0.1, collapse=collapse,
                           collapse_healthy=healthy, epoch=1.0, eta_s=10.0, batch_size=8)


def test_the_page_shows_what_a_quick_fine_tune_on_the_folders_labels_reaches(qtbot, window, image_folder,
                                                                              runs_dir, monkeypatch):
    monkeypatch.setattr(gain_probe, "PROBE_SHARE", 1e6)    # a probe after every epoch of the tiny run
    labels = label_shapes(image_folder)
    open_and_scan(qtbot, window, image_folder)
    window.go_to("pretrain")
    tiny_settings(window, runs_dir, epochs=2)
    page = window.pretrain_page
    assert page.start()
    assert page.gain.text() == f"Measuring what a quick fine-tune on your {labels} labels reaches…"
    job = page.job
    with qtbot.waitSignal(job.finished, timeout=60_000):     # listens from here: the run may end in the block
        with qtbot.waitSignal(job.progress, check_params_cb=is_probe_after(0), timeout=60_000) as untrained:
            pass
        assert page.gain.text().startswith(f"A quick fine-tune on your {labels} labels reaches ")
        with qtbot.waitSignal(job.progress, check_params_cb=is_probe_after(1), timeout=60_000) as trained:
            pass
        result = trained.args[0].metrics
        assert result.untrained_accuracy == untrained.args[0].metrics.accuracy
        assert page.gain.text() == (f"A quick fine-tune on your {labels} labels now reaches "
                                    f"{100 * result.accuracy:.0f} % (untrained backbone: "
                                    f"{100 * result.untrained_accuracy:.0f} %).")
        assert page.gain.isVisible()
    assert page.banner.kind() == "success"


def test_without_labels_the_page_explains_the_collapse_metric(qtbot, window, image_folder, runs_dir):
    open_and_scan(qtbot, window, image_folder)
    window.go_to("pretrain")
    tiny_settings(window, runs_dir, epochs=1)
    page = window.pretrain_page
    assert page.start()
    assert not page.gain.isVisible()
    job = page.job
    handled = []          # connected after the page's own slot: the last one here is the last the page showed
    job.progress.connect(lambda e: handled.append(e) if e.stage is Stage.PRETRAIN else None)
    with qtbot.waitSignal(job.finished, timeout=60_000):     # listens from here: the run may end in the block
        with qtbot.waitSignal(job.progress, check_params_cb=lambda e: e.stage is Stage.PRETRAIN, timeout=60_000):
            pass
        assert page.gain.isVisible()
        assert page.gain.text() == collapse_sentence(handled[-1].step, handled[-1].metrics)
        assert page.gain.text().startswith("Embedding spread ")
    assert page.probe is None


@pytest.mark.parametrize("step, collapse, verdict", [
    (100, 0.08, "fine, the embeddings are not collapsing."),
    (5, 0.01, "low, which is usual in the first steps."),
    (100, 0.01, "too low, the embeddings are collapsing."),
])
def test_the_collapse_sentence_says_whether_the_value_is_fine(step, collapse, verdict):
    sentence = collapse_sentence(step, step_metrics(collapse, 0.09))
    assert sentence.startswith(f"Embedding spread {collapse:.3f} (healthy about 0.090")
    assert sentence.endswith(verdict)


def test_probe_sentences():
    base = dict(labels=30, classes=3, evaluated=30, scheme="5-fold", cost_s=0.5, share=0.01)
    assert probe_sentence(ProbeResult(epoch=4, accuracy=0.81, untrained_accuracy=0.62, **base)) == \
        "A quick fine-tune on your 30 labels now reaches 81 % (untrained backbone: 62 %)."
    assert probe_sentence(ProbeResult(epoch=0, accuracy=0.62, untrained_accuracy=0.62, **base)).startswith(
        "A quick fine-tune on your 30 labels reaches 62 % with the untrained backbone")
    assert "gives no figure" in probe_sentence(ProbeResult(epoch=0, **base))


def test_recorded_probes_come_back_from_metrics_rows_and_damaged_ones_are_left_out():
    result = ProbeResult(epoch=2, labels=30, classes=3, evaluated=30, scheme="5-fold", cost_s=0.5, share=0.01,
                         accuracy=0.8, untrained_accuracy=0.6)
    rows = [{"step": 1, "loss": 1.0}, {"step": 9, "probe": result.as_dict()}, {"step": 10, "probe": {"x": 1}},
            {"step": 11, "probe": 3}]
    assert recorded_probes(rows) == [result]


def test_a_resumed_runs_untrained_figure_leaves_its_recorded_later_figure_shown(window):
    page = window.pretrain_page
    base = dict(labels=30, classes=3, evaluated=30, scheme="5-fold", cost_s=0.5, share=0.01)
    recorded = ProbeResult(epoch=4, accuracy=0.81, untrained_accuracy=0.62, **base)
    page._on_progress(Progress(Stage.PROBE, 120, 300, recorded))
    page._on_progress(Progress(Stage.PROBE, 120, 300, ProbeResult(epoch=0, accuracy=0.62, untrained_accuracy=0.62,
                                                                  **base)))
    assert page.gain.text() == probe_sentence(recorded) and page.probe == recorded
    later = ProbeResult(epoch=6, accuracy=0.85, untrained_accuracy=0.62, **base)
    page._on_progress(Progress(Stage.PROBE, 180, 300, later))
    assert page.gain.text() == "A quick fine-tune on your 30 labels now reaches 85 % (untrained backbone: 62 %)."


def test_a_probe_labels_file_that_cannot_be_written_is_said_and_the_run_trains(qtbot, window, image_folder,
                                                                               runs_dir, monkeypatch):
    label_shapes(image_folder)
    replace = atomic.replace_file

    def full_disk(source, destination):      # only the probe's CSV: the database and the run still write
        if Path(destination).name == PROBE_LABELS_FILE:
            raise OSError(errno.ENOSPC, "refused")
        replace(source, destination)

    monkeypatch.setattr(atomic, "replace_file", full_disk)
    open_and_scan(qtbot, window, image_folder)
    window.go_to("pretrain")
    tiny_settings(window, runs_dir, epochs=1)
    page = window.pretrain_page
    assert page.start()
    assert page.gain.text().startswith("No gain probe this run: cannot write ")
    assert page.gain.text().endswith(f"{PROBE_LABELS_FILE}: the disk is full")
    with qtbot.waitSignal(page.job.finished, timeout=60_000):
        pass
    assert page.banner.kind() == "success" and page.probe is None
    with Project.open(image_folder) as project:
        assert len(project.labels()) == len(list(image_folder.rglob("*.png")))
