"""The last verifying scan of each folder, kept in the user cache, so that opening a folder
again decodes only the files added or changed since, broken ones included (a verifying scan of
camera photos costs milliseconds per image; a remembered one, a ``stat`` per file).

In one call, :func:`scan_remembered`; in two, as the Data step does: :func:`index_remembered`
(header-only, fast: the images can be shown) and then :func:`verify_remembered` (decodes what the
index read from headers alone, in the background)."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from engine.core.events import CancelToken, EventSink
from engine.core.places import cache_root
from engine.data.scan import ScanReport, scan_folder
from engine.data.verify import verify_images

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
    _keep(report, path)
    return report


@dataclass(frozen=True)
class IndexedFolder:
    """A header-only scan, and which of its images were never decoded."""

    report: ScanReport
    unchecked: tuple[str, ...]   # ImageRecord.path of each image read from its header alone


def index_remembered(root, on_event: Optional[EventSink] = None, cancel: Optional[CancelToken] = None,
                     folder: Union[str, Path, None] = None) -> IndexedFolder:
    """A header-only :func:`~engine.data.scan.scan_folder` of ``root`` that takes the unchanged
    images and undecodable files of the last verifying scan as they are; only the images added
    or changed since are left unchecked (none when the folder is unchanged)."""
    known = _load(report_path(root, folder))
    report = scan_folder(root, on_event, cancel, verify=False, known=known)
    verified: set[tuple[str, int, float]] = set()
    if known is not None and known.root == report.root:
        verified = {(r.path, r.size, r.mtime) for r in known.images}
    unchecked = tuple(r.path for r in report.images if (r.path, r.size, r.mtime) not in verified)
    return IndexedFolder(report, unchecked)


def verify_remembered(indexed: IndexedFolder, on_event: Optional[EventSink] = None,
                      cancel: Optional[CancelToken] = None, folder: Union[str, Path, None] = None) -> ScanReport:
    """:func:`~engine.data.verify.verify_images` of the unchecked images of ``indexed``; the
    verified report is kept for the next :func:`index_remembered` or :func:`scan_remembered`."""
    report = verify_images(indexed.report, indexed.unchecked, on_event, cancel)
    _keep(report, report_path(report.root, folder))
    return report


def _keep(report: ScanReport, path: Path) -> None:
    """Save ``report``; one that cannot be written is skipped (the scan itself succeeded)."""
    try:
        report.save(path)
    except OSError:
        pass


def _load(path: Path) -> Optional[ScanReport]:
    try:
        return ScanReport.load(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
