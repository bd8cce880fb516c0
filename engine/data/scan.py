"""Walk an image folder: index every usable image and give each unusable file a reason."""
from __future__ import annotations

import json
import os
import statistics
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Optional, Union

from engine.core.atomic import write_text
from engine.core.events import (
    Cancelled, CancelToken, EventSink, Finished, Progress, ScanProgress, ScanStart, ScanSummary, Stage, Started,
    ignore_events,
)
from engine.core.places import PROJECT_DIR
from engine.data import imageio

PROGRESS_SECONDS = 0.1
PROGRESS_FILES = 500
CHECK_WORKERS = min(8, os.cpu_count() or 1)
IN_FLIGHT_PER_WORKER = 4
SKIPPED_NAMES_KEPT = 1000   # the skipped files named in a report; the count goes on


class ScanError(ValueError):
    """The folder cannot be scanned at all, or holds no usable image; one-line message."""


@dataclass(frozen=True)
class ImageRecord:
    """One usable image; ``path`` is POSIX and relative to the scanned root."""

    path: str
    size: int
    mtime: float
    width: int
    height: int
    mode: str


@dataclass(frozen=True)
class Problem:
    """One unusable file or folder and why (see :class:`engine.data.imageio.UnusableImage`).
    A file whose decode failed also keeps its byte size and modification time, so that a later
    scan can take the verdict as it is while the file is unchanged; -1: check it again."""

    path: str
    reason: str
    detail: str
    size: int = field(default=-1, compare=False)
    mtime: float = field(default=-1.0, compare=False)

    @property
    def remembered(self) -> bool:
        return self.size >= 0


