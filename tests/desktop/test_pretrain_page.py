"""The Pretrain step with the real engine: live progress and plots, pause / resume / stop, errors."""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

from desktop.pretrain.page import PretrainPage
from engine.pretrain import loop as train_module
from engine.pretrain.loop import PretrainResult
from tests.desktop.window_helpers import LONG, is_training_step, open_and_scan, start_run, tiny_settings


def test_a_run_draws_live_curves_and_completes(qtbot, window, image_folder, runs_dir):
    open_and_scan(qtbot, window, image_folder)
    window.go_to("pretrain")
    tiny_settings(window, runs_dir, epochs=2)
    page = window.pretrain_page
    page.form.map_every.setCurrentIndex(page.form.map_every.findData(1))
    completed = qtbot.waitSignal(page.completed, timeout=120_000)
    titles = []
    window.windowTitleChanged.connect(titles.append)
    assert page.start()
    assert page.state == "running" and not page.form.isEnabled()
    with qtbot.waitSignal(page.job.progress, check_params_cb=is_training_step, timeout=60_000):
        pass
    qtbot.waitUntil(lambda: page.plots.drawn_points() > 0, timeout=5_000)
    completed.wait()
    result = completed.args[0]
    assert result.status == "completed"
    assert Path(result.backbone_path).is_file()
    qtbot.waitUntil(lambda: page.state == "idle")
    assert titles and titles[-1] == f"{image_folder.name} — Pretext Studio"   # the progress goes with the run
    assert all(title.endswith(f"% · {image_folder.name} — Pretext Studio") for title in titles[:-1])
    assert "100% · " in titles[-2]
    assert page.plots.drawn_points() == result.step
    assert page.pairs.pairs_shown > 0
    assert page.live_map.isVisible() and page.live_map.epoch == 1
    assert len(page.live_map.view.xy) == 24 and "epoch 2" in page.live_map.caption.text()
    assert page.banner.kind() == "success"
    assert "pretrain" in window.done_steps
    assert page.start_button.isEnabled()


def test_a_time_budget_never_shows_more_steps_than_the_run_ends_with(qtbot, window, image_folder, runs_dir,
                                                                     monkeypatch):
    clock = {"now": 0.0}      # every training step takes 1 s: the 0.5 min budget ends after 30 steps
    after_step = train_module._Trainer._after_step

    def one_second_step(trainer, *args):
        clock["now"] += 1.0
        after_step(trainer, *args)

    monkeypatch.setattr(train_module, "time", SimpleNamespace(monotonic=lambda: clock["now"],
                                                              perf_counter=train_module.time.perf_counter))
    monkeypatch.setattr(train_module._Trainer, "_after_step", one_second_step)
    open_and_scan(qtbot, window, image_folder)
    window.go_to("pretrain")
    tiny_settings(window, runs_dir)
    page = window.pretrain_page
    page.form.set_config(page.form.config("").replace(minutes=0.5))
    shown = []      # (status, bar maximum, x axis end) after every step the page drew

    def look(event):
        page.plots.refresh()
        shown.append((page.status.text(), page.progress.maximum(), page.plots.x_end()))

    completed = qtbot.waitSignal(page.completed, timeout=120_000)
    assert page.start()
    page.job.progress.connect(look)
    completed.wait()
    steps = completed.args[0].step
    assert steps == 30 and len(shown) >= steps
    measuring = [status for status, *_ in shown if "measuring speed" in status]
    first_planned = train_module.MIN_STEPS_BEFORE_BUDGET
    assert measuring == [f"Step {step}  ·  measuring speed…" for step in range(1, first_planned)]
    totals = [int(total.replace(",", "")) for status, *_ in shown for total in re.findall(r" of ([\d,]+)", status)]
    assert totals and max(totals) == steps
    assert max(maximum for _, maximum, _ in shown) == steps and max(end for *_, end in shown) <= steps


def test_pause_resume_stop_then_resume_from_the_checkpoint(qtbot, window, image_folder, runs_dir):
    page = start_run(qtbot, window, image_folder, runs_dir, epochs=LONG)
    job = page.job
    with qtbot.waitSignal(job.paused, timeout=30_000):
        page.pause_button.click()
    assert page.state == "paused" and page.pause_button.text() == "Resume"
    paused_at = page.step
    page.pause_button.click()
    assert page.state == "running"
    with qtbot.waitSignal(job.progress, check_params_cb=lambda e: e.step > paused_at, timeout=30_000):
        pass
    with qtbot.waitSignal(job.finished, timeout=60_000):
        page.stop_button.click()
    result = page.last_result
    assert result.status == "cancelled"
    assert (Path(result.run_dir) / "checkpoints" / "last.pt").is_file()
    assert not (Path(result.run_dir) / "backbone.pt").exists()
    assert page.state == "idle"
    resume_button = page.banner.action_buttons()[0]
    assert resume_button.text() == "Resume"
    resume_button.click()
    assert page.state == "running"
    assert page.plots.drawn_points() >= result.step   # the recorded curve is back
    with qtbot.waitSignal(page.job.progress, check_params_cb=lambda e: e.step > result.step, timeout=60_000):
        pass
    with qtbot.waitSignal(page.job.finished, timeout=60_000):
        page.stop()


def test_invalid_settings_are_explained_and_nothing_starts(qtbot, window, image_folder, runs_dir):
    open_and_scan(qtbot, window, image_folder)
    tiny_settings(window, runs_dir)
    page = window.pretrain_page
    page.form.image_size.setValue(8)
    assert not page.start()
    assert page.job is None
    assert page.banner.kind() == "error" and "between 16 and 1024" in page.banner.text()


