"""Training under stress: the device running out of memory, Stop in the middle of an epoch,
the process killed while it writes a checkpoint, and repeatability."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from engine import CancelToken, Progress, Stage, Started, Warning, run_pretraining
from engine.core import atomic, checkpoint
from engine.pretrain import session as session_module
from engine.pretrain.methods.simclr import SimCLR
from engine.pretrain.preview import PREVIEW_IMAGES
from engine.store.runs import open_run_folder
from tests.engine.run_helpers import losses_of, tiny_config
from tests.reliability.fixtures import run_python


def batch_sizes(events) -> list[int]:
    return [e.metrics.batch_size for e in events if isinstance(e, Progress) and e.stage is Stage.PRETRAIN]


def stray_temps(run_dir) -> list[Path]:
    return sorted(Path(run_dir).rglob(f"*{atomic.TEMP_SUFFIX}"))


# --- 7. out of memory -------------------------------------------------------------------------------------

OOM_AT = {   # where the device runs out of memory: (owner, attribute, which call, the calls that count)
    "augmentation": (session_module.Augmenter, "__call__", 3, lambda _self, images, *_: len(images) > PREVIEW_IMAGES),
    "forward pass": (SimCLR, "forward", 2, lambda *_: True),
    "optimiser step": (torch.optim.SGD, "step", 2, lambda *_: True),
}


@pytest.mark.parametrize("where", OOM_AT)
def test_07_out_of_memory_mid_epoch_halves_the_batch_says_so_and_the_run_finishes(
        image_folder, tmp_path, monkeypatch, where):
    owner, name, nth, counts = OOM_AT[where]
    real, calls = getattr(owner, name), []

    def runs_out_at_the_second_step(*args, **kwargs):
        if counts(*args):
            calls.append(args)
            if len(calls) == nth:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, runs_out_at_the_second_step)
    events = []
    result = run_pretraining(tiny_config(image_folder, tmp_path), on_event=events.append)
    assert len(calls) > nth                                     # the failed step was tried again
    assert [e.message for e in events if isinstance(e, Warning)] == [
        "Out of memory at batch size 12: continuing with batch size 6."]
    assert batch_sizes(events) == [12, 6, 6]                    # the second half of the epoch, in halves
    assert (result.status, result.step, result.total_steps) == ("completed", 3, 3)
    saved = checkpoint.load(open_run_folder(result.run_dir).checkpoint_path)
    assert saved["loop"]["batch_size"] == 6 and saved["loop"]["step"] == 3


# --- 8. Stop in the middle of an epoch -----------------------------------------------------------------------

def test_08_stop_mid_epoch_ends_within_a_step_keeps_a_loadable_checkpoint_and_resume_reaches_the_end(
        image_folder, tmp_path):
    cfg = tiny_config(image_folder, tmp_path, epochs=2, batch_size=4, checkpoint_every=1000)
    straight = []
    full = run_pretraining(cfg, on_event=straight.append)
    assert full.total_steps == 12

    token, asked, stop_at = CancelToken(), threading.Event(), 3
    stopper = threading.Thread(target=lambda: asked.wait(30) and token.cancel())   # the GUI thread's Stop
    stopper.start()
    first = []

    def sink(event):
        first.append(event)
        if isinstance(event, Progress) and event.stage is Stage.PRETRAIN and event.step == stop_at:
            asked.set()
            stopper.join()

    stopped = run_pretraining(cfg, on_event=sink, cancel=token)
    assert stopped.status == "cancelled" and stop_at <= stopped.step <= stop_at + 1
    run = open_run_folder(stopped.run_dir)
    saved = checkpoint.load(run.checkpoint_path)
    assert saved["loop"]["step"] == stopped.step and saved["loop"]["position"] != 0   # mid-epoch
    assert run.resumable and not stray_temps(run.path)

    rest = []
    resumed = run_pretraining(None, on_event=rest.append, resume=stopped.run_dir)
    assert (resumed.status, resumed.step) == ("completed", full.step)
    assert losses_of(first) + losses_of(rest) == pytest.approx(losses_of(straight), rel=1e-5)
    assert [row["step"] for row in run.read_metrics() if "epoch_end" not in row] == list(range(1, 13))


# --- 9. killed while writing a checkpoint ----------------------------------------------------------------------

KILLED_WHILE_SAVING = """
import os, signal, sys
from pathlib import Path
from engine import run_pretraining
from engine.core import atomic
from tests.engine.run_helpers import tiny_config

real_replace, saves, name, nth = atomic.replace_file, [], sys.argv[3], int(sys.argv[4])

def killed_before_a_replace(source, target):
    saves.extend([target.name] if target.name == name else [])
    if len(saves) == nth:     # the temp file is written and fsynced, not yet in place
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(source, target)

atomic.replace_file = killed_before_a_replace
run_pretraining(tiny_config(Path(sys.argv[1]), Path(sys.argv[2]), epochs=2, batch_size=8))
"""


@pytest.mark.parametrize("name, nth, kept_step", [("last.pt", 3, 2), ("backbone.pt", 1, 6)])
def test_09_a_kill_while_a_file_is_saved_keeps_the_previous_checkpoint_and_resume_cleans_up(
        image_folder, tmp_path, name, nth, kept_step):
    done = run_python(KILLED_WHILE_SAVING, str(image_folder), str(tmp_path), name, str(nth), timeout=120)
    assert done.returncode == -9, done.stderr
    [run_dir] = (tmp_path / "runs").iterdir()
    run = open_run_folder(run_dir)
    assert checkpoint.load(run.checkpoint_path)["loop"]["step"] == kept_step      # intact
    assert [p.name.split(".")[1] for p in stray_temps(run_dir)] == [name.split(".")[0]]
    assert run.resumable
    with open(run.metrics_path, "a") as metrics:      # and a row cut short, as by a kill mid-write
        metrics.write('{"step": 7, "lo')
    assert run.read_metrics()[-1]["step"] <= 6

    cleaned = []

    def sink(event):
        if isinstance(event, Started) and event.stage is Stage.PRETRAIN:
            cleaned.append(stray_temps(run_dir))

    resumed = run_pretraining(None, on_event=sink, resume=run_dir)
    assert cleaned == [[]] and stray_temps(run_dir) == []
    assert (resumed.status, resumed.step) == ("completed", 6) and run.finished
    straight = []
    run_pretraining(tiny_config(image_folder, tmp_path / "straight", epochs=2, batch_size=8), on_event=straight.append)
    rows = [row for row in run.read_metrics() if "epoch_end" not in row]
    assert [row["step"] for row in rows] == list(range(1, 7))          # each step once, in order
    assert [row["loss"] for row in rows] == pytest.approx(losses_of(straight), rel=1e-5)


# --- 12. the same seed twice --------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["simclr", "byol", "vicreg", "dino"])
def test_12_the_same_seed_on_the_cpu_gives_identical_losses(image_folder, tmp_path, method):
    runs = []
    for _ in range(2):      # the second run reuses the decoded images of the first
        events = []
        run_pretraining(tiny_config(image_folder, tmp_path, method=method, epochs=2), on_event=events.append)
        runs.append(losses_of(events))
    assert len(runs[0]) == 4 and runs[0] == runs[1]
    other = []
    run_pretraining(tiny_config(image_folder, tmp_path, method=method, epochs=2, seed=7), on_event=other.append)
    assert losses_of(other)[:4] != runs[0]