@dataclass
class ScanReport:
    """What :func:`scan_folder` found under ``root`` (an absolute path)."""

    root: str
    images: list[ImageRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped_hidden: int = 0
    skipped_other: int = 0  # non-image files and links to folders
    skipped_names: list[str] = field(default_factory=list)   # the first SKIPPED_NAMES_KEPT of skipped_other

    @property
    def usable(self) -> int:
        return len(self.images)

    @property
    def grayscale(self) -> bool:
        """True when there are images and every one has a single-channel mode."""
        return bool(self.images) and all(imageio.is_grayscale_mode(r.mode) for r in self.images)

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    def size_histogram(self) -> Counter:
        """Counter of ``(width, height)``."""
        return Counter((r.width, r.height) for r in self.images)

    def mode_histogram(self) -> Counter:
        return Counter(r.mode for r in self.images)

    def median_side(self) -> int:
        """Median shorter side in pixels (0 without images)."""
        if not self.images:
            return 0
        return int(statistics.median_low(min(r.width, r.height) for r in self.images))

    def require_usable(self) -> "ScanReport":
        """Return self, or raise :class:`ScanError` when no image is usable."""
        if not self.images:
            skipped = self.skipped_hidden + self.skipped_other
            raise ScanError(
                f"no usable images in {self.root}: {skipped} files skipped, {len(self.problems)} broken"
            )
        return self

    def without(self, problems: Iterable[Problem]) -> "ScanReport":
        """A copy where the images named by ``problems`` are moved to the problem list."""
        problems = list(problems)
        dropped = {p.path for p in problems}
        return replace(
            self,
            images=[r for r in self.images if r.path not in dropped],
            problems=sorted(self.problems + problems, key=lambda p: p.path),
        )

    def summary_text(self) -> str:
        """A multi-line report for people: counts, sizes, modes and every problem."""
        kind = "grayscale" if self.grayscale else "colour"
        lines = [
            f"Scanned {self.root}",
            f"  {self.usable} usable images ({kind}), {len(self.problems)} problems, "
            f"{self.skipped_hidden} hidden entries and {self.skipped_other} other files skipped",
        ]
        if self.images:
            sizes = self.size_histogram().most_common()
            shown = ", ".join(f"{w}x{h} ({n})" for (w, h), n in sizes[:5])
            more = f", and {len(sizes) - 5} more sizes" if len(sizes) > 5 else ""
            lines.append(f"  sizes: {shown}{more}")
            lines.append(f"  median shorter side: {self.median_side()} px")
            modes = ", ".join(f"{m} ({n})" for m, n in self.mode_histogram().most_common())
            lines.append(f"  modes: {modes}")
        if self.problems:
            lines.append("Problems:")
            lines.extend(f"  {p.path}: {p.reason} ({p.detail})" for p in self.problems)
        if self.skipped_names:
            lines.append("Skipped (not image files):")
            lines.extend(f"  {name}" for name in self.skipped_names)
            if self.skipped_other > len(self.skipped_names):
                lines.append(f"  … and {self.skipped_other - len(self.skipped_names):,} more")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ScanReport":
        data = json.loads(text)
        return cls(
            root=data["root"],
            images=[ImageRecord(**r) for r in data["images"]],
            problems=[Problem(**p) for p in data["problems"]],
            skipped_hidden=data["skipped_hidden"],
            skipped_other=data["skipped_other"],
            skipped_names=data.get("skipped_names", []),
        )

    def save(self, path) -> None:
        """Write the report to ``path`` atomically (a crash never leaves half a report)."""
        write_text(path, self.to_json())

    @classmethod
    def load(cls, path) -> "ScanReport":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def _open_root(root) -> str:
    """The absolute root, or :class:`ScanError` when it is not a readable folder."""
    path = os.path.abspath(os.path.expanduser(os.fspath(root)))
    if not os.path.exists(path):
        raise ScanError(f"folder not found: {path}")
    if not os.path.isdir(path):
        raise ScanError(f"not a folder: {path}")
    try:
        with os.scandir(path):
            pass
    except OSError as exc:
        raise ScanError(f"cannot read folder {path}: {exc.strerror or exc}") from None
    return path


def _check_file(path: str, verify: bool) -> tuple[os.stat_result,
                                                  Union[tuple[int, int, str], imageio.UnusableImage]]:
    """The file's stat and its ``(width, height, mode)``, or the reason it is unusable."""
    stat = os.stat(path)
    try:
        return stat, (imageio.verify(path) if verify else imageio.read_header(path))
    except imageio.UnusableImage as exc:
        return stat, exc


class FileChecks:
    """Checks image files on ``workers`` threads (Pillow decodes with the GIL released) and
    adds each outcome to ``report`` in submission order; at most ``IN_FLIGHT_PER_WORKER``
    checks per worker wait, so progress and memory follow the walk. One worker: inline.
    ``known`` images and decode problems whose byte size and modification time still match
    are added unchecked by :meth:`add`."""

    def __init__(self, report: "ScanReport", verify: bool, workers: int,
                 known: dict[str, Union[ImageRecord, Problem]]) -> None:
        self.report, self.verify, self.known = report, verify, known
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="scan") if workers > 1 else None
        self.limit = IN_FLIGHT_PER_WORKER * workers
        self.waiting: deque = deque()

    def add(self, rel: str, entry: os.DirEntry) -> None:
        earlier = self.known.get(rel)
        if earlier is not None:
            stat = entry.stat()
            if (stat.st_size, stat.st_mtime) == (earlier.size, earlier.mtime):
                (self.report.images if isinstance(earlier, ImageRecord) else self.report.problems).append(earlier)
                return
        self.check(rel, entry.path)

    def check(self, rel: str, path: str) -> None:
        """Check the file ``path`` (named ``rel`` in the report)."""
        if self.pool is None:
            self._record(rel, lambda: _check_file(path, self.verify))
            return
        self.waiting.append((rel, self.pool.submit(_check_file, path, self.verify)))
        while len(self.waiting) > self.limit:
            self._collect()

    def finish(self) -> None:
        while self.waiting:
            self._collect()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _collect(self) -> None:
        rel, future = self.waiting.popleft()
        self._record(rel, future.result)

    def _record(self, rel: str, outcome) -> None:
        """Append the image, or a :class:`Problem` saying why it is unusable."""
        try:
            stat, header = outcome()
        except OSError as exc:
            self.report.problems.append(Problem(rel, "unreadable", exc.strerror or str(exc)))
            return
        if isinstance(header, imageio.UnusableImage):
            self.report.problems.append(Problem(rel, header.reason, header.detail, stat.st_size, stat.st_mtime))
        else:
            self.report.images.append(ImageRecord(rel, stat.st_size, stat.st_mtime, *header))


