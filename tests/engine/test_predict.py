"""Predicting with an exported model: onnxruntime + numpy + Pillow only, one message per bad file."""
import csv
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from engine import Cancelled, CancelToken
from engine.cli import program as cli
from engine.core.events import PredictProgress, Stage
from engine.data import imageio
from engine.data.augment import normalize_only
from engine.data.imageio import decode_resized
from engine.deploy.predict import PredictError, image_files, load_model, predict, write_csv
from engine.finetune.run import read_predictions
from engine.models.model_io import load_backbone
from engine.store.runs import backbone_file
from tests.engine.export_data import exported, finetuned, pretrained, rgb_run  # noqa: F401 - fixtures


@pytest.mark.parametrize("raw_input", [False, True])
def test_top1_matches_the_engines_predictions_on_every_image(exported, finetuned, raw_input):
    run_dir, root, _ = finetuned
    engine_says = {p.path: p.prediction for p in read_predictions(run_dir)}
    results = predict(exported(raw_input=raw_input).path, root)
    assert len(results) == len(engine_says) and all(r.error is None for r in results)
    assert {Path(r.path).relative_to(root).as_posix(): r.label for r in results} == engine_says
    assert all(0 < r.probability <= 1 for r in results)


def test_embedding_model_returns_the_backbone_features(exported, rgb_run):
    run_dir, root = rgb_run
    backbone, meta = load_backbone(backbone_file(run_dir))
    image = sorted(root.rglob("*.png"))[0]
    (result,) = predict(exported("embedding").path, image)
    pixels = torch.from_numpy(decode_resized(image, 16, 3))[None]
    with torch.no_grad():
        expected = backbone(normalize_only(pixels, 16, meta["mean"], meta["std"]))[0].numpy()
    np.testing.assert_allclose(result.embedding, expected, atol=1e-4 * max(1.0, np.abs(expected).max()), rtol=0)
    assert result.label is None and result.error is None


def test_bad_files_get_one_message_each_and_the_rest_is_predicted(exported, finetuned, tmp_path):
    good = sorted(finetuned[1].rglob("*.png"))[:2]
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    for i, path in enumerate(good):
        (folder / f"good{i}.png").write_bytes(path.read_bytes())
    (folder / "notes.txt").write_text("not a picture")
    (folder / "sub" / "broken.png").write_bytes(good[0].read_bytes()[:60])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / ".hidden.png").write_bytes(b"ignored")
    for raw_input in (False, True):
        results = {Path(r.path).name: r for r in predict(exported(raw_input=raw_input).path, folder)}
        assert sorted(results) == ["broken.png", "empty.jpg", "good0.png", "good1.png", "notes.txt"]
        assert results["notes.txt"].error.startswith("not an image")
        assert results["broken.png"].error.startswith("truncated")
        assert results["empty.jpg"].error.startswith("empty")
        assert results["good0.png"].label and results["good1.png"].label and results["good1.png"].error is None


def test_models_that_are_not_ours_are_refused_clearly(tmp_path):
    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "foreign", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "foreign.onnx")
    with pytest.raises(PredictError, match="not a Pretext Studio model"):
        load_model(tmp_path / "foreign.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(PredictError, match="not an ONNX model onnxruntime can load"):
        load_model(tmp_path / "junk.onnx")
    with pytest.raises(PredictError, match="model file not found"):
        load_model(tmp_path / "missing.onnx")
    with pytest.raises(PredictError, match="no such file or folder"):
        image_files(tmp_path / "nothing-here")


def test_csv_lists_every_file_with_its_label_or_error(exported, finetuned, tmp_path):
    image = sorted(finetuned[1].rglob("*.png"))[0]
    model = load_model(exported().path)
    (tmp_path / "notes.txt").write_text("x")
    results = model.predict([image, tmp_path / "notes.txt"])
    write_csv(results, tmp_path / "out.csv")
    rows = list(csv.DictReader(open(tmp_path / "out.csv", newline="")))
    assert [r["path"] for r in rows] == [str(image), str(tmp_path / "notes.txt")]
    assert rows[0]["label"] == results[0].label and float(rows[0]["probability"]) == pytest.approx(
        results[0].probability, abs=1e-6)
    assert rows[1]["label"] == "" and rows[1]["error"].startswith("not an image")


def test_cli_predict_never_imports_torch(exported, finetuned, tmp_path):
    model = exported(raw_input=True).path
    (tmp_path / "images").mkdir()
    for path in sorted(finetuned[1].rglob("*.png"))[:3]:
        (tmp_path / "images" / path.name).write_bytes(path.read_bytes())
    (tmp_path / "images" / "notes.txt").write_text("x")
    script = (
        "import sys\nfrom engine import cli\n"
        f"code = cli.main(['predict', {model!r}, {str(tmp_path / 'images')!r}, '--csv', {str(tmp_path / 'out.csv')!r}])\n"
        "assert 'torch' not in sys.modules, 'predict imported torch'\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(cli.__file__).parents[2])
    assert done.returncode == 1, done.stderr                         # one file was not an image
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 4 and "notes.txt\terror: not an image" in done.stdout
    assert "1 of 4 file(s) could not be used" in done.stderr
    assert len(list(csv.reader(open(tmp_path / "out.csv")))) == 5


def test_cli_export_then_predict(finetuned, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    assert cli.main(["export", str(finetuned[0]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "verified on 9 images at batch sizes 1, 8" in printed and "top-1 agreement 100%" in printed
    assert cli.main(["export", str(finetuned[0]), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert "exists already" in error and len(error.splitlines()) == 1
    image = sorted(finetuned[1].rglob("*.png"))[0]
    assert cli.main(["predict", str(out), str(image)]) == 0
    path, label, probability = capsys.readouterr().out.strip().split("\t")
    assert path == str(image) and label in ("columns", "disc", "rows") and 0 < float(probability) <= 1


def test_decoding_runs_on_worker_threads_in_order_with_progress(exported, finetuned, monkeypatch):
    paths = sorted(finetuned[1].rglob("*.png")) * 3                         # 144 files: 5 batches of 32
    model = load_model(exported().path)
    serial = model.predict(paths, workers=1)
    threads = set()
    real_decode = imageio.decode_resized

    def decode_and_note(path, size, channels):
        threads.add(threading.current_thread().name)
        return real_decode(path, size, channels)

    monkeypatch.setattr(imageio, "decode_resized", decode_and_note)
    events = []
    pooled = model.predict(paths, on_event=events.append, workers=4)
    assert [(p.path, p.label, p.probability) for p in pooled] == [(p.path, p.label, p.probability) for p in serial]
    assert threads and all(name.startswith("decode") for name in threads)
    assert [(e.stage, e.step, e.total) for e in events] == [(Stage.PREDICT, n, 144) for n in (32, 64, 96, 128, 144)]
    assert all(isinstance(e.metrics, PredictProgress) and e.metrics.images_per_s > 0 for e in events)


def test_cancel_stops_predicting_after_the_current_batch(exported, finetuned):
    paths = sorted(finetuned[1].rglob("*.png")) * 4
    token = CancelToken()
    seen = []

    def cancel_after_the_first_batch(event):
        seen.append(event.step)
        token.cancel()

    with pytest.raises(Cancelled):
        load_model(exported().path).predict(paths, on_event=cancel_after_the_first_batch, cancel=token)
    assert seen == [32]
