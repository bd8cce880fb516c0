"""The shell: start-up and quit, menus, closing during training, settings that persist."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication

from desktop.jobs import running_jobs
from desktop.shell.main_window import MainWindow
from desktop.shell.shortcuts_dialog import ShortcutsDialog
from engine.store.runs import find_resumable
from tests.desktop.window_helpers import LONG, open_and_scan, start_run, tiny_settings

REPO = Path(__file__).resolve().parents[2]
LAUNCH = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import desktop.app as app
from desktop.shell.application import create_app

def shown_then_quit():
    window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, app.MainWindow))
    print("window shown; torch imported:", "torch" in sys.modules, flush=True)
    print("window lightness:", window.palette().window().color().lightness(), flush=True)
    QTimer.singleShot(200, window.close)

create_app(sys.argv)
QTimer.singleShot(0, shown_then_quit)
sys.exit(app.main(["pretext-studio", sys.argv[1]]))
"""


def test_launch_and_quit(tmp_path, image_folder):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_DATA_HOME=str(tmp_path / "data"))
    done = subprocess.run([sys.executable, "-c", LAUNCH, str(image_folder)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "window shown; torch imported: False" in done.stdout
    assert "QThread" not in done.stderr
    assert (tmp_path / "config" / "PretextStudio" / "Pretext Studio.conf").is_file()


def test_the_saved_theme_is_used_at_launch_and_an_unknown_one_is_ignored(tmp_path, image_folder):
    config = tmp_path / "config" / "PretextStudio"
    config.mkdir(parents=True)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_DATA_HOME=str(tmp_path / "data"))
    lightness = {}
    for theme in ("dark", "light", "purple"):
        (config / "Pretext Studio.conf").write_text(f"[view]\ntheme={theme}\n")
        done = subprocess.run([sys.executable, "-c", LAUNCH, str(image_folder)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        lightness[theme] = int(done.stdout.split("window lightness: ")[1].split()[0])
    assert lightness["dark"] < 128 < lightness["light"]
    assert "purple" in lightness      # an unknown theme falls back to the system's: the app still starts


def icon_lightness(window, row: int) -> float:
    """The mean lightness of the opaque pixels of a sidebar icon."""
    image = window.sidebar.item(row).icon().pixmap(20, 20).toImage()
    values = [image.pixelColor(x, y) for x in range(image.width()) for y in range(image.height())]
    opaque = [c.lightness() for c in values if c.alpha() > 200]
    return sum(opaque) / len(opaque)


def test_the_view_menu_switches_the_theme_live_and_keeps_it(window, settings):
    app = QApplication.instance()
    actions = {action.data(): action for action in window.theme_actions.actions()}
    window.theme_menu.aboutToShow.emit()
    assert set(actions) == {"system", "light", "dark"} and actions["light"].isChecked()
    actions["dark"].trigger()
    assert app.palette().window().color().lightness() < 128 and settings.value("view/theme") == "dark"
    assert actions["dark"].isChecked() and not actions["light"].isChecked()
    assert icon_lightness(window, 0) > 128                  # the sidebar icons are drawn again, light on dark
    actions["light"].trigger()
    assert app.palette().window().color().lightness() > 128 and settings.value("view/theme") == "light"
    assert icon_lightness(window, 0) < 128


def test_sidebar_menus_and_shortcuts(window):
    titles = [window.sidebar.item(i).text() for i in range(window.sidebar.count())]
    assert titles == ["Data", "Pretrain", "Label & Fine-tune", "Export"]
    assert not window.is_step_enabled("pretrain")
    assert not window.is_step_enabled("label") and not window.is_step_enabled("export")
    assert window.sidebar.item(2).toolTip() == "Finish a pretraining run first"
    shortcuts = {action.text(): action.shortcut() for menu in window.menuBar().findChildren(type(window.recent_menu))
                 for action in menu.actions()}
    assert shortcuts["&Open Folder…"] == QKeySequence(QKeySequence.StandardKey.Open)
    assert shortcuts["&Quit"] == QKeySequence(QKeySequence.StandardKey.Quit)
    assert shortcuts["&Full Screen"] == QKeySequence("F11")
    assert [shortcuts[f"Go to {title.replace('&', '&&')}"] for title in titles] == [QKeySequence(f"Ctrl+{n}") for n in range(1, 5)]


def test_step_shortcuts_go_to_open_steps_and_explain_locked_ones(qtbot, window):
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)   # no folder yet: explained
    assert window.current_step() == "data"
    assert window.statusBar().currentMessage() == "Open a folder of images first"
    window._set_step_enabled("pretrain", True)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.current_step() == "pretrain"
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.current_step() == "data"


def test_the_shortcuts_dialog_lists_the_menus_shortcuts_and_the_page_keys(window):
    rows = ShortcutsDialog(window.menuBar(), window).rows()
    native = QKeySequence.SequenceFormat.NativeText
    assert ("File menu", QKeySequence(QKeySequence.StandardKey.Open).toString(native), "Open Folder") in rows
    assert ("View menu", "Ctrl+3", "Go to Label & Fine-tune") in rows
    assert ("Label & Fine-tune", "1 – 9", "Label the selected images with that class") in rows
    assert any(row[1] == "Alt+Up, Alt+Down" for row in rows)
    assert not any(row[2] == "Open Log Folder" for row in rows)          # no shortcut: not listed


def test_closing_during_training_asks_stops_and_leaves_a_resumable_checkpoint(
        qtbot, make_window, image_folder, runs_dir):
    window = make_window()
    asked = []
    window.confirm_stop_training = lambda: asked.append(True) or True
    page = start_run(qtbot, window, image_folder, runs_dir, epochs=LONG)
    job = page.job
    finished = qtbot.waitSignal(job.finished, timeout=60_000)
    assert not window.close()            # the window waits for the engine to stop
    assert asked == [True]
    finished.wait()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert running_jobs() == []
    runs = find_resumable(image_folder, runs_dir)
    assert len(runs) == 1 and runs[0].checkpoint_path.is_file()

    reopened = make_window()
    tiny_settings(reopened, runs_dir)
    open_and_scan(qtbot, reopened, image_folder)
    offer = reopened.pretrain_page.resume_banner
    assert "unfinished run" in offer.text()
    assert [button.text() for button in offer.action_buttons()] == ["Resume", "Start New"]


def test_declining_to_close_keeps_training(qtbot, window, image_folder, runs_dir):
    window.confirm_stop_training = lambda: False
    page = start_run(qtbot, window, image_folder, runs_dir, epochs=LONG)
    assert not window.close()
    assert window.isVisible() and page.job is not None and page.state == "running"
    with qtbot.waitSignal(page.job.finished, timeout=60_000):
        page.stop()


def test_geometry_recent_folders_and_settings_persist(qtbot, make_window, settings, image_folder):
    window = make_window()
    window.resize(1100, 760)
    open_and_scan(qtbot, window, image_folder)
    window.pretrain_page.form.epochs.setValue(7)
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible())

    again = make_window()
    assert (again.width(), again.height()) == (1100, 760)
    assert again.recent.folders() == [str(image_folder)]
    assert again.data_page.welcome.recent.count() == 1
    assert again.pretrain_page.form.epochs.value() == 7


def test_clear_cached_data_measures_asks_and_clears_and_refuses_while_work_runs(qtbot, window, image_folder,
                                                                               tmp_path, monkeypatch):
    from engine.core.user_cache import usage
    from engine.data.decoded_store import build_store
    from engine.data.scan import scan_folder

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    build_store(scan_folder(image_folder), 16, 3)
    cleaner = window.cache_cleaner
    asked, told = [], []
    cleaner.inform = told.append
    action = next(a for a in window.menuBar().actions()[0].menu().actions() if a.text() == "Clear &Cached Data…")

    cleaner.confirm = lambda folders: asked.append(folders) or False          # declined: nothing goes
    action.trigger()
    qtbot.waitUntil(lambda: bool(asked) and not cleaner.busy())
    assert [folder.holds for folder in asked[0]] == ["decoded images"] and usage() != []

    cleaner.start(busy=True)                                                   # training, say: only explained
    assert "once that work has finished" in told[0] and not cleaner.busy() and usage() != []

    cleaner.confirm = lambda folders: True
    with qtbot.waitSignal(cleaner.done, timeout=10_000) as cleared:
        action.trigger()
    assert cleared.args[0].startswith("Cleared the cached data: ") and usage() == []
    assert window.statusBar().currentMessage() == cleared.args[0]
    with qtbot.waitSignal(cleaner.done, timeout=10_000) as empty:
        action.trigger()
    assert empty.args[0] == "The cache is empty: there is nothing to clear."


def test_the_taskbar_entry_flashes_when_long_work_ends_while_the_user_is_elsewhere(window, monkeypatch):
    flashed = []
    monkeypatch.setattr(QApplication, "alert", lambda widget, msec=0: flashed.append(widget))
    away = [True]
    monkeypatch.setattr(window, "isActiveWindow", lambda: not away[0])
    window.pretrain_page.running_changed.emit(True)          # a run starting: nothing to say yet
    window.pretrain_page.running_changed.emit(False)
    window.label_page.finetuned.emit(None)
    assert flashed == [window, window]
    away[0] = False
    window.pretrain_page.running_changed.emit(False)         # the user is looking: no flash
    assert flashed == [window, window]


def test_closing_while_the_cache_is_measured_asks_nothing(qtbot, window, tmp_path, monkeypatch):
    from engine.core.user_cache import cache_root

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (cache_root() / "scans").mkdir(parents=True)
    (cache_root() / "scans" / "a.json").write_text("{}")          # something to ask about
    cleaner, asked = window.cache_cleaner, []
    cleaner.confirm = lambda folders: asked.append(folders) or False
    cleaner.start(busy=False)
    job = cleaner.job
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible() and not job.is_running(), timeout=10_000)
    assert asked == []


def test_a_first_start_fits_the_window_to_a_screen_smaller_than_its_usual_size(make_window, monkeypatch):
    small = QRect(0, 0, 1024, 700)
    monkeypatch.setattr(MainWindow, "screen", lambda self: SimpleNamespace(availableGeometry=lambda: small))
    window = make_window()
    assert window.height() <= small.height()
    assert window.width() <= max(small.width(), window.minimumWidth())
