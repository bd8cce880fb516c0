"""Where the app writes its log: a rotating file under the user log dir, plus stderr.

Linux: ``$XDG_STATE_HOME/pretext-studio/log`` (``~/.local/state/…``); macOS:
``~/Library/Logs/pretext-studio``; Windows: ``%LOCALAPPDATA%\\pretext-studio\\Logs``.
Never next to the installed code. Uncaught exceptions go to the log too, because a GUI
launched from a menu has no console to print them to.
"""
from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

import platformdirs

APP_ID = "pretext-studio"
LOG_FILE = f"{APP_ID}.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_ID, appauthor=False))


def setup_logging(verbose: bool = False, directory: Path | None = None) -> Path | None:
    """Log to stderr (when there is one) and to a rotating file; returns the file, or None if unwritable."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    formatter = logging.Formatter(FORMAT)
    if sys.stderr is not None and not any(type(h) is logging.StreamHandler for h in root.handlers):
        console = logging.StreamHandler()
        console.setFormatter(formatter)
        root.addHandler(console)
    path = (directory or log_dir()) / LOG_FILE
    if not any(isinstance(h, RotatingFileHandler) and Path(h.baseFilename) == path for h in root.handlers):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
        except OSError as exc:
            logging.getLogger(__name__).warning("No log file (%s): %s", path, exc)
            return None
        handler.setFormatter(formatter)
        root.addHandler(handler)
    _log_uncaught_exceptions()
    return path


def _log_uncaught_exceptions() -> None:
    previous = sys.excepthook
    if getattr(previous, "_pretext_studio", False):
        return

    def hook(kind, value, traceback) -> None:
        logging.getLogger(APP_ID).critical("Uncaught exception", exc_info=(kind, value, traceback))
        if previous is not sys.__excepthook__:   # the stderr handler already printed it
            previous(kind, value, traceback)

    hook._pretext_studio = True
    sys.excepthook = hook
