"""The small pure pieces of the GUI: error messages, the collapse alarm, thumbnail cache keys, jobs."""
from __future__ import annotations

import errno
import threading

import numpy as np

import engine
from desktop.common.thumbnails import Request, cache_path, load_or_make
from desktop.jobs import EngineJob, describe_error
from desktop.pretrain.gain_line import collapse_alarm
from desktop.pretrain.status_text import format_duration
from engine.core.atomic import DiskWriteError
from engine.core.events import PretrainMetrics, Progress, Stage


def test_describe_error_says_what_to_do():
    assert describe_error(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")).startswith(
        "The device ran out of memory. Choose a smaller batch size")
    full = OSError(errno.ENOSPC, "No space left on device", "/runs/x/last.pt")
    assert describe_error(full) == "The disk is full (/runs/x/last.pt). Free some space and resume the run."
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/img.png")
    assert describe_error(missing) == "A file or folder is missing (/data/img.png). Was it moved or deleted?"
    assert describe_error(ValueError("folder not found: /x")) == "Folder not found: /x"
    assert describe_error(KeyError("lr")) == "KeyError: 'lr'"
    refused = DiskWriteError("/runs/x/last.pt", OSError(errno.ENOSPC, "No space left on device"))
    assert describe_error(refused) == "Cannot write /runs/x/last.pt: the disk is full"


def test_collapse_alarm_only_when_the_spread_falls_far_below_healthy():
    def step(collapse: float, healthy: float) -> PretrainMetrics:
        return PretrainMetrics(loss=1.0, lr=0.1, images_per_s=100.0, data_wait=0.1, collapse=collapse,
                               collapse_healthy=healthy, epoch=1.0, eta_s=10.0, batch_size=8)

    assert collapse_alarm(100, step(0.08, 0.09)) is None
    assert collapse_alarm(5, step(0.01, 0.09)) is None          # too early to judge
    assert "collapsing" in collapse_alarm(100, step(0.01, 0.09))
    assert collapse_alarm(100, step(0.01, 0.0)) is None         # no healthy value known yet


def test_format_duration():
    assert format_duration(59.6) == "1:00"
    assert format_duration(3725) == "1:02:05"
    assert format_duration(-3) == "0:00"


def test_thumbnail_cache_key_changes_with_size_mtime_and_channels(tmp_path):
    base = Request("/data/a.png", 100, 1.5, 3, 112)
    others = (Request("/data/a.png", 101, 1.5, 3, 112), Request("/data/a.png", 100, 2.5, 3, 112),
              Request("/data/b.png", 100, 1.5, 3, 112), Request("/data/a.png", 100, 1.5, 1, 112))
    paths = {cache_path(tmp_path, request) for request in (base, *others)}
    assert len(paths) == 5
    assert cache_path(tmp_path, base) == cache_path(tmp_path, Request("/data/a.png", 100, 1.5, 3, 112))


def test_an_engine_failure_arrives_as_a_readable_signal(qtbot, tmp_path):
    job = EngineJob(engine.scan, str(tmp_path / "missing"))
    with qtbot.waitSignal(job.failed, timeout=10_000) as failed, qtbot.waitSignal(job.finished, timeout=10_000):
        job.start()
    assert failed.args[0].startswith("Folder not found")
    assert "ScanError" in failed.args[1]
    assert not job.is_running() and job.wait(1000)


def test_a_job_cancelled_before_it_starts_reports_cancelled(qtbot, image_folder):
    job = EngineJob(engine.scan, str(image_folder))
    results = []
    job.succeeded.connect(results.append)
    job.cancel()
    with qtbot.waitSignal(job.cancelled, timeout=10_000), qtbot.waitSignal(job.finished, timeout=10_000):
        job.start()
    assert results == []


def test_a_jobs_events_and_outcome_are_emitted_in_order_in_the_gui_thread(qtbot):
    def count_to_three(on_event=None, cancel=None):
        for step in range(1, 4):
            cancel.check()
            on_event(Progress(Stage.EMBED, step, 3))
        return threading.current_thread()

    job = EngineJob(count_to_three)
    seen = []
    job.progress.connect(lambda event: seen.append((event.step, threading.current_thread())))
    job.succeeded.connect(lambda worker: seen.append(("succeeded", worker)))
    job.finished.connect(lambda: seen.append(("finished", threading.current_thread())))
    with qtbot.waitSignal(job.finished, timeout=10_000):
        job.start()
    gui = threading.main_thread()
    worker = seen[3][1]
    assert worker is not gui and not worker.is_alive()
    assert seen == [(1, gui), (2, gui), (3, gui), ("succeeded", worker), ("finished", gui)]


def test_a_paused_job_says_so_and_ends_when_cancelled(qtbot):
    def wait_for_stop(on_event=None, cancel=None):
        while True:
            cancel.check()

    job = EngineJob(wait_for_stop)
    job.pause()
    with qtbot.waitSignal(job.paused, timeout=10_000):
        job.start()
    assert job.is_paused() and job.is_running()
    with qtbot.waitSignal(job.cancelled, timeout=10_000), qtbot.waitSignal(job.finished, timeout=10_000):
        job.cancel()
    assert not job.is_running() and job.wait(0)


def test_a_thumbnail_is_cached_a_damaged_cache_entry_is_made_again(tmp_path, image_folder):
    source = sorted(image_folder.rglob("*.png"))[0]
    stat = source.stat()
    for channels in (3, 1):
        request = Request(str(source), stat.st_size, stat.st_mtime, channels, 24)
        made = load_or_make(request, tmp_path / "thumbs")
        assert made.shape == (24, 24, channels) and made.dtype == np.uint8
        entry = cache_path(tmp_path / "thumbs", request)
        entry.write_bytes(b"not a JPEG")
        again = load_or_make(request, tmp_path / "thumbs")
        assert np.array_equal(again, made) and entry.read_bytes()[:2] == b"\xff\xd8"
    source.unlink()                                  # from now on only the cache can answer
    cached = load_or_make(request, tmp_path / "thumbs")
    assert cached.shape == made.shape and np.abs(cached.astype(int) - made).mean() < 8    # JPEG quality 88
