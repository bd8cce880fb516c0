"""The last verifying scan of each folder, kept in the user cache, so that opening a folder
again decodes only the files added or changed since, broken ones included (a verifying scan of
camera photos costs milliseconds per image; a remembered one, a ``stat`` per file)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional, Union

from engine.core.events import CancelToken, EventSink
from engine.core.places import cache_root
from engine.data.scan import ScanReport, scan_folder

FORMAT = 1          # in the file name: a report of another format is never read


def default_folder() -> Path:
    return cache_root() / "scans"


def report_path(root: Union[str, Path], folder: Union[str, Path, None] = None) -> Path:
    """Where the report of ``root`` (made absolute) is kept."""
    absolute = os.path.abspath(os.path.expanduser(os.fspath(root)))
    digest = hashlib.sha256(absolute.encode("utf-8")).hexdigest()[:32]
    return Path(folder or default_folder()) / f"{digest}.v{FORMAT}.json"


def scan_remembered(root, on_event: Optional[EventSink] = None, cancel: Optional[CancelToken] = None,
                    folder: Union[str, Path, None] = None) -> ScanReport:
    """A verifying :func:`~engine.data.scan.scan_folder` of ``root`` that takes the unchanged
    images and undecodable files of the last one as they are, then keeps its own report for next time. A missing or
    damaged report means a full scan; a report that cannot be written is
    skipped (the scan itself succeeded)."""
    path = report_path(root, folder)
    report = scan_folder(root, on_event, cancel, verify=True, known=_load(path))
    try:
        report.save(path)
    except OSError:
        pass
    return report


def _load(path: Path) -> Optional[ScanReport]:
    try:
        return ScanReport.load(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
