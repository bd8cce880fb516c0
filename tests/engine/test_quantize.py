"""INT8 export: a calibrated QDQ model close to fp32, its report, and bad input that leaves nothing behind."""
import errno
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from engine.cli import program as cli
from engine.data.imageio import decode, decode_resized
from engine.deploy.onnx_meta import decode as decode_metadata
from engine.deploy.predict import predict
from engine.export import quantize
from engine.export.quantize import Int8Report, compare_int8, recommended
from engine.export.run import ExportError, export_model
from tests.engine.export_data import exported, finetuned, pretrained, rgb_run, well_labeled  # noqa: F401 - fixtures


def session_of(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def first_output(path, x: np.ndarray) -> np.ndarray:
    session = session_of(path)
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def float_input(paths, meta: dict) -> np.ndarray:
    """The images as the float model takes them: (N, C, S, S) normalised float32."""
    size, channels = meta["input_size"][0], len(meta["mean"])
    pixels = np.stack([decode_resized(path, size, channels) for path in paths]).astype(np.float32) / 255
    mean, std = (np.asarray(meta[key], np.float32).reshape(1, -1, 1, 1) for key in ("mean", "std"))
    return (pixels - mean) / std


def test_int8_is_a_calibrated_qdq_model_a_quarter_of_the_size_and_close_to_fp32(exported, finetuned):
    result = exported(int8=True)
    report = result.int8
    assert report.path == str(Path(result.path).with_name("classifier-int8.int8.onnx"))
    ops = {node.op_type for node in onnx.load(report.path).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert report.size_bytes == os.path.getsize(report.path) < 0.35 * result.size_bytes
    assert report.fp32_size_bytes == result.size_bytes == os.path.getsize(result.path)
    values = decode_metadata(session_of(report.path).get_modelmeta().custom_metadata_map)
    assert values["precision"] == "int8" and values["classes"] == result.metadata["classes"]
    assert values["quantization"]["calibration_images"] == report.calibration_images == 48
    readme = Path(result.readme_path).read_text()
    assert "INT8 copy: classifier-int8.int8.onnx, with the same input and outputs" in readme
    assert "INT8 copy" not in Path(exported().readme_path).read_text()
    x = float_input(sorted(finetuned[1].rglob("*.png"))[::3], result.metadata)
    full, int8 = first_output(result.path, x), first_output(report.path, x)
    assert np.abs(full - int8).max() < 0.1 and (full.argmax(1) == int8.argmax(1)).mean() >= 0.9


def test_the_report_compares_top1_agreement_when_few_labels_and_recommends_int8_within_bounds(exported):
    report = exported(int8=True).int8
    assert report.measure == "top-1 agreement" and report.images == 48     # 9 labels: too few for accuracy
    assert report.value >= 0.99 and report.fp32_value is None and report.recommended == "int8"
    assert report.latency_ms > 0 and report.fp32_latency_ms > 0
    assert "top-1 agreement with fp32" in report.summary() and "use it where size or speed matters" in report.summary()


def test_with_20_labels_or_more_the_report_compares_accuracy(well_labeled, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    assert cli.main(["export", str(well_labeled[0]), "--out", str(out), "--int8"]) == 0
    printed = capsys.readouterr().out
    assert f"INT8 model: {tmp_path / 'model.int8.onnx'}" in printed
    assert "accuracy" in printed and "on 21 labeled images" in printed and "recommended: " in printed
    assert (tmp_path / "model.int8.onnx").is_file() and out.is_file()


@pytest.mark.parametrize("measure, value, fp32_value, expected", [
    ("top-1 agreement", 0.99, None, "int8"), ("top-1 agreement", 0.985, None, "fp32"),
    ("accuracy", 0.80, 0.81, "int8"), ("accuracy", 0.79, 0.81, "fp32"),
    ("cosine similarity", 0.995, None, "int8"), ("cosine similarity", 0.98, None, "fp32"),
])
def test_int8_is_recommended_only_within_the_bounds(measure, value, fp32_value, expected):
    assert recommended(measure, value, fp32_value) == expected
    report = Int8Report("m.int8.onnx", 1, 4, 1.0, 2.0, measure, value, fp32_value, 30, 30, expected)
    assert ("use the fp32 model" in report.summary()) == (expected == "fp32")


def test_the_comparison_measures_agreement_accuracy_and_cosine():
    fp32 = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]] * 5, np.float32)
    int8 = fp32.copy()
    int8[0] = [0.4, 0.6]                                    # one of 20 changes its class
    assert compare_int8(fp32, int8, classifier=True) == ("top-1 agreement", 0.95, None)
    truth = np.array([0, 1, 0, 0] * 5)
    measure, value, fp32_value = compare_int8(fp32, int8, classifier=True, truth=truth)
    assert (measure, value, fp32_value) == ("accuracy", pytest.approx(14 / 20), pytest.approx(15 / 20))
    measure, cosine, _ = compare_int8(fp32, -fp32, classifier=False)
    assert measure == "cosine similarity" and cosine == pytest.approx(-1.0)


