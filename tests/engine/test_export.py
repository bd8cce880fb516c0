"""ONNX export: onnxruntime agrees with torch, the metadata round-trips, bad input fails cleanly."""
import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from engine import Cancelled, CancelToken
from engine.core.events import ExportStep, ExportSummary, Finished, Progress, Stage, Started, Warning
from engine.deploy.onnx_meta import decode
from engine.export import run as export_module
from engine.export.graph import RawInput, WithProbabilities, to_onnx
from engine.export.run import ExportError, export_model
from engine.export.verify import compare
from engine.models.backbones import build_backbone
from engine.models.model_io import Classifier, load_backbone, load_classifier
from engine.store.project import Project
from engine.store.runs import backbone_file, classifier_file
from tests.engine.export_data import (  # noqa: F401 - fixtures
    exported, finetuned, model_input, pretrained, rgb_run, session_of, training_images,
)


@pytest.mark.parametrize("raw_input", [False, True])
def test_classifier_probabilities_match_torch_at_batch_1_and_3(exported, finetuned, raw_input):
    result = exported(raw_input=raw_input)
    classifier, meta = load_classifier(classifier_file(finetuned[0]))
    images = training_images(Path(meta["pretrain_run"]), meta["in_channels"])
    session = session_of(result.path)
    for batch in (images[:1], images[5:8]):
        with torch.no_grad():
            expected = classifier(torch.from_numpy(model_input(batch, False, meta))).softmax(1)
        x = model_input(batch, raw_input, meta)
        probabilities, logits = session.run(["probabilities", "logits"], {session.get_inputs()[0].name: x})
        assert probabilities.shape == (len(batch), 3) and logits.shape == (len(batch), 3)
        np.testing.assert_allclose(probabilities, expected.numpy(), atol=1e-4, rtol=0)
    assert result.max_abs_diff <= 1e-4 and result.top1_agreement == 1.0
    assert result.batch_sizes == ((1, 8, 1) if raw_input else (1, 8))


