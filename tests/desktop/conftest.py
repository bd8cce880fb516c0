"""Desktop fixtures: an isolated settings file, cache and runs folder, and a main window."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from desktop.common.theme import apply_theme
from desktop.jobs import running_jobs
from desktop.shell.gui_thread_gc import GuiThreadGarbageCollector
from desktop.shell.main_window import MainWindow

SCREEN = {"screens": [{"name": "test", "x": 0, "y": 0, "width": 1600, "height": 1000, "logicalDpi": 96}]}


@pytest.fixture(scope="session")
def qapp_args(tmp_path_factory) -> list[str]:
    """An offscreen screen the size of a desktop (the default, 800 × 600, is smaller than the window)."""
    config = tmp_path_factory.mktemp("qpa") / "screen.json"
    config.write_text(json.dumps(SCREEN))
    return ["pytest-qt", "-platform", f"offscreen:configfile={config}"]


@pytest.fixture(scope="package", autouse=True)
def gui_thread_gc(qapp) -> GuiThreadGarbageCollector:
    """Collect garbage in the GUI thread only, as the app does (desktop.shell.application.create_app)."""
    collector = GuiThreadGarbageCollector(qapp)
    yield collector
    collector.stop()
    collector.deleteLater()


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch) -> Path:
    """Keep caches, run folders and QSettings of the tests out of the user's home."""
    home = tmp_path / "home"
    for name in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    return home


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def make_window(qtbot, settings, tmp_path):
    """Build main windows that close cleanly at the end of the test, training or not.

    pytest-qt deletes registered widgets at teardown; ``before_close_func`` first closes each
    window the way a user would and waits until its threads have ended.
    """
    apply_theme(QApplication.instance(), "light")

    def close_and_wait(window: MainWindow) -> None:
        window.close()
        qtbot.waitUntil(lambda: not running_jobs() and not window.isVisible(), timeout=60_000)

    def make(settings_override: QSettings | None = None) -> MainWindow:
        window = MainWindow(settings_override or settings, thumbnail_cache=tmp_path / "thumbnails")
        window.confirm_stop_training = lambda: True
        qtbot.addWidget(window, before_close_func=close_and_wait)
        window.show()
        qtbot.waitExposed(window)
        return window

    return make


@pytest.fixture
def window(make_window) -> MainWindow:
    return make_window()


