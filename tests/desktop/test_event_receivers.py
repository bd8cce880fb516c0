"""Each page's event handlers read the engine's typed payloads: a renamed field fails here."""
from __future__ import annotations

import dataclasses

from desktop.common.training_plots import TrainingPlots
from desktop.export.page import STEP_TEXT
from engine.core.events import (
    ExportProgress, ExportStep, FinetuneMetrics, FinetuneStart, PretrainMetrics, PretrainStart, Progress, ScanProgress,
    Stage, Started,
)

METRICS = PretrainMetrics(loss=0.5, lr=0.01, images_per_s=250.0, data_wait=0.2, collapse=0.01,
                          collapse_healthy=0.09, epoch=1.5, eta_s=75.0, batch_size=8)


def test_the_charts_draw_every_pretraining_metric_they_name(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.add(1, METRICS.as_dict(), total=10)
    assert {name: series.size for name, series in plots.series.items()} == dict.fromkeys(TrainingPlots.SERIES, 1)
    assert plots.collapse_healthy == METRICS.collapse_healthy
    assert set(TrainingPlots.PANELS) <= {f.name for f in dataclasses.fields(PretrainMetrics)}
    assert {"loss", "lr"} <= {f.name for f in dataclasses.fields(FinetuneMetrics)}


def test_the_pretrain_page_shows_the_start_and_each_step(window):
    page = window.pretrain_page
    page._on_stage_started(Started(Stage.PRETRAIN, 40, PretrainStart(
        run_dir="/runs/r1", device="cpu", device_label="the CPU (8 cores)", precision="fp32", method="simclr",
        backbone="smallcnn", image_size=32, batch_size=8, images=24, reasons={"batch_size": "8: CPU default"},
        resumed_from_step=12)))
    assert page.status.text() == "Training on the CPU (8 cores)" and page.progress.value() == 12
    assert "simclr · smallcnn · 32 px · batch 8 · fp32" in page.choices.text()
    assert "<b>batch size</b>: 8: CPU default" in page.choices.text() and "/runs/r1" in page.choices.text()
    page.state = "running"
    page._on_progress(Progress(Stage.PRETRAIN, 20, 40, METRICS))
    assert page.status.text() == "Step 20 of 40  ·  about 1:15 left" and page.progress.value() == 20
    shown = page.metrics.text().replace("\u00a0", " ").replace("\u2060", "")
    assert shown == "loss 0.5000  ·  250 images/s  ·  waiting for data 20%  ·  epoch 1.5"
    assert "collapsing" in page.collapse_warning.text() and page.plots.series["collapse"].size == 1


def test_the_data_page_counts_the_images_a_scan_found(window):
    window.data_page._on_progress(Progress(Stage.SCAN, 1200, 0, ScanProgress(images=900)))
    assert window.data_page.progress_label.text() == "Scanning… 1,200 files checked, 900 images"


def test_the_finetune_panel_shows_the_mode_and_each_step(window):
    panel = window.label_page.finetune
    panel._on_started(Started(Stage.FINETUNE, 6, FinetuneStart(
        mode="semi", mode_reason="Semi-supervised: few labels", classes=("a", "b"), labels=4, images=24,
        validation="2-fold", device="cpu")))
    assert panel.status.text() == "Training: Semi-supervised: few labels · 4 labels, 2-fold validation"
    panel._on_progress(Progress(Stage.FINETUNE, 3, 6, FinetuneMetrics(loss=0.25, accuracy=0.5, lr=0.1)))
    assert panel.status.text() == "Iteration 3 of 6 · loss 0.2500" and panel.plots.series["loss"].size == 1
    panel._on_progress(Progress(Stage.VALIDATE, 1, 2))
    assert panel.status.text() == "Estimating the accuracy 1 of 2"


def test_the_export_page_names_every_export_step(window):
    page = window.export_page
    assert set(STEP_TEXT) == set(ExportStep)
    for done, step in enumerate(ExportStep):
        page._on_progress(Progress(Stage.EXPORT, done, len(ExportStep), ExportProgress(current=step)))
        assert page.status.text() == STEP_TEXT[step] and page.progress.value() == done
    page._on_progress(Progress(Stage.EXPORT, 4, 4, ExportProgress(current=None)))
    assert page.status.text() == "Done" and page.progress.value() == 4
