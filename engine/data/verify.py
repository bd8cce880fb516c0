"""Decode the images of a header-only scan to find the files whose pixels are broken (a
truncated JPEG keeps an intact header), reporting each batch of findings as it is found."""
from __future__ import annotations

import os
import time
from typing import Optional, Sequence

from engine.core.events import (
    Cancelled, CancelToken, CheckProgress, EventSink, Finished, Progress, Stage, Started, ignore_events,
)
from engine.data.scan import CHECK_WORKERS, PROGRESS_SECONDS, FileChecks, Problem, ScanReport, summarize

CHUNK_FILES = 1000   # a Progress event at least every this many decoded files (and every PROGRESS_SECONDS)


def verify_images(report: ScanReport, paths: Sequence[str], on_event: Optional[EventSink] = None,
                  cancel: Optional[CancelToken] = None) -> ScanReport:
    """The verified copy of ``report``: each of its images named in ``paths`` (``ImageRecord.path``
    values, e.g. all of them after ``scan_folder(verify=False)``) is fully decoded on
    ``CHECK_WORKERS`` threads, and the ones that fail move to the problems.

    Emits Started(Stage.CHECK, len(paths)), then Progress(Stage.CHECK, decoded, total,
    CheckProgress) after each chunk, carrying the problems found since the previous one (see
    :func:`found_problems`), then Finished(Stage.CHECK, status, ScanSummary). Raises
    :class:`~engine.core.events.Cancelled` when ``cancel`` fires.
    """
    emit = on_event or ignore_events
    total = len(paths)
    outcomes = ScanReport(root=report.root)      # each decoded file, as an image or a problem
    checks = FileChecks(outcomes, verify=True, workers=CHECK_WORKERS, known={})
    emit(Started(Stage.CHECK, total))
    sent = _Sent()
    try:
        for rel in paths:
            if cancel is not None:
                cancel.check()
            checks.check(rel, os.path.join(report.root, *rel.split("/")))
            sent.maybe_emit(emit, outcomes, total)
        checks.finish()
    except Cancelled:
        emit(Finished(Stage.CHECK, "cancelled"))
        raise
    finally:
        checks.close()
    sent.emit(emit, outcomes, total)
    verified = report.without(outcomes.problems)
    emit(Finished(Stage.CHECK, "completed", summarize(verified, total)))
    return verified


def found_problems(progress: CheckProgress) -> list[Problem]:
    """The problems a Progress event of :func:`verify_images` carries."""
    return [Problem(path, reason, detail) for path, reason, detail in progress.problems]


class _Sent:
    """How much of the outcomes the Progress events have reported so far."""

    def __init__(self) -> None:
        self.decoded, self.problems, self.at = 0, 0, time.monotonic()

    def maybe_emit(self, emit: EventSink, outcomes: ScanReport, total: int) -> None:
        decoded = outcomes.usable + len(outcomes.problems)
        if decoded - self.decoded >= CHUNK_FILES or (decoded > self.decoded
                                                     and time.monotonic() - self.at >= PROGRESS_SECONDS):
            self.emit(emit, outcomes, total)

    def emit(self, emit: EventSink, outcomes: ScanReport, total: int) -> None:
        found = tuple((p.path, p.reason, p.detail) for p in outcomes.problems[self.problems:])
        self.decoded = outcomes.usable + len(outcomes.problems)
        self.problems = len(outcomes.problems)
        self.at = time.monotonic()
        emit(Progress(Stage.CHECK, self.decoded, total, CheckProgress(problems=found)))
