"""Run folders damaged on disk: every file read from them is checked, and a bad one is named."""
from __future__ import annotations

import json
import shutil

import pytest

from engine import CancelToken, Progress, Stage, Started, Warning, run_pretraining
from engine.core import checkpoint
from engine.store.runs import open_run_folder
from tests.engine.run_helpers import exit_code, tiny_config


def test_junk_lines_in_metrics_are_left_out_and_resume_still_finishes(image_folder, tmp_path):
    cfg = tiny_config(image_folder, tmp_path, epochs=2, batch_size=8)
    stopped = run_pretraining(cfg.replace(epochs=1))
    run = open_run_folder(stopped.run_dir)
    with open(run.metrics_path, "a", encoding="utf-8") as handle:
        handle.write('garbage\n[1, 2]\n5\n"text"\n{"step": \n')
    config = json.loads(run.config_path.read_text())
    config["epochs"] = 2
    run.config_path.write_text(json.dumps(config))
    resumed = run_pretraining(None, resume=stopped.run_dir)
    assert resumed.status == "completed"
    rows = run.read_metrics()
    assert rows and all(isinstance(row, dict) for row in rows)


@pytest.mark.parametrize("text, words", [
    ('{"data_dir": 5}', "config key 'data_dir' must be text, not 5"),
    ("", "is not a valid config"),
])
def test_a_damaged_config_stops_resume_with_one_line_naming_the_file(image_folder, tmp_path, capsys, text, words):
    done = run_pretraining(tiny_config(image_folder, tmp_path, epochs=1, batch_size=8))
    run = open_run_folder(done.run_dir)
    run.config_path.write_text(text)
    assert exit_code(["pretrain", "--resume", str(run.path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(run.config_path) in err and words in err


def test_a_damaged_predictions_file_stops_suggest_with_one_line_naming_it(finetuned, tmp_path, capsys):
    run = tmp_path / "finetune-run"
    shutil.copytree(finetuned[0], run)
    predictions = run / "predictions.csv"
    lines = predictions.read_text().splitlines()
    predictions.write_text("\n".join(lines[:2] + ["a.png,cat,not-a-number,dog,0.1,"] + lines[2:]) + "\n")
    assert exit_code(["suggest", str(run), "--n", "3", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"pretext-studio-cli: error: {predictions} is damaged: line 3 is not a prediction row (path, "
                   "prediction, confidence, runner_up, runner_up_confidence, label); fine-tune again to write it anew")


def stopped_run(image_folder, tmp_path):
    """A run stopped at step 6 with a checkpoint every 2 steps: it has last.pt and prev.pt."""
    cfg = tiny_config(image_folder, tmp_path, epochs=3, batch_size=8, checkpoint_every=2)
    token = CancelToken()

    def stop_at_six(event):
        if isinstance(event, Progress) and event.stage is Stage.PRETRAIN and event.step == 6:
            token.cancel()

    result = run_pretraining(cfg, on_event=stop_at_six, cancel=token)
    assert result.status == "cancelled"
    return open_run_folder(result.run_dir)


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 truncated"])
def test_a_damaged_last_checkpoint_resumes_from_the_previous_one_with_a_warning(image_folder, tmp_path, damage):
    run = stopped_run(image_folder, tmp_path)
    kept_step = checkpoint.load(run.previous_checkpoint_path)["loop"]["step"]
    run.checkpoint_path.write_bytes(damage)
    events = []
    resumed = run_pretraining(None, on_event=events.append, resume=run.path)
    warnings = [e.message for e in events if isinstance(e, Warning)]
    assert any("checkpoints/last.pt is damaged" in w and f"resuming from checkpoints/prev.pt (step {kept_step})" in w
               for w in warnings)
    started = next(e for e in events if isinstance(e, Started) and e.stage is Stage.PRETRAIN)
    assert started.info.resumed_from_step == kept_step and resumed.status == "completed"


def test_a_run_whose_checkpoints_are_all_damaged_says_in_one_line_that_it_cannot_be_resumed(
        image_folder, tmp_path, capsys):
    run = stopped_run(image_folder, tmp_path)
    run.checkpoint_path.write_bytes(b"")
    run.previous_checkpoint_path.write_bytes(b"junk")
    assert exit_code(["pretrain", "--resume", str(run.path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"pretext-studio-cli: error: cannot resume {run.path}: checkpoints/last.pt is damaged")
    assert "checkpoints/prev.pt is damaged" in err
