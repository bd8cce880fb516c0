"""The app under hostile use: drops of things that are not one folder, and an engine failure
inside a worker thread, in a real process whose exit code is checked."""
from __future__ import annotations

import shutil

import pytest

from desktop.shell.main_window import TRAINING_LOCK
from tests.desktop.window_helpers import drop_paths, open_and_scan
from tests.image_files import write_shape_images
from tests.reliability.fixtures import run_python

# --- 6. drops ------------------------------------------------------------------------------------------

DROPS = {   # what is dropped on the window -> the message shown (None: the folder opens)
    "a folder": None,
    "a file": "is a file",
    "several folders": "one folder at a time",
    "a deleted folder": "does not exist",
    "a folder while training runs": TRAINING_LOCK,
}


def project_state(window) -> tuple:
    data, pretrain, label = window.data_page, window.pretrain_page, window.label_page
    return (data.root, data.report, data.model.rowCount(), window.windowTitle(), window.recent.folders(),
            pretrain.data_dir, label.root)


@pytest.mark.parametrize("drop", DROPS)
def test_06_each_drop_is_opened_or_refused_with_a_message_and_a_refusal_changes_nothing(
        qtbot, window, image_folder, tmp_path, drop):
    open_and_scan(qtbot, window, image_folder)
    other = tmp_path / "other"
    write_shape_images(other, 3)
    paths = {"a file": [image_folder / "a" / "img_0000.png"],
             "several folders": [image_folder, other]}.get(drop, [other])
    if drop == "a deleted folder":
        shutil.rmtree(other)
    if drop == "a folder while training runs":
        window.data_page.set_locked(TRAINING_LOCK)
    before = project_state(window)
    page = window.data_page
    if DROPS[drop] is None:
        with qtbot.waitSignal(page.project_opened, timeout=30_000):
            enter, _ = drop_paths(window, paths)
        assert enter.isAccepted()
        assert (page.root, page.model.rowCount(), window.pretrain_page.data_dir) == (str(other), 3, str(other))
        assert window.recent.folders() == [str(other), str(image_folder)] and page.banner.kind() != "error"
        return
    drop_paths(window, paths)
    assert DROPS[drop] in page.banner.text() and page.banner.kind() in ("error", "warning")
    assert not page.is_scanning() and project_state(window) == before


# --- 15. an engine failure inside the worker thread --------------------------------------------------------

FAILING_ENGINE_APP = """
import sys
from pathlib import Path
from PySide6.QtCore import QSettings, QTimer
from desktop.shell.application import create_app
from desktop.jobs import running_jobs
from desktop.shell.main_window import MainWindow
from engine.core.events import Stage
from engine.pretrain import session
from tests.desktop.window_helpers import tiny_settings

folder, runs = sys.argv[1], Path(sys.argv[2])
real_augment, failed_once = session.Augmenter.__call__, []

def fails_in_the_first_step(self, images, spec, generator):     # deep inside the engine thread
    if len(images) > 4 and not failed_once:
        failed_once.append(True)
        raise ZeroDivisionError("a fault inside the engine")
    return real_augment(self, images, spec, generator)

session.Augmenter.__call__ = fails_in_the_first_step
qapp = create_app(sys.argv)
window = MainWindow(QSettings(str(runs / "settings.ini"), QSettings.Format.IniFormat), runs / "thumbnails")
window.confirm_stop_training = lambda: True
page = window.pretrain_page

def start(epochs):
    tiny_settings(window, runs, epochs=epochs)
    print("started", page.start(), flush=True)

def on_idle(running):
    if running:
        return
    print("banner", page.banner.kind(), page.banner.text(), "|", page.banner.details().splitlines()[0], flush=True)
    QTimer.singleShot(0, lambda: start(10_000))    # the app is still usable: train again

def on_progress(event):     # the second run trains: quit in the middle of it
    if event.stage is Stage.PRETRAIN and event.step == 2 and window.isVisible():
        page.running_changed.disconnect(on_idle)
        print("closing at step 2", flush=True)
        window.close()

window.data_page.project_opened.connect(lambda *_: start(1))
page.running_changed.connect(on_idle)
page.running_changed.connect(lambda running: running and page.job.progress.connect(on_progress))
QTimer.singleShot(120_000, lambda: (print("timed out", flush=True), qapp.exit(3)))
window.show()
window.open_folder(folder)
code = qapp.exec()
print("exited", code, "jobs left", len(running_jobs()), flush=True)
sys.exit(code)
"""


def test_15_an_engine_failure_in_the_worker_is_shown_the_app_stays_usable_and_quits_with_code_0(
        image_folder, tmp_path):
    home = tmp_path / "home"
    done = run_python(FAILING_ENGINE_APP, str(image_folder), str(tmp_path), timeout=180,
                      XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"),
                      XDG_DATA_HOME=str(home / "data"), XDG_STATE_HOME=str(home / "state"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "started True",
        "banner error ZeroDivisionError: a fault inside the engine | Traceback (most recent call last):",
        "started True",
        "closing at step 2",
        "exited 0 jobs left 0",
    ]
    assert "QThread" not in done.stderr and "Traceback" not in done.stderr
