"""Install the freedesktop menu entry and the hicolor icons into the user's XDG data dir.

    pretext-studio --install-desktop-entry      # ~/.local/share/applications/pretext-studio.desktop + icons
    pretext-studio --uninstall-desktop-entry

Plain Python (no Qt, no torch), so it runs in a second on a machine without a display.
Both commands are idempotent and print one line per file. The installed entry's Exec
line holds the absolute path of the launcher that ran the command (the venv's, pipx's or
the bundle's), so the menu entry works without PATH changes.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

from engine.core.atomic import write_bytes
from resources import RESOURCES_DIR

APP_ID = "pretext-studio"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
TEMPLATE = RESOURCES_DIR / f"{APP_ID}.desktop"
ICONS_DIR = RESOURCES_DIR / "icons"
_EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def data_home() -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share`` when unset or relative (as the spec says)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


def launcher_command() -> list[str]:
    """The absolute command that starts the GUI installed alongside this Python."""
    if getattr(sys, "frozen", False):                     # a PyInstaller bundle
        return [os.path.abspath(sys.executable)]
    bin_dir = Path(os.path.abspath(sys.executable)).parent
    for name in (APP_ID, f"{APP_ID}.exe"):
        candidate = bin_dir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    found = shutil.which(APP_ID)
    if found:
        return [os.path.abspath(found)]
    return [os.path.abspath(sys.executable), "-m", "desktop.app"]


def quote_exec_arg(arg: str) -> str:
    """Quote one Exec argument as the Desktop Entry spec asks (then escape it as a string value)."""
    if arg and not (set(arg) & _EXEC_RESERVED):
        quoted = arg
    else:
        quoted = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
    return quoted.replace("\\", "\\\\").replace("%", "%%")


def render_entry(command: list[str]) -> str:
    """The template with Exec (and TryExec) pointing at ``command``."""
    exec_line = " ".join(quote_exec_arg(arg) for arg in command) + " %F"
    lines = []
    for line in TEMPLATE.read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = f"Exec={exec_line}"
        elif line.startswith("TryExec="):
            line = f"TryExec={command[0]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def planned_files(root: Path, command: list[str]) -> list[tuple[Path, bytes]]:
    """Every file the installer owns under ``root`` (an XDG data dir), with its content."""
    hicolor = root / "icons" / "hicolor"
    files = [(root / "applications" / f"{APP_ID}.desktop", render_entry(command).encode("utf-8"))]
    for size in ICON_SIZES:
        png = ICONS_DIR / f"app-{size}.png"
        files.append((hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png", png.read_bytes()))
    files.append((hicolor / "scalable" / "apps" / f"{APP_ID}.svg", (ICONS_DIR / "app.svg").read_bytes()))
    return files


def _write_if_changed(path: Path, content: bytes) -> str:
    if path.is_file() and path.read_bytes() == content:
        return "unchanged"
    existed = path.exists()
    write_bytes(path, content)
    return "updated" if existed else "installed"


def refresh_caches(root: Path, say: Callable[[str], None]) -> None:
    """Run update-desktop-database and gtk-update-icon-cache when they exist; never fail."""
    jobs = (
        ("update-desktop-database", ["-q", str(root / "applications")]),
        ("gtk-update-icon-cache", ["-q", "-f", "-t", str(root / "icons" / "hicolor")]),
    )
    for tool, args in jobs:
        exe = shutil.which(tool)
        if exe is None:
            say(f"skipped    {tool} (not installed)")
            continue
        try:
            done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            say(f"skipped    {tool} ({exc})")
            continue
        outcome = "ran" if done.returncode == 0 else f"failed ({(done.stderr or '').strip() or done.returncode})"
        say(f"{outcome:<10} {tool}")


def _say(line: str) -> None:
    if sys.stdout is not None:
        print(line, flush=True)


def install(root: Path | None = None, command: list[str] | None = None,
            say: Callable[[str], None] = _say) -> int:
    """Install (or refresh) the menu entry and icons; returns an exit code."""
    root = root or data_home()
    command = command or launcher_command()
    try:
        for path, content in planned_files(root, command):
            say(f"{_write_if_changed(path, content):<10} {path}")
    except OSError as exc:
        say(f"error: could not install the desktop entry: {exc}")
        return 1
    refresh_caches(root, say)
    say(f"Pretext Studio is in the applications menu; it starts {' '.join(command)}")
    return 0


def uninstall(root: Path | None = None, say: Callable[[str], None] = _say) -> int:
    """Remove the files :func:`install` writes (and nothing else); returns an exit code."""
    root = root or data_home()
    try:
        for path, _content in planned_files(root, [APP_ID]):
            if path.is_file() or path.is_symlink():
                path.unlink()
                say(f"removed    {path}")
            else:
                say(f"absent     {path}")
    except OSError as exc:
        say(f"error: could not remove the desktop entry: {exc}")
        return 1
    refresh_caches(root, say)
    return 0
