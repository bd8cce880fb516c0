"""Where the app keeps its files: the per-user folders and the project folder inside an image folder."""
from __future__ import annotations

from pathlib import Path

APP_ID = "pretext-studio"
PROJECT_DIR = ".pretext"   # an image folder's own labels live in <folder>/.pretext/


def data_root() -> Path:
    """``~/.local/share/pretext-studio`` on Linux; the platform's user data folder elsewhere."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_ID, appauthor=False))


def cache_root() -> Path:
    """``~/.cache/pretext-studio`` on Linux; the platform's user cache folder elsewhere."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_ID, appauthor=False))