def test_raw_input_int8_takes_uint8_images_of_any_size_and_predicts(exported, finetuned):
    result = exported(raw_input=True, int8=True)
    report = result.int8
    assert report.value >= 0.9 and session_of(report.path).get_inputs()[0].type == "tensor(uint8)"
    paths = sorted(finetuned[1].rglob("*.png"))[::8]                      # (16, 16, 1) each, widened to 40
    images = np.stack([np.pad(decode(path, 1), ((0, 0), (12, 12), (0, 0)), mode="edge") for path in paths])
    full, int8 = first_output(result.path, images), first_output(report.path, images)
    assert np.abs(full - int8).max() < 0.1
    predictions = predict(report.path, finetuned[1])
    assert len(predictions) == 48 and all(p.error is None and p.label for p in predictions)


def test_embedding_int8_reports_cosine_similarity(exported, rgb_run):
    report = exported("embedding", int8=True).int8
    assert report.measure == "cosine similarity" and report.images == 16
    assert 0.99 <= report.value <= 1.0 + 1e-6 and report.recommended == "int8"
    result = exported("embedding", int8=True)
    x = float_input(sorted(rgb_run[1].rglob("*.png"))[:6], result.metadata)
    full, int8 = first_output(result.path, x), first_output(report.path, x)
    cosine = (full * int8).sum(1) / np.linalg.norm(full, axis=1) / np.linalg.norm(int8, axis=1)
    assert cosine.min() > 0.95


def test_gone_calibration_images_give_one_line_and_another_folder_can_be_given(rgb_run, tmp_path, capsys):
    run_dir, root = rgb_run
    copy = tmp_path / "run"
    copy.mkdir()
    saved = torch.load(run_dir / "backbone.pt", weights_only=True)
    saved["config"]["data_dir"] = str(tmp_path / "gone")
    torch.save(saved, copy / "backbone.pt")
    out = tmp_path / "out" / "model.onnx"
    assert cli.main(["export", str(copy), "--out", str(out), "--embedding", "--int8"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "calibrate the INT8 model on are not at" in error
    assert error.endswith("(--calibration-images DIR)") and not out.parent.exists()
    assert cli.main(["export", str(copy), "--out", str(out), "--embedding", "--int8",
                     "--calibration-images", str(root)]) == 0
    written = sorted(p.name for p in out.parent.iterdir())
    assert written == ["MODEL_CARD.md", "README.txt", "model.int8.onnx", "model.onnx"]


def test_a_quantization_failure_leaves_no_file_behind(finetuned, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def broken(*args, **kwargs):
        raise RuntimeError("calibration ran out of memory\nmore details")

    monkeypatch.setattr(quantize, "quantize_static", broken)
    out = tmp_path / "out" / "model.onnx"
    with pytest.raises(ExportError, match="^the model could not be quantized to INT8: calibration ran out of memory; "
                                          "nothing was written$"):
        export_model(finetuned[0], out, int8=True)
    assert not out.parent.exists() and list(scratch.iterdir()) == []


def test_a_full_disk_while_writing_the_int8_model_leaves_nothing(finetuned, tmp_path, monkeypatch):
    real_fsync = os.fsync

    def no_space_for_int8(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".model.int8.onnx."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", no_space_for_int8)
    with pytest.raises(ExportError, match="model.int8.onnx: the disk is full; nothing was written"):
        export_model(finetuned[0], tmp_path / "model.onnx", int8=True)
    assert list(tmp_path.iterdir()) == []


def test_int8_and_fp16_together_are_refused_before_any_work(finetuned, tmp_path, capsys):
    with pytest.raises(ExportError, match="choose fp16 or int8, not both"):
        export_model(finetuned[0], tmp_path / "model.onnx", fp16=True, int8=True)
    (tmp_path / "model.int8.onnx").write_bytes(b"kept")
    with pytest.raises(ExportError, match="model.int8.onnx exists already"):
        export_model(finetuned[0], tmp_path / "model.onnx", int8=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.int8.onnx"]