def test_an_engine_error_is_readable_and_the_app_stays_usable(qtbot, window, image_folder, runs_dir):
    open_and_scan(qtbot, window, image_folder)
    tiny_settings(window, runs_dir)
    page = window.pretrain_page
    moved = image_folder.with_name("moved")
    shutil.move(image_folder, moved)
    assert page.start()
    with qtbot.waitSignal(page.job.failed, timeout=60_000) as failed:
        pass
    message, details = failed.args
    assert str(image_folder) in message
    qtbot.waitUntil(lambda: page.state == "idle")
    assert page.banner.kind() == "error" and page.banner.text() == message
    assert "Traceback" in page.banner.details()
    shutil.move(moved, image_folder)
    completed = qtbot.waitSignal(page.completed, timeout=120_000)
    assert page.start()
    completed.wait()
    assert completed.args[0].status == "completed"


def test_advanced_section_shows_the_torchrun_command_for_the_settings(qtbot, window, image_folder, runs_dir):
    open_and_scan(qtbot, window, image_folder)
    window.go_to("pretrain")
    tiny_settings(window, runs_dir, epochs=3)
    form = window.pretrain_page.form
    form.torchrun.processes.setValue(4)
    command = form.torchrun.text()
    assert command.startswith("torchrun --nproc_per_node 4 -m engine.cli pretrain ")
    assert str(image_folder) in command and "--backbone smallcnn" in command and "--epochs 3" in command
    form.method.setCurrentIndex(form.method.findData("byol"))
    assert "--method byol" in form.torchrun.text()


def test_stopping_before_training_begins_says_nothing_was_saved(qtbot, window, image_folder, runs_dir):
    open_and_scan(qtbot, window, image_folder)
    window.go_to("pretrain")
    tiny_settings(window, runs_dir, epochs=LONG)
    page = window.pretrain_page
    assert page.start()
    with qtbot.waitSignal(page.job.cancelled, timeout=30_000):
        page.stop()                       # at once: the folder is still being read
    qtbot.waitUntil(lambda: page.state == "idle")
    assert page.status.text() == "Stopped before training began: nothing was saved"
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
    assert page.start_button.isEnabled()


def test_start_after_a_stop_asks_to_resume_it_start_a_new_run_or_cancel(qtbot, window, image_folder, runs_dir):
    page = start_run(qtbot, window, image_folder, runs_dir, epochs=LONG)
    with qtbot.waitSignal(page.job.finished, timeout=60_000):
        page.stop()
    stopped = page.last_result
    asked, answers = [], iter(["cancel", "resume", "new"])
    page.ask_resume_or_new = lambda run: asked.append(str(run.path)) or next(answers)
    assert not page.start() and page.job is None                          # cancel: nothing starts
    assert asked == [stopped.run_dir]

    assert page.start()                                                   # resume: the stopped run goes on
    assert page.plots.drawn_points() >= stopped.step
    with qtbot.waitSignal(page.job.progress, check_params_cb=lambda e: e.step > stopped.step, timeout=60_000):
        pass
    with qtbot.waitSignal(page.job.finished, timeout=60_000):
        page.stop()
    assert page.last_result.run_dir == stopped.run_dir

    assert page.start()                                                   # new: another run folder
    with qtbot.waitSignal(page.job.finished, timeout=60_000):
        page.stop()
    assert page.last_result.run_dir != stopped.run_dir and len(asked) == 3


def test_a_reopened_folder_shows_its_last_finished_run_and_offers_the_stopped_one(
        qtbot, window, make_window, image_folder, runs_dir):
    open_and_scan(qtbot, window, image_folder)
    tiny_settings(window, runs_dir, epochs=1)
    page = window.pretrain_page
    with qtbot.waitSignal(page.completed, timeout=120_000) as completed:
        assert page.start()
    finished = completed.args[0]
    qtbot.waitUntil(lambda: page.state == "idle")
    assert not page.continue_button.isHidden()
    page.continue_button.click()
    assert window.current_step() == "label"
    tiny_settings(window, runs_dir, epochs=LONG)
    page.ask_resume_or_new = lambda run: "new"
    assert page.start()
    with qtbot.waitSignal(page.job.progress, check_params_cb=is_training_step, timeout=60_000):
        pass
    with qtbot.waitSignal(page.job.finished, timeout=60_000):
        page.stop()

    reopened = make_window()
    tiny_settings(reopened, runs_dir)
    open_and_scan(qtbot, reopened, image_folder)
    again = reopened.pretrain_page
    reopened.go_to("pretrain")
    assert again.plots.drawn_points() == finished.step                    # the finished run's curves
    assert again.status.text().startswith("Last finished run: ") and not again.continue_button.isHidden()
    offer = again.resume_banner
    assert "unfinished run" in offer.text() and "newest finished run" in offer.text()
    assert [button.text() for button in offer.action_buttons()] == ["Resume", "Start New"]


def test_a_finished_run_fills_the_progress_bar_when_its_time_budget_ends_before_the_estimate(qtbot, settings):
    page = PretrainPage(settings)
    qtbot.addWidget(page)
    page.progress.setRange(0, 43)      # the steps the time budget last expected
    page.progress.setValue(42)
    page._on_result(PretrainResult("/runs/r", "completed", 42, 42, 4.56, "/runs/r/backbone.pt"))
    assert page.progress.value() == page.progress.maximum()
    assert page.status.text().startswith("Finished: 42 steps")
