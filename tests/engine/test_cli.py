"""The headless CLI: one clear line and exit code 2 for bad input, never a traceback."""
import re
from pathlib import Path

import pytest

from engine.cli import console
from engine.cli import program as cli
from engine.pretrain.state import BUDGET_EPOCH_CAP
from tests.engine.run_helpers import exit_code, run_cli


@pytest.mark.parametrize("args, words", [
    (["pretrain", "{missing}"], "folder not found"),
    (["pretrain", "{empty}"], "no usable images"),
    (["pretrain", "{images}", "--epochs", "0"], "epochs must be at least 1"),
    (["pretrain", "{images}", "--method", "mae"], "invalid choice: 'mae'"),
    (["pretrain", "{images}", "--batch-size", "lots"], "invalid int value"),
    (["pretrain", "{images}", "--out", "{file}/runs"], "cannot write runs"),
    (["pretrain"], "give an image folder"),
    (["pretrain", "--resume", "{empty}"], "not a run folder"),
    (["scan", "{missing}"], "folder not found"),
    (["scan", "{file}"], "not a folder"),
])
def test_bad_input_prints_one_line_and_exits_2(args, words, tmp_path, image_folder, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    names = {"missing": tmp_path / "missing", "empty": empty, "images": image_folder, "file": a_file}
    argv = [arg.format(**names) for arg in args]
    assert exit_code(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_argument_errors_exit_with_code_2_in_a_real_process():
    done = run_cli("pretrain", "--method", "mae")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_help_is_available_everywhere():
    for args in ([], ["scan"], ["pretrain"]):
        done = run_cli(*args, "--help")
        assert done.returncode == 0 and "usage:" in done.stdout


def test_scan_prints_the_report(image_folder, tmp_path, capsys):
    (image_folder / "broken.png").write_bytes(b"")
    assert cli.main(["scan", str(image_folder)]) == 0
    out = capsys.readouterr().out
    assert "24" in out and "broken.png" in out and "empty" in out


def test_pretrain_writes_a_run_folder(image_folder, tmp_path, capsys):
    code = cli.main(["pretrain", str(image_folder), "--backbone", "smallcnn", "--image-size", "16",
                     "--batch-size", "12", "--epochs", "1", "--device", "cpu",
                     "--out", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    out = capsys.readouterr().out
    assert "completed: step 2/2" in out
    run_dir = Path(out.split("run folder: ")[1].split()[0])
    assert (run_dir / "backbone.pt").is_file() and (run_dir / "config.json").is_file()


def test_a_time_budget_shows_no_total_until_the_speed_sets_it(image_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(console, "REDRAW_INTERVAL_S", 0.0)    # every step drawn
    code = cli.main(["pretrain", str(image_folder), "--backbone", "smallcnn", "--image-size", "16",
                     "--batch-size", "12", "--minutes", "0.03", "--device", "cpu",
                     "--out", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    captured = capsys.readouterr()
    assert re.search(r"completed: step (\d+)/\1,", captured.out)
    steps = [line for line in captured.err.split("\r") if "] step " in line or line.startswith("step ")]
    measuring = [line for line in steps if "(measuring speed)" in line]
    assert [line.split("  ")[0] for line in measuring] == [f"step {step} (measuring speed)" for step in range(1, 5)]
    assert steps[:4] == measuring and not any("eta" in line for line in measuring)
    assert max(int(total) for total in re.findall(r"step \d+/(\d+)", captured.err)) < BUDGET_EPOCH_CAP
