"""Deciding whether a dropped or chosen path is a folder we can open, and saying why not."""
from __future__ import annotations

import os

from PySide6.QtCore import QMimeData


def folder_problem(path: str) -> str | None:
    """None when ``path`` is a readable folder, else a sentence saying what is wrong."""
    name = os.path.basename(os.path.normpath(path)) or path
    if not os.path.exists(path):
        return f"The folder “{path}” does not exist. Was it moved, renamed or on a drive that is not connected?"
    if not os.path.isdir(path):
        return f"“{name}” is a file. Drop the folder that holds your images instead."
    if not os.access(path, os.R_OK | os.X_OK):
        return f"Pretext Studio is not allowed to read the folder “{path}”. Check its permissions."
    return None


def folder_from_drop(mime: QMimeData) -> tuple[str | None, str | None]:
    """``(folder, None)`` for exactly one readable local folder, else ``(None, reason)``."""
    urls = mime.urls() if mime.hasUrls() else []
    local = [url.toLocalFile() for url in urls if url.isLocalFile()]
    if not urls:
        return None, "Drop a folder of images from your file manager."
    if len(local) != len(urls):
        return None, "Only folders on this computer can be opened; download the images first."
    if len(local) > 1:
        return None, (f"You dropped {len(local)} items. Drop one folder at a time: put the images in a "
                      "single folder (sub-folders are fine) and drop that.")
    path = os.path.abspath(local[0])
    problem = folder_problem(path)
    return (None, problem) if problem else (path, None)