def scan_folder(
    root, on_event: Optional[EventSink] = None, cancel: Optional[CancelToken] = None, verify: bool = True,
    known: Optional[ScanReport] = None,
) -> ScanReport:
    """Index the images under ``root`` recursively, in path order.

    Hidden entries and links to folders are skipped; ``verify`` fully decodes each image
    (on ``CHECK_WORKERS`` threads) to find truncated files. ``known``: an earlier scan of
    ``root`` made with the same ``verify`` (or a verifying one for a header-only scan); its
    images and undecodable files whose byte size and modification time are unchanged are
    taken as they are (unreadable ones are retried).
    Raises :class:`ScanError` when ``root`` is not a readable folder and
    :class:`~engine.core.events.Cancelled` when ``cancel`` fires.
    """
    emit = on_event or ignore_events
    report = ScanReport(root=_open_root(root))
    emit(Started(Stage.SCAN, 0, ScanStart(root=report.root)))
    earlier: dict[str, Union[ImageRecord, Problem]] = {}
    if known is not None and known.root == report.root:
        earlier.update((p.path, p) for p in known.problems if p.remembered)
        earlier.update((r.path, r) for r in known.images)
    checks = FileChecks(report, verify, CHECK_WORKERS if verify else 1, earlier)
    seen = 0
    last_emit, last_seen = time.monotonic(), 0
    pending = [""]  # folders still to walk, relative POSIX paths
    try:
        while pending:
            rel_dir = pending.pop()
            try:
                with os.scandir(os.path.join(report.root, rel_dir)) as entries:
                    for entry in entries:
                        if cancel is not None:
                            cancel.check()
                        seen += 1
                        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                        try:
                            _visit(report, checks, pending, entry, rel)
                        except OSError as exc:   # e.g. a link to itself
                            report.problems.append(Problem(rel, "unreadable", exc.strerror or str(exc)))
                        now = time.monotonic()
                        if now - last_emit >= PROGRESS_SECONDS or seen - last_seen >= PROGRESS_FILES:
                            emit(Progress(Stage.SCAN, seen, 0, ScanProgress(images=report.usable)))
                            last_emit, last_seen = now, seen
            except OSError as exc:
                report.problems.append(Problem(rel_dir, "unreadable", f"cannot list folder ({exc.strerror or exc})"))
        checks.finish()
    except Cancelled:
        emit(Finished(Stage.SCAN, "cancelled", summarize(report, seen)))
        raise
    finally:
        checks.close()
    report.images.sort(key=lambda r: r.path)
    report.problems.sort(key=lambda p: p.path)
    report.skipped_names.sort()
    emit(Finished(Stage.SCAN, "completed", summarize(report, seen)))
    return report


def summarize(report: ScanReport, files: int) -> ScanSummary:
    """The Finished payload of a scan or check of ``report`` that looked at ``files`` files."""
    return ScanSummary(files=files, images=report.usable, problems=len(report.problems),
                       skipped_hidden=report.skipped_hidden, skipped_other=report.skipped_other)


def reuse_or_scan(root, scan: Optional[ScanReport], on_event: Optional[EventSink] = None,
                  cancel: Optional[CancelToken] = None, verify: bool = True) -> ScanReport:
    """``scan`` when it is a scan of ``root`` (one the caller already made this session, verified
    or not), else a fresh :func:`scan_folder` of ``root``. Either way :class:`ScanError` when
    ``root`` is no longer a readable folder."""
    if scan is not None and os.path.realpath(scan.root) == os.path.realpath(_open_root(root)):
        return scan
    return scan_folder(root, on_event=on_event, cancel=cancel, verify=verify)


def _visit(report: ScanReport, checks: FileChecks, pending: list[str], entry: os.DirEntry, rel: str) -> None:
    """Queue a folder, count a skipped entry, or check a file with an image extension.
    The project store at the root (:data:`engine.core.places.PROJECT_DIR`) is not counted."""
    if rel == PROJECT_DIR:
        return
    if entry.name.startswith("."):
        report.skipped_hidden += 1
    elif entry.is_dir(follow_symlinks=False):
        pending.append(rel)
    elif (entry.is_dir() or not entry.is_file()
          or os.path.splitext(entry.name)[1].lower() not in imageio.IMAGE_EXTENSIONS):
        report.skipped_other += 1  # not an image file: a link to a folder, a socket, a dead link, a text file
        if len(report.skipped_names) < SKIPPED_NAMES_KEPT:
            report.skipped_names.append(rel)
    else:
        checks.add(rel, entry)
