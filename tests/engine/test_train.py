"""The pretraining loop end to end on tiny data: every method, cancel/resume, repeatability."""
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import engine.data.scan
from engine import Cancelled, CancelToken, Preview, Progress, Stage, Warning, run_pretraining
from engine.core.events import MapSnapshot
from engine.data.scan import ScanError, scan_folder
from engine.pretrain import session as session_module
from engine.store.runs import RunFolderError, find_resumable, open_run_folder
from tests.engine.run_helpers import losses_of, tiny_config


@pytest.mark.parametrize("method", ["simclr", "byol", "vicreg", "dino"])
def test_two_steps_of_each_method_write_a_complete_run_folder(image_folder, tmp_path, method):
    events = []
    result = run_pretraining(tiny_config(image_folder, tmp_path, method=method), on_event=events.append)
    assert (result.status, result.step, result.total_steps) == ("completed", 2, 2)
    assert all(math.isfinite(loss) for loss in losses_of(events)) and len(losses_of(events)) == 2
    run = open_run_folder(result.run_dir)
    assert run.config().method == method and run.config().lr > 0
    assert [m["step"] for m in run.read_metrics() if "loss" in m and "epoch_end" not in m] == [1, 2]
    assert run.checkpoint_path.is_file() and run.finished
    saved = torch.load(result.backbone_path, weights_only=True)
    assert saved["backbone"] == "smallcnn" and saved["in_channels"] == 3 and saved["image_size"] == 16
    progress = [e for e in events if isinstance(e, Progress) and e.stage is Stage.PRETRAIN][-1]
    assert progress.metrics.lr > 0 and progress.metrics.images_per_s > 0 and progress.metrics.eta_s == 0
    rows = [m for m in run.read_metrics() if "loss" in m and "epoch_end" not in m]
    assert rows[-1] == {"step": 2, **progress.metrics.as_dict()}       # the metrics.jsonl row is the event's


def test_a_run_records_the_resolved_image_folder_and_trains_on_the_scan_it_is_given(
        image_folder, tmp_path, monkeypatch):
    link = tmp_path / "link"
    link.symlink_to(image_folder)
    report = scan_folder(image_folder)
    monkeypatch.setattr(engine.data.scan, "scan_folder", lambda *args, **kwargs: pytest.fail("scanned again"))
    result = run_pretraining(tiny_config(link, tmp_path), scan=report)
    assert result.status == "completed" and Path(result.run_dir).is_absolute()
    assert open_run_folder(result.run_dir).config().data_dir == str(image_folder.resolve())


def test_preview_pairs_are_uint8_pictures(gray_folder, tmp_path):
    events = []
    run_pretraining(tiny_config(gray_folder, tmp_path, batch_size=8), on_event=events.append)
    preview = next(e for e in events if isinstance(e, Preview))
    view_a, view_b = preview.pairs[0]
    assert view_a.dtype == np.uint8 and view_a.shape == (16, 16, 1) and view_b.shape == (16, 16, 1)
    assert not np.array_equal(view_a, view_b)


def test_a_live_map_of_the_same_images_follows_every_chosen_epoch(image_folder, tmp_path):
    events = []
    run_pretraining(tiny_config(image_folder, tmp_path, epochs=3, batch_size=8, map_every=2), on_event=events.append)
    snapshots = [e for e in events if isinstance(e, MapSnapshot)]
    assert [s.epoch for s in snapshots] == [1]
    assert snapshots[0].xy.shape == (len(snapshots[0].paths), 2) and np.isfinite(snapshots[0].xy).all()
    events.clear()
    run_pretraining(tiny_config(image_folder, tmp_path / "off", epochs=2, batch_size=8, map_every=0),
             on_event=events.append)
    assert not any(isinstance(e, MapSnapshot) for e in events)


def test_cancel_then_resume_reaches_the_same_result_as_an_uninterrupted_run(image_folder, tmp_path):
    straight = []
    full = run_pretraining(tiny_config(image_folder, tmp_path, epochs=2, batch_size=8), on_event=straight.append)
    assert full.step == 6

    token, first = CancelToken(), []

    def cancel_at_step_two(event):
        first.append(event)
        if isinstance(event, Progress) and event.stage is Stage.PRETRAIN and event.step == 2:
            token.cancel()

    stopped = run_pretraining(tiny_config(image_folder, tmp_path, epochs=2, batch_size=8),
                       on_event=cancel_at_step_two, cancel=token)
    assert (stopped.status, stopped.step) == ("cancelled", 2)
    assert [r.path for r in find_resumable(image_folder, tmp_path / "runs")] == [Path(stopped.run_dir)]

    rest = []
    resumed = run_pretraining(None, on_event=rest.append, resume=stopped.run_dir)
    assert (resumed.status, resumed.step, resumed.run_dir) == ("completed", 6, stopped.run_dir)
    assert losses_of(first) + losses_of(rest) == pytest.approx(losses_of(straight), rel=1e-5)


def test_same_seed_gives_identical_losses(image_folder, tmp_path):
    runs = []
    for _ in range(2):
        events = []
        run_pretraining(tiny_config(image_folder, tmp_path, epochs=2), on_event=events.append)
        runs.append(losses_of(events))
    assert runs[0] == runs[1]
    other = []
    run_pretraining(tiny_config(image_folder, tmp_path, epochs=2, seed=1), on_event=other.append)
    assert losses_of(other) != runs[0]


def test_out_of_memory_halves_the_batch_and_the_run_finishes(image_folder, tmp_path, monkeypatch):
    real_build = session_module.build_method

    def build_method_that_runs_out_of_memory(*args, **kwargs):
        method = real_build(*args, **kwargs)
        real_forward = method.forward

        def forward(views):
            if views[0].shape[0] > 6:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return real_forward(views)

        method.forward = forward
        return method

    monkeypatch.setattr(session_module, "build_method", build_method_that_runs_out_of_memory)
    events = []
    result = run_pretraining(tiny_config(image_folder, tmp_path), on_event=events.append)
    warnings = [e.message for e in events if isinstance(e, Warning)]
    assert any("batch size 12" in w and "batch size 6" in w for w in warnings)
    assert result.status == "completed" and result.total_steps == 4
    assert {e.metrics.batch_size for e in events if isinstance(e, Progress) and e.stage is Stage.PRETRAIN} == {6}


def test_pause_blocks_the_engine_until_resume_and_cancel_wakes_it():
    token, passed = CancelToken(), threading.Event()
    token.pause()
    worker = threading.Thread(target=lambda: (token.check(), passed.set()))
    worker.start()
    assert not passed.wait(0.2)
    token.resume()
    worker.join(5)
    assert passed.is_set()

    token.pause()
    outcome = []

    def wait_then_record():
        try:
            token.check()
        except Cancelled:
            outcome.append("cancelled")

    worker = threading.Thread(target=wait_then_record)
    worker.start()
    token.cancel()
    worker.join(5)
    assert outcome == ["cancelled"]


def test_bad_folders_and_output_paths_raise_clear_errors(tmp_path, image_folder):
    with pytest.raises(ScanError, match="folder not found"):
        run_pretraining(tiny_config(tmp_path / "missing", tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(ScanError, match="no usable images"):
        run_pretraining(tiny_config(empty, tmp_path))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(RunFolderError, match="cannot write runs"):
        run_pretraining(tiny_config(image_folder, tmp_path, out_dir=str(blocker / "runs")))
    with pytest.raises(RunFolderError, match="not a run folder"):
        run_pretraining(None, resume=tmp_path)
