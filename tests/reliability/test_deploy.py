"""The exported model: checked, equal to torch, self-describing; and exports that cannot be written."""
from __future__ import annotations

import builtins
import errno
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from engine.cli import program as cli
from engine.deploy.onnx_meta import decode
from engine.deploy.predict import load_model
from engine.models.model_io import load_backbone, load_classifier
from engine.store.runs import backbone_file, classifier_file
from tests.engine.export_data import model_input, session_of, training_images
from tests.engine.run_helpers import exit_code

# --- 13. a valid model that agrees with torch ---------------------------------------------------------------


@pytest.mark.parametrize("kind, raw_input", [("classifier", False), ("embedding", True)])
def test_13_the_export_passes_the_full_check_matches_torch_at_batch_1_and_3_and_its_metadata_round_trips(
        exported, finetuned, rgb_run, kind, raw_input):
    result = exported(kind, raw_input=raw_input)
    onnx.checker.check_model(onnx.load(result.path), full_check=True)
    if kind == "classifier":
        model, meta = load_classifier(classifier_file(finetuned[0]))
        images = training_images(Path(meta["pretrain_run"]), meta["in_channels"])
    else:
        model, meta = load_backbone(backbone_file(rgb_run[0]))
        images = training_images(rgb_run[0], meta["in_channels"])
    session = session_of(result.path)
    for batch in (images[:1], images[4:7]):
        with torch.no_grad():
            expected = model(torch.from_numpy(model_input(batch, False, meta)))
        expected = (expected.softmax(1) if kind == "classifier" else expected).numpy()
        (got,) = session.run([session.get_outputs()[0].name],
                             {session.get_inputs()[0].name: model_input(batch, raw_input, meta)})
        assert got.shape == expected.shape and got.shape[0] == len(batch)
        np.testing.assert_allclose(got, expected, atol=1e-4 * max(1.0, float(np.abs(expected).max())), rtol=0)
    values = decode(session.get_modelmeta().custom_metadata_map)
    assert values == result.metadata == load_model(result.path).meta
    assert (values["kind"], values["input_dtype"]) == (kind, "uint8" if raw_input else "float32")


# --- 14. exports that cannot be written ----------------------------------------------------------------------

def refuse(monkeypatch, folder: Path, how: str) -> None:
    """Make ``folder`` unwritable the way ``how`` says (root ignores chmod, so it is simulated)."""
    if how == "a folder that is not writable":
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode: (
            False if Path(path) == folder and mode & os.W_OK else real_access(path, mode)))
    elif how == "a write that is refused":
        real_open = builtins.open

        def guarded_open(file, mode="r", *args, **kwargs):
            if "w" in mode and Path(os.fspath(file)).parent == folder:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(file))
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", guarded_open)
    else:
        real_fsync = os.fsync

        def full(fd):
            if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".model.onnx."):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", full)


@pytest.mark.parametrize("how, says", [
    ("a folder that is not writable", "is not writable"),
    ("a write that is refused", ": permission denied; the existing file is unchanged"),
    ("a full disk", "model.onnx: the disk is full; the existing file is unchanged"),
])
def test_14_an_export_that_cannot_be_written_says_why_and_leaves_the_existing_model_untouched(
        finetuned, tmp_path, monkeypatch, capsys, how, says):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"the model in use")
    (folder / "README.txt").write_text("its instructions")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    refuse(monkeypatch, folder, how)
    assert exit_code(["export", str(finetuned[0]), "--out", str(folder / "model.onnx"), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("pretext-studio-cli: error: ") and says in err.splitlines()[-1]
    assert "Traceback" not in err
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before     # untouched, no temp files
    assert cli.main(["export", str(finetuned[0]), "--out", str(folder / "model.onnx"), "--overwrite"]) == 0


def test_predict_refuses_to_replace_a_file_unless_asked_and_checks_its_csv_before_predicting(
        exported, finetuned, tmp_path, capsys):
    model = Path(exported("classifier").path)
    images = tmp_path / "images"
    images.mkdir()
    for source in sorted(finetuned[1].rglob("*.png"))[:3]:
        (images / source.name).write_bytes(source.read_bytes())
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\na.png,cat\n")
    before = model.read_bytes()
    for target, words in [(labels, "exists; add --overwrite to replace it"),
                          (model, "is a file this command reads; choose another name"),
                          (tmp_path / "missing" / "out.csv", "does not exist")]:
        assert exit_code(["predict", str(model), str(images), "--csv", str(target)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and words in err and len(err.strip().splitlines()) == 1   # said before any prediction
    assert labels.read_text() == "path,label\na.png,cat\n" and model.read_bytes() == before
    assert exit_code(["predict", str(model), str(images), "--csv", str(labels), "--overwrite"]) == 0
    assert labels.read_text().startswith("path,label,probability,error") and len(labels.read_text().splitlines()) == 4
    assert not list(tmp_path.glob(".*.partial"))
