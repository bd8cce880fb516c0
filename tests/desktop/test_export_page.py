"""The Export step with the real engine: export and verify, the parity shown, overwrite, errors,
and "Try it" with onnxruntime on a dropped image."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from desktop.common.validation_view import percent
from desktop.export.page import STEP_TEXT
from engine.core.events import ExportStep
from tests.desktop.label_helpers import label_some, open_labeling, patterns, pretrained, train  # noqa: F401
from tests.desktop.window_helpers import drop_paths


def export(qtbot, page, path: Path):
    page.path.setText(str(path))
    with qtbot.waitSignal(page.exported, timeout=120_000) as done:
        assert page.start()
    qtbot.waitUntil(lambda: page.job is None)
    return done.args[0]


def try_dropped(qtbot, page, image: Path):
    with qtbot.waitSignal(page.try_it.predicted, timeout=60_000) as predicted:
        drop_paths(page.try_it, [image])
    qtbot.waitUntil(lambda: page.try_it.job is None)
    return predicted.args[0]


def test_embedding_export_before_any_fine_tune_and_try_it(qtbot, window, patterns, runs_dir, tmp_path):
    images, _run, _truth = patterns
    open_labeling(qtbot, window, images, runs_dir)
    window.go_to("export")
    page = window.export_page
    assert window.current_step() == "export"
    assert not page.classifier.isEnabled() and page.embedding.isChecked()
    assert page.path.text().endswith("patterns-embedding.onnx")
    assert not page.try_it.isEnabled()
    result = export(qtbot, page, tmp_path / "out" / "embedding.onnx")
    assert Path(result.path).is_file() and Path(result.readme_path).is_file()
    assert result.kind == "embedding" and result.max_abs_diff <= result.tolerance
    assert page.result_view.isVisible()
    parity = page.result_view.parity.text()
    assert "Max abs difference" in parity and "batch sizes 1 and" in parity
    assert str(result.readme_path) in page.result_view.files.text()
    assert f"Model card: {result.model_card_path}" in page.result_view.files.text()
    assert page.banner.kind() == "success" and "export" in window.done_steps
    prediction = try_dropped(qtbot, page, images / "r" / "rows_00.png")
    assert prediction.embedding is not None and prediction.error is None
    assert "embedding of" in page.try_it.result.text()


def test_classifier_export_shows_accuracy_asks_before_overwriting_and_predicts(
        qtbot, window, patterns, runs_dir, tmp_path):
    images, _run, truth = patterns
    label_page = open_labeling(qtbot, window, images, runs_dir)
    label_some(label_page, truth, 2)
    train(qtbot, label_page, "linear")
    window.go_to("export")
    page = window.export_page
    assert page.classifier.isEnabled() and page.classifier.isChecked()
    page.input.setCurrentIndex(page.input.findData(True))     # raw uint8 input
    target = tmp_path / "classifier.onnx"
    result = export(qtbot, page, target)
    assert result.kind == "classifier" and result.raw_input and result.top1_agreement == 1.0
    assert "Top-1 agreement 100%" in page.result_view.parity.text()
    assert set(page.result_view.accuracy_rows()) == {"rows", "columns", "disc"}
    validation = label_page.finetune.outcome.result.validation                # held-out figures, not training fit
    assert page.result_view.accuracy_rows() == {name: percent(value) for name, value in validation["per_class"].items()}
    assert "validation" in page.result_view.accuracy_title.text() and validation["scheme"] in \
        page.result_view.accuracy_title.text()
    assert "uint8 NHWC" in page.result_view.inputs.text()
    assert "(batch, channels, height, width)" in page.input.itemData(0, Qt.ItemDataRole.ToolTipRole)
    assert label_page.finetune.status.toolTip().startswith("linear: ")
    assert page.result_view.accuracy_title.toolTip().startswith(f"{validation['scheme']}: ")

    prediction = try_dropped(qtbot, page, images / "d" / "disc_15.png")
    assert prediction.label in {"rows", "columns", "disc"} and 0 < prediction.probability <= 1
    assert prediction.label in page.try_it.result.text()
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a picture")
    assert try_dropped(qtbot, page, not_an_image).error
    assert "notes.png" in page.try_it.result.text()

    before = target.stat().st_mtime_ns
    page.confirm_overwrite = lambda path: False
    assert not page.start() and page.job is None
    assert target.stat().st_mtime_ns == before
    page.confirm_overwrite = lambda path: True
    assert export(qtbot, page, target).path == str(target)


def test_export_errors_are_shown_and_nothing_is_written(qtbot, window, patterns, runs_dir, tmp_path):
    images, _run, _truth = patterns
    open_labeling(qtbot, window, images, runs_dir)
    window.go_to("export")
    page = window.export_page
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    page.path.setText(str(blocker / "model.onnx"))
    assert page.start()
    with qtbot.waitSignal(page.job.failed, timeout=60_000) as failed:
        pass
    qtbot.waitUntil(lambda: page.job is None)
    assert "is a file, not a folder" in failed.args[0]
    assert page.banner.kind() == "error" and page.banner.text() == failed.args[0]
    assert not page.result_view.isVisible() and "export" not in window.done_steps
    page.path.setText(str(tmp_path / "model.txt"))
    assert page.start()
    qtbot.waitUntil(lambda: page.job is None, timeout=60_000)
    assert "must end in .onnx" in page.banner.text()
    assert not (tmp_path / "model.txt").exists() and page.export_button.isEnabled()


def test_an_int8_export_shows_its_figures_against_fp32_and_tries_the_recommended_model(
        qtbot, window, patterns, runs_dir, tmp_path):
    images, _run, _truth = patterns
    open_labeling(qtbot, window, images, runs_dir)
    window.go_to("export")
    page = window.export_page
    page.precision.setCurrentIndex(page.precision.findData("int8"))
    shown = []
    show_progress = page._on_progress
    page._on_progress = lambda event: (show_progress(event), shown.append(page.status.text()))
    result = export(qtbot, page, tmp_path / "embedding.onnx")
    assert STEP_TEXT[ExportStep.QUANTIZE] in shown and shown[-1] == "Done"
    report = result.int8
    assert Path(report.path) == tmp_path / "embedding.int8.onnx" and Path(report.path).is_file()
    quality, size, latency = page.result_view.int8_table()
    assert quality[0].startswith("Cosine similarity to fp32") and quality[2] == f"{report.value:.4f}"
    assert size == ["File size", f"{report.fp32_size_bytes / 1e6:.2f} MB", f"{report.size_bytes / 1e6:.2f} MB"]
    assert latency[0] == "Latency, one image" and latency[2].endswith(" ms")
    assert page.result_view.int8.isVisible() and "INT8 model: " + report.path in page.result_view.files.text()
    verdict = page.result_view.int8_verdict.text()
    if report.recommended == "int8":
        assert "embedding.int8.onnx where size or speed matters" in verdict and page.try_it.model_path == report.path
    else:
        assert "use the fp32 model" in verdict and page.try_it.model_path == result.path
        assert page.banner.kind() == "warning"

    asked = []
    page.confirm_overwrite = lambda paths: asked.append(paths) or False
    (tmp_path / "embedding.onnx").unlink()
    assert not page.start() and asked == [[report.path]]          # the INT8 file alone would be replaced
    page.precision.setCurrentIndex(page.precision.findData("fp32"))
    shown.clear()
    assert export(qtbot, page, tmp_path / "embedding.onnx").int8 is None
    assert STEP_TEXT[ExportStep.WRITE] in shown and STEP_TEXT[ExportStep.QUANTIZE] not in shown
    assert not page.result_view.int8.isVisible()


def test_another_folder_resets_the_export_step_and_the_first_folder_reopens_ready_to_try(
        qtbot, window, patterns, runs_dir, tmp_path):
    import shutil

    images, _run, _truth = patterns
    open_labeling(qtbot, window, images, runs_dir)
    window.go_to("export")
    page = window.export_page
    result = export(qtbot, page, tmp_path / "out" / "embedding.onnx")
    try_dropped(qtbot, page, images / "r" / "rows_00.png")
    other = tmp_path / "other"
    shutil.copytree(images, other, ignore=shutil.ignore_patterns(".pretext"))

    with qtbot.waitSignal(window.data_page.project_opened, timeout=30_000):     # what File > Open Folder does
        window.data_page.open_folder(str(other))
    assert window.current_step() == "data"
    assert page.path.text().endswith("other-embedding.onnx") and not page.result_view.isVisible()
    assert not page.try_it.isEnabled() and page.try_it.result.text() == ""

    with qtbot.waitSignal(window.data_page.project_opened, timeout=30_000):
        window.data_page.open_folder(str(images))
    assert page.try_it.isEnabled() and page.try_it.model_path == result.path == page.path.text()
