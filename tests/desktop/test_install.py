"""Installing as a desktop app: the menu entry and icons, --self-test, start-up without torch, the log."""
from __future__ import annotations

import configparser
import logging
import os
import shutil
import subprocess
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

import pytest
from PIL import Image

from desktop.shell import app_logging, desktop_entry, self_test

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = Path(sys.executable).parent / "pretext-studio"
needs_launcher = pytest.mark.skipif(not LAUNCHER.is_file(), reason="pretext-studio is not installed in this venv")
ENTRY_KEYS = {"Type": "Application", "Name": "Pretext Studio", "Icon": "pretext-studio", "Terminal": "false",
              "Categories": "Graphics;Science;", "MimeType": "inode/directory;", "StartupWMClass": "pretext-studio"}
RUN_ENTRY = """
import sys
from desktop.app import main
code = main(["pretext-studio", sys.argv[1]])
print("torch imported:", "torch" in sys.modules, "| Qt widgets imported:", "PySide6.QtWidgets" in sys.modules)
sys.exit(code)
"""


def run_entry_command(flag: str, data_home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, XDG_DATA_HOME=str(data_home))
    return subprocess.run([sys.executable, "-c", RUN_ENTRY, flag], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def installed_files(data_home: Path) -> dict[str, bytes]:
    return {str(path.relative_to(data_home)): path.read_bytes()
            for path, _content in desktop_entry.planned_files(data_home, ["x"]) if path.is_file()}


def read_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str        # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def assert_valid_entry(path: Path) -> None:
    validator = shutil.which("desktop-file-validate")
    if validator:
        done = subprocess.run([validator, str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "error:" not in done.stdout
    entry = read_entry(path)
    for key, value in ENTRY_KEYS.items():
        assert entry[key] == value, key
    assert entry["Comment"] and entry["Exec"].endswith(" %F")


def test_install_then_uninstall_desktop_entry(tmp_path):
    data_home = tmp_path / "xdg-data"
    first = run_entry_command("--install-desktop-entry", data_home)
    assert first.returncode == 0, first.stderr
    assert "torch imported: False | Qt widgets imported: False" in first.stdout
    entry_path = data_home / "applications" / "pretext-studio.desktop"
    assert f"installed  {entry_path}" in first.stdout
    assert_valid_entry(entry_path)
    launcher = read_entry(entry_path)["Exec"].removesuffix(" %F")
    assert os.path.isabs(launcher) and os.access(launcher, os.X_OK), launcher
    hicolor = data_home / "icons" / "hicolor"
    for size in desktop_entry.ICON_SIZES:
        with Image.open(hicolor / f"{size}x{size}" / "apps" / "pretext-studio.png") as icon:
            assert icon.size == (size, size)
    assert (hicolor / "scalable" / "apps" / "pretext-studio.svg").read_text().lstrip().startswith("<")
    files = installed_files(data_home)
    assert len(files) == len(desktop_entry.ICON_SIZES) + 2

    again = run_entry_command("--install-desktop-entry", data_home)     # idempotent
    assert again.returncode == 0, again.stderr
    assert installed_files(data_home) == files
    assert again.stdout.count("unchanged ") == len(files) and "installed " not in again.stdout

    neighbour = data_home / "applications" / "someone-else.desktop"
    neighbour.write_text("[Desktop Entry]\n")
    removed = run_entry_command("--uninstall-desktop-entry", data_home)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.count("removed ") == len(files)
    assert installed_files(data_home) == {} and neighbour.is_file()
    twice = run_entry_command("--uninstall-desktop-entry", data_home)
    assert twice.returncode == 0 and twice.stdout.count("absent ") == len(files)


def test_exec_line_quotes_a_launcher_path_with_spaces(tmp_path):
    lines = []
    assert desktop_entry.install(tmp_path, ["/opt/my apps/pretext-studio"], say=lines.append) == 0
    entry_path = tmp_path / "applications" / "pretext-studio.desktop"
    assert 'Exec="/opt/my apps/pretext-studio" %F' in entry_path.read_text()
    assert_valid_entry(entry_path)
    assert any(line.startswith("installed ") for line in lines)


def test_install_reports_a_clear_error_when_the_folder_is_not_writable(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data dir should be")
    lines = []
    assert desktop_entry.install(blocker, ["/usr/bin/pretext-studio"], say=lines.append) == 1
    assert lines[-1].startswith("error: could not install the desktop entry")


@needs_launcher
def test_self_test_from_the_installed_entry_point(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([str(LAUNCHER), "--self-test"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("resources", "Qt", "torch", "engine", "export"):
        assert f"  ok    {name}: " in done.stdout
    assert "sample dataset 1,500 images" in done.stdout
    assert done.stdout.rstrip().endswith("self-test passed")


def test_self_test_names_the_failing_check_and_exits_1(monkeypatch):
    def broken_torch():
        raise ImportError("No module named 'torch'")

    monkeypatch.setattr(self_test, "check_qt", lambda argv: "stub")
    monkeypatch.setattr(self_test, "check_torch", broken_torch)
    monkeypatch.setattr(self_test, "check_engine", lambda: "stub")
    lines = []
    assert self_test.run_self_test(say=lines.append) == 1
    assert "  FAIL  torch: ImportError: No module named 'torch'" in lines
    assert any(line.startswith("  ok    export: ") for line in lines)      # the others still ran
    assert lines[-1].startswith("self-test FAILED: torch")


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if "__pycache__" not in p.parts}


@needs_launcher
def test_first_window_shows_before_torch_is_imported_and_writes_only_to_user_dirs(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_STATE_HOME=str(tmp_path / "state"))
    before = tree(REPO / "resources"), tree(REPO / "desktop")
    done = subprocess.run([str(LAUNCHER), "--print-startup-time"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "torch-imported=False" in done.stdout
    assert (before[0], before[1]) == (tree(REPO / "resources"), tree(REPO / "desktop"))
    log_file = tmp_path / "state" / "pretext-studio" / "log" / "pretext-studio.log"
    assert "Starting Pretext Studio" in log_file.read_text()


@pytest.fixture
def clean_logging():
    root = logging.getLogger()
    handlers, level, hook = list(root.handlers), root.level, sys.excepthook
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    sys.excepthook = hook


def test_log_file_rotates(tmp_path, monkeypatch, clean_logging):
    monkeypatch.setattr(app_logging, "MAX_BYTES", 2_000)
    path = app_logging.setup_logging(directory=tmp_path / "logs")
    assert app_logging.setup_logging(directory=tmp_path / "logs") == path        # no second handler
    assert sum(isinstance(h, RotatingFileHandler) for h in logging.getLogger().handlers) == 1
    log = logging.getLogger("pretext-test")
    for i in range(200):
        log.warning("line %d %s", i, "x" * 40)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["pretext-studio.log", "pretext-studio.log.1", "pretext-studio.log.2", "pretext-studio.log.3"]
    assert all(p.stat().st_size <= 2_100 for p in path.parent.iterdir())
    assert "line 199" in path.read_text()


def test_help_menu_opens_the_log_folder(window, monkeypatch, isolated_dirs):
    opened = []
    monkeypatch.setattr("desktop.shell.main_window.QDesktopServices.openUrl", lambda url: opened.append(url) or True)
    action = next(a for menu in window.menuBar().findChildren(type(window.recent_menu))
                  for a in menu.actions() if a.text() == "Open &Log Folder")
    action.trigger()
    folder = Path(opened[0].toLocalFile())
    assert folder == app_logging.log_dir() and folder.is_dir()
    assert isolated_dirs in folder.parents                   # under the (test's) XDG_STATE_HOME