def test_raw_input_crops_and_resizes_images_of_any_size_like_torch(exported, finetuned):
    classifier, meta = load_classifier(classifier_file(finetuned[0]))
    reference = RawInput(WithProbabilities(classifier), meta["image_size"], meta["mean"], meta["std"]).eval()
    session = session_of(exported(raw_input=True).path)
    rng = np.random.default_rng(0)
    for shape in ((1, 40, 23, 1), (3, 17, 50, 1), (3, 9, 9, 1)):
        images = rng.integers(0, 256, size=shape, dtype=np.uint8)
        with torch.no_grad():
            expected = reference(torch.from_numpy(images))[0].numpy()
        np.testing.assert_allclose(session.run(["probabilities"], {"image": images})[0], expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("raw_input", [False, True])
def test_embedding_matches_the_backbone_at_batch_1_and_3(exported, rgb_run, raw_input):
    result = exported("embedding", raw_input=raw_input)
    backbone, meta = load_backbone(backbone_file(rgb_run[0]))
    images = training_images(rgb_run[0], 3)
    session = session_of(result.path)
    for batch in (images[:1], images[2:5]):
        with torch.no_grad():
            expected = backbone(torch.from_numpy(model_input(batch, False, meta))).numpy()
        x = model_input(batch, raw_input, meta)
        (embedding,) = session.run(["embedding"], {session.get_inputs()[0].name: x})
        assert embedding.shape == (len(batch), meta["feature_dim"])
        np.testing.assert_allclose(embedding, expected, atol=1e-4 * max(1.0, np.abs(expected).max()), rtol=0)
    assert result.top1_agreement is None and result.per_class_accuracy is None


@pytest.mark.parametrize("kind, raw_input, fp16", [("classifier", False, False), ("classifier", True, False),
                                                   ("classifier", False, True), ("embedding", False, False),
                                                   ("embedding", True, False)])
def test_the_dynamo_exporter_is_used_for_every_head_and_recorded(exported, kind, raw_input, fp16):
    result = exported(kind, raw_input=raw_input, fp16=fp16)
    assert result.exporter == "dynamo"
    assert decode(session_of(result.path).get_modelmeta().custom_metadata_map)["exporter"] == "dynamo"


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["resnet18", "mobilenet_v3_small"])
def test_dynamo_exports_torchvision_backbones_with_raw_input_that_match_torch(backbone):
    model, dim = build_backbone(backbone, 3, 32)
    wrapped = RawInput(WithProbabilities(Classifier(model, dim, 4)), 32, (0.5,) * 3, (0.25,) * 3).eval()
    proto = to_onnx(wrapped, torch.zeros(2, 35, 33, 3, dtype=torch.uint8), "image", ["probabilities", "logits"],
                    {0: "batch", 1: "height", 2: "width"}, exporter="dynamo")
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(0).integers(0, 256, size=(3, 40, 27, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = wrapped(torch.from_numpy(images))[0].numpy()
    np.testing.assert_allclose(session.run(["probabilities"], {"image": images})[0], expected, atol=1e-4, rtol=0)


def test_a_dynamo_model_that_fails_parity_falls_back_to_torchscript(finetuned, tmp_path, monkeypatch):
    real_to_onnx = export_module.to_onnx

    def dynamo_off_by_a_little(module, example, input_name, output_names, axes, exporter):
        if exporter == "dynamo":
            module = AddToFirstOutput(module, 1e-3)
        return real_to_onnx(module, example, input_name, output_names, axes, exporter)

    monkeypatch.setattr(export_module, "to_onnx", dynamo_off_by_a_little)
    events = []
    result = export_model(finetuned[0], tmp_path / "model.onnx", on_event=events.append)
    assert result.exporter == "torchscript" and result.max_abs_diff <= 1e-4
    assert decode(session_of(result.path).get_modelmeta().custom_metadata_map)["exporter"] == "torchscript"
    warnings = [e.message for e in events if isinstance(e, Warning)]
    assert len(warnings) == 1 and "dynamo exporter's model did not pass (verification failed" in warnings[0]


def test_an_export_names_each_step_as_it_begins_and_quantizes_only_for_int8(finetuned, tmp_path):
    for int8, middle in ((False, []), (True, [ExportStep.QUANTIZE])):
        events = []
        result = export_model(finetuned[0], tmp_path / f"int8-{int8}.onnx", int8=int8, on_event=events.append)
        progress = [e for e in events if isinstance(e, Progress) and e.stage is Stage.EXPORT]
        steps = [ExportStep.CONVERT, ExportStep.VERIFY, *middle, ExportStep.WRITE]
        assert [e.metrics.current for e in progress] == [*steps, None]
        assert [e.step for e in progress] == list(range(1, len(steps) + 2))
        started = next(e for e in events if isinstance(e, Started) and e.stage is Stage.EXPORT)
        assert started.total == len(steps) + 1 == progress[-1].total
        summary = next(e for e in events if isinstance(e, Finished) and e.stage is Stage.EXPORT).info
        assert isinstance(summary, ExportSummary) and summary.path == result.path
        assert summary.recommended == (result.int8.recommended if int8 else "fp32")


def test_a_dynamo_conversion_error_falls_back_to_torchscript(finetuned, tmp_path, monkeypatch):
    real_to_onnx = export_module.to_onnx

    def dynamo_breaks(module, example, input_name, output_names, axes, exporter):
        if exporter == "dynamo":
            raise RuntimeError("Failed to export the model with torch.export\nmore lines")
        return real_to_onnx(module, example, input_name, output_names, axes, exporter)

    monkeypatch.setattr(export_module, "to_onnx", dynamo_breaks)
    result = export_model(finetuned[0], tmp_path / "model.onnx", raw_input=True)
    assert result.exporter == "torchscript" and result.max_abs_diff <= result.tolerance
    assert result.batch_sizes == (1, 8, 1)


def test_metadata_round_trips_through_onnxruntime_and_the_model_checks(exported, finetuned):
    result = exported(raw_input=True)
    _, meta = load_classifier(classifier_file(finetuned[0]))
    onnx.checker.check_model(result.path, full_check=True)
    model_meta = session_of(result.path).get_modelmeta()
    values = decode(model_meta.custom_metadata_map)
    assert values == result.metadata
    assert model_meta.producer_name == "pretext-studio"
    assert values["classes"] == meta["classes"] and values["kind"] == "classifier"
    assert (values["input_name"], values["input_dtype"], values["input_layout"]) == ("image", "uint8", "NHWC")
    assert values["input_size"] == [16, 16] and values["channel_order"] == "L"
    assert values["mean"] == pytest.approx(meta["mean"]) and values["std"] == pytest.approx(meta["std"])
    assert values["torch_version"] == torch.__version__ and values["app_version"]
    assert values["training"] == {
        "method": "simclr", "backbone": "smallcnn", "mode": "linear", "labels_used": 9,
        "validation_accuracy": meta["validation"]["accuracy"], "validation_scheme": meta["validation"]["scheme"]}
    session = session_of(result.path)
    assert [i.shape for i in session.get_inputs()] == [["batch", "height", "width", 1]]
    assert [o.name for o in session.get_outputs()] == ["probabilities", "logits"]


def test_per_class_accuracy_is_measured_on_the_labeled_images(exported, finetuned):
    accuracy = exported().per_class_accuracy
    assert set(accuracy) == {"columns", "disc", "rows"} and all(0.0 <= a <= 1.0 for a in accuracy.values())
    assert sum(accuracy.values()) / 3 > 0.6                 # the probe fits its own 9 labels


def test_fp16_halves_the_file_and_stays_close(exported):
    full, half = exported(), exported(fp16=True)
    assert half.precision == "fp16" and half.metadata["precision"] == "fp16"
    assert half.size_bytes < 0.6 * full.size_bytes
    assert 0 < half.max_abs_diff <= 1e-2 and half.top1_agreement >= 0.85
    assert session_of(half.path).get_inputs()[0].type == "tensor(float)"


@pytest.mark.parametrize("raw_input", [False, True])
def test_readme_example_runs_with_onnxruntime_and_pillow_alone(exported, finetuned, raw_input):
    result = exported(raw_input=raw_input)
    readme = Path(result.readme_path).read_text()
    assert readme.startswith(f"Pretext Studio model: {Path(result.path).name}")
    assert f"  {result.metadata['input_name']}  (N, " in readme and "probabilities  (N, K)" in readme
    assert all(name in readme for name in ("columns", "disc", "rows"))
    example = "\n".join(line[4:] for line in readme.split("Example")[1].splitlines()[2:] if line.startswith("    "))
    image = sorted(finetuned[1].rglob("*.png"))[0]
    script = example.replace("photo.jpg", str(image)).replace(Path(result.path).name, result.path)
    script += "\nimport sys\nassert 'torch' not in sys.modules\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    predicted, confidence = done.stdout.split()
    assert predicted in ("columns", "disc", "rows") and 0 < float(confidence) <= 1


def test_a_project_folder_exports_its_newest_fine_tune(finetuned, tmp_path):
    run_dir, root, _ = finetuned
    with Project.open(root) as project:
        project.add_run("finetune", run_dir)
    result = export_model(root, tmp_path / "model.onnx")
    assert result.kind == "classifier" and Path(result.path).is_file()


def test_existing_file_is_kept_unless_overwrite(finetuned, tmp_path):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"the user's file")
    with pytest.raises(ExportError, match="exists already"):
        export_model(finetuned[0], out)
    assert out.read_bytes() == b"the user's file"
    export_model(finetuned[0], out, overwrite=True)
    assert session_of(out).get_outputs()[0].name == "probabilities"


def test_unwritable_destinations_fail_before_any_work(finetuned, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ExportError, match="is a file, not a folder"):
        export_model(finetuned[0], blocker / "sub" / "model.onnx")
    (tmp_path / "x.onnx").mkdir()
    with pytest.raises(ExportError, match="is a folder"):
        export_model(finetuned[0], tmp_path / "x.onnx")
    with pytest.raises(ExportError, match="must end in .onnx"):
        export_model(finetuned[0], tmp_path / "model.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "x.onnx"]


@pytest.mark.parametrize("full_on", ["model.onnx", "README.txt", "MODEL_CARD.md"])
def test_a_full_disk_leaves_the_previous_model_readme_and_card_intact(finetuned, tmp_path, monkeypatch, full_on):
    out = tmp_path / "model.onnx"
    first = export_model(finetuned[0], out)
    files = (out, Path(first.readme_path), Path(first.model_card_path))
    before = [path.read_bytes() for path in files]
    real_fsync = os.fsync

    def no_space_for_one_file(fd):   # the temp file of ``full_on`` is ".<name>.<pid>.partial"
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(f".{full_on}."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", no_space_for_one_file)
    full = f"^cannot write .*/{full_on}: the disk is full; the existing file is unchanged$"
    with pytest.raises(ExportError, match=full):
        export_model(finetuned[0], out, raw_input=True, overwrite=True)
    assert [path.read_bytes() for path in files] == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MODEL_CARD.md", "README.txt", "model.onnx"]


def test_a_failed_verification_writes_nothing(finetuned, tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "FP32_TOLERANCE", -1.0)
    with pytest.raises(ExportError, match="verification failed.*nothing was written"):
        export_model(finetuned[0], tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []


def test_cancel_stops_the_export_and_writes_nothing(finetuned, tmp_path):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        export_model(finetuned[0], tmp_path / "model.onnx", cancel=token)
    assert list(tmp_path.iterdir()) == []


def test_exporting_before_training_says_what_to_do(pretrained, tmp_path):
    run_dir = pretrained[0]
    with pytest.raises(ExportError, match="fine-tune it on a few labels first, or export the embedding"):
        export_model(run_dir, tmp_path / "model.onnx")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text((run_dir / "config.json").read_text())
    with pytest.raises(ExportError, match="run pretraining first"):
        export_model(unfinished, tmp_path / "model.onnx", kind="embedding")
    with pytest.raises(ExportError, match="train a model first"):
        export_model(tmp_path, tmp_path / "model.onnx")
    with pytest.raises(ExportError, match="not found"):
        export_model(tmp_path / "missing", tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_moved_training_images_need_a_folder_to_verify_on(rgb_run, tmp_path):
    run_dir, root = rgb_run
    copy = tmp_path / "run"
    copy.mkdir()
    (copy / "backbone.pt").write_bytes((run_dir / "backbone.pt").read_bytes())
    saved = torch.load(copy / "backbone.pt", weights_only=True)
    saved["config"]["data_dir"] = str(tmp_path / "gone")
    torch.save(saved, copy / "backbone.pt")
    with pytest.raises(ExportError, match="not at .* any more.*--verify-images"):
        export_model(copy, tmp_path / "model.onnx", kind="embedding")
    result = export_model(copy, tmp_path / "model.onnx", kind="embedding", verify_images=root)
    assert result.max_abs_diff <= result.tolerance


def test_each_model_in_a_folder_keeps_its_own_readme(finetuned, tmp_path):
    first = export_model(finetuned[0], tmp_path / "a.onnx")
    second = export_model(finetuned[0], tmp_path / "b.onnx", raw_input=True)
    again = export_model(finetuned[0], tmp_path / "a.onnx", overwrite=True)
    assert [Path(r.readme_path).name for r in (first, second, again)] == ["README.txt", "b.README.txt", "README.txt"]
    assert "(N, H, W, 1) uint8" in Path(second.readme_path).read_text()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "README.txt").write_text("my own notes")
    assert Path(export_model(finetuned[0], mine / "c.onnx").readme_path).name == "c.README.txt"
    assert (mine / "README.txt").read_text() == "my own notes"


def test_the_comparison_catches_differences_and_nans():
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])])
    session = ort.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
                                   .SerializeToString(), providers=["CPUExecutionProvider"])
    batches = [np.array([[0.25, 0.75]], np.float32), np.array([[0.5, 0.5], [0.0, 1.0]], np.float32)]
    same = compare(Offset(0.0), session, batches, classifier=True, tolerance=1e-4)
    assert same.max_abs_diff == 0.0 and same.batch_sizes == (1, 2) and same.images == 3
    assert same.top1_agreement == 1.0
    shifted = compare(Offset(1e-3), session, batches, classifier=True, tolerance=1e-4)
    assert shifted.max_abs_diff == pytest.approx(1e-3, rel=1e-3) and shifted.max_abs_diff > shifted.limit
    assert np.isnan(compare(Offset(float("nan")), session, batches, classifier=True, tolerance=1e-4).max_abs_diff)


class AddToFirstOutput(torch.nn.Module):
    """A model whose first output is shifted by ``value``: an exporter that gets it slightly wrong."""

    def __init__(self, model: torch.nn.Module, value: float) -> None:
        super().__init__()
        self.model, self.value = model, value

    def forward(self, x):
        first, *rest = self.model(x)
        return (first + self.value, *rest)


class Offset(torch.nn.Module):
    """x -> x + value: a stand-in for a torch model that disagrees with the ONNX one."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x):
        return x + self.value
