"""Bad command lines for every subcommand: exit code 2 and one clear line on stderr, never a traceback."""
from __future__ import annotations

import re

import pytest
import torch

from engine.cli import console
from tests.engine.run_helpers import exit_code, run_cli

BAD = [   # (arguments, words of the one error line); {images}, {empty}, {file}, {missing} are paths
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: command"),
    (["scan"], "required: folder"),
    (["pretrain", "{images}", "--epochs", "-1"], "epochs must be at least 1, not -1"),
    (["pretrain", "{images}", "--epochs", "ten"], "invalid int value: 'ten'"),
    (["pretrain", "{images}", "--batch-size", "1"], "batch size must be at least 2, not 1"),
    (["pretrain", "{images}", "--batch-size", "-4"], "batch size must be at least 2, not -4"),
    (["pretrain", "{images}", "--batch-size", "2.5"], "invalid int value: '2.5'"),
    (["pretrain", "{images}", "--image-size", "7"], "image size must be between 16 and 1024"),
    (["pretrain", "{images}", "--minutes", "0"], "minutes must be positive"),
    (["pretrain", "{images}", "--minutes", "nan"], "minutes must be positive"),
    (["pretrain", "{images}", "--minutes", "inf"], "minutes must be positive"),
    (["pretrain", "{images}", "--lr", "-0.1"], "learning rate must be positive"),
    (["pretrain", "{images}", "--lr", "nan"], "learning rate must be positive, not nan"),
    (["pretrain", "{images}", "--lr", "inf"], "learning rate must be positive, not inf"),
    (["pretrain", "{images}", "--checkpoint-every", "0"], "checkpoint interval must be at least 1"),
    (["pretrain", "{images}", "--seed", "-1"], "seed must be between 0 and 4294967295"),
    (["pretrain", "{images}", "--seed", "99999999999999999999"], "seed must be between 0 and 4294967295"),
    (["pretrain", "{images}", "--method", "mae"], "argument --method: invalid choice: 'mae'"),
    (["pretrain", "{images}", "--backbone", "vit_h"], "argument --backbone: invalid choice: 'vit_h'"),
    (["pretrain", "{images}", "--device", "tpu"], "unknown device 'tpu'"),
    (["pretrain", "{images}", "--device", "cuda:x"], "unknown device 'cuda:x'"),
    (["pretrain", "{images}", "--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
    (["pretrain", "{images}", "--epochs", "2", "--minutes", "1"], "not allowed with argument --epochs"),
    (["pretrain", "{missing}"], "folder not found"),
    (["pretrain", "{file}"], "not a folder"),
    (["pretrain", "--resume", "{missing}"], "is not a run folder"),
    (["suggest"], "required: RUN_DIR"),
    (["suggest", "{missing}"], "no finished pretraining in"),
    (["suggest", "{empty}", "--n", "0"], "--n must be at least 1, not 0"),
    (["suggest", "{empty}", "--device", "tpu"], "unknown device 'tpu'"),
    (["suggest", "{empty}", "--seed", "-5"], "seed must be between 0"),
    (["finetune", "{empty}"], "required: --labels"),
    (["finetune", "{missing}", "--labels", "{missing}.csv"], "cannot read labels from"),
    (["finetune", "{empty}", "--labels", "{file}"], "are not 'path,label' rows"),
    (["finetune", "{empty}", "--labels", "{labels}", "--mode", "magic"], "argument --mode: invalid choice"),
    (["finetune", "{empty}", "--labels", "{labels}", "--steps", "-1"], "steps must be 0 (auto) or more"),
    (["finetune", "{empty}", "--labels", "{labels}", "--minutes", "nan"], "minutes must be positive"),
    (["finetune", "{empty}", "--labels", "{labels}", "--device", "gpu"], "unknown device 'gpu'"),
    (["finetune", "{empty}", "--labels", "{labels}"], "no finished pretraining in"),
    (["export", "{empty}"], "required: --out"),
    (["export", "{missing}", "--out", "{empty}/m.onnx"], "not found"),
    (["export", "{empty}", "--out", "{empty}/m.onnx"], "neither a run folder nor an image folder"),
    (["export", "{empty}", "--out", "{empty}/model.pt"], "must end in .onnx"),
    (["predict", "{missing}.onnx"], "required: IMAGE_OR_DIR"),
    (["predict", "{missing}.onnx", "{images}"], "model file not found"),
    (["predict", "{file}", "{images}"], "is not an ONNX model"),
]


@pytest.fixture
def paths(tmp_path, image_folder) -> dict:
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "notes.txt").write_text("not a csv of labels\n")
    (tmp_path / "labels.csv").write_text("path,label\na/img_0000.png,square\na/img_0001.png,disc\n")
    return {"images": image_folder, "empty": empty, "file": tmp_path / "notes.txt",
            "missing": tmp_path / "missing", "labels": tmp_path / "labels.csv"}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("pretext-studio-cli")
    return lines[0]


@pytest.mark.parametrize("args, words", BAD, ids=[" ".join(args) or "nothing" for args, _ in BAD])
def test_fuzz_bad_arguments_exit_2_with_one_clear_line(paths, capsys, args, words):
    assert exit_code([arg.format(**paths) for arg in args]) == 2
    assert words in one_error_line(capsys)


def test_fuzz_a_gpu_index_beyond_the_gpus_is_refused_before_any_work(paths, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert exit_code(["pretrain", str(paths["images"]), "--device", "cuda:3", "--out", str(paths["empty"])]) == 2
    assert "cuda:3 was requested but only 1 CUDA GPU(s) are available" in one_error_line(capsys)


def test_fuzz_ctrl_c_while_scanning_ends_with_one_line_and_code_130(paths, capsys, monkeypatch):
    real_init = console.ConsoleProgress.__init__

    def interrupted_at_once(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.cancel_token.cancel()

    monkeypatch.setattr(console.ConsoleProgress, "__init__", interrupted_at_once)
    assert exit_code(["pretrain", str(paths["images"]), "--out", str(paths["empty"])]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "cancelled: nothing was written" and not any(paths["empty"].iterdir())


@pytest.mark.parametrize("args", [["frobnicate"], ["scan", "{missing}"]])
def test_fuzz_a_real_process_exits_2_with_one_line(paths, args):
    done = run_cli(*[arg.format(**paths) for arg in args])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("pretext-studio-cli") and len(done.stderr.splitlines()) == 1


def test_fuzz_a_learning_rate_that_diverges_ends_with_one_clear_last_line(paths, tmp_path, capsys):
    args = ["pretrain", str(paths["images"]), "--lr", "1e30", "--method", "simclr", "--backbone", "smallcnn",
            "--image-size", "16", "--batch-size", "12", "--epochs", "1", "--device", "cpu",
            "--out", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")]
    assert exit_code(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert re.fullmatch(r"pretext-studio-cli: error: the loss became (nan|inf) at step \d; try a lower learning rate",
                        err.splitlines()[-1])
