"""Opening a big folder in the Data step: the time to the grid (a header-only index), the
background check that decodes every image, and opening the same folder again.

    python bench/open_folder.py [--count 100000] [--folder /tmp/open-folder-100k] [--before] [--gui]

Writes ``--count`` small PNGs (32 × 32, one in a thousand cut short: a header scan takes it for
an image, a decode does not) in folders of 1,000 under ``--folder`` once, and reuses them on
later runs. Each step runs on a fresh scan memory with the files in the page cache (the folder
is walked once first). ``--before`` also times the verifying scan the Data step made before the
check moved to the background. ``--gui`` also opens the folder in the main window (offscreen, a
fresh cache) and times the grid and the end of the check there, with the event loop's longest
gaps while the check runs.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.data.scan import scan_folder  # noqa: E402
from engine.data.scan_memory import index_remembered, scan_remembered, verify_remembered  # noqa: E402

PER_FOLDER = 1000
CUT_EVERY = 1000


def png_variants(count: int = 16) -> list[bytes]:
    rng = np.random.default_rng(0)
    variants = []
    for _ in range(count):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "PNG")
        variants.append(buffer.getvalue())
    return variants


def write_folder(folder: Path, count: int) -> None:
    """``count`` PNGs under ``folder``; a folder that already holds them is kept."""
    marker = folder / f".complete-{count}"
    if marker.exists():
        return
    variants = png_variants()
    for i in range(count):
        sub = folder / f"part_{i // PER_FOLDER:03d}"
        if i % PER_FOLDER == 0:
            sub.mkdir(parents=True, exist_ok=True)
        data = variants[i % len(variants)]
        (sub / f"img_{i:06d}.png").write_bytes(data[: len(data) * 6 // 10] if i % CUT_EVERY == 7 else data)
    marker.touch()


def timed(run):
    """``run()``'s result and its wall-clock and CPU seconds (the CPU time of a one-thread step is
    what its wall time would be on an idle machine)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, f"{time.perf_counter() - started:6.2f} s (CPU {time.process_time() - cpu:6.2f} s)"


def open_in_window(folder: Path) -> str:
    """Open ``folder`` on the Data page of a fresh main window; the times to ``project_opened`` and
    to ``scan_verified``, and the gaps of a 10 ms timer in between."""
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="open-folder-cache-")
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.shell.main_window import MainWindow

    app = QApplication.instance() or QApplication(["open_folder", "-platform", "offscreen"])
    window = MainWindow(QSettings(os.path.join(tempfile.mkdtemp(), "settings.ini"), QSettings.Format.IniFormat))
    window.resize(1400, 900)
    window.show()
    marks, gaps, last = {}, [], [0.0]
    ticker = QTimer(interval=10)

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    def opened(_root, _report) -> None:
        marks["grid"] = last[0] = time.perf_counter()
        ticker.start()

    def verified(_root, _report) -> None:
        marks["checked"] = time.perf_counter()
        ticker.stop()
        app.quit()

    ticker.timeout.connect(tick)
    window.data_page.project_opened.connect(opened)
    window.data_page.scan_verified.connect(verified)
    started = time.perf_counter()
    window.data_page.open_folder(str(folder))
    app.exec()
    window.close()
    gaps.sort()
    return (f"grid after {marks['grid'] - started:.2f} s, checked after {marks['checked'] - started:.2f} s; "
            f"event-loop gaps while checking: p50 {gaps[len(gaps) // 2] * 1000:.0f} ms, "
            f"p99 {gaps[int(len(gaps) * 0.99)] * 1000:.0f} ms, max {gaps[-1] * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "open-folder-100k")
    parser.add_argument("--before", action="store_true", help="also time the verifying scan in one call")
    parser.add_argument("--gui", action="store_true", help="also open the folder in the main window")
    args = parser.parse_args()
    _, written = timed(lambda: write_folder(args.folder, args.count))
    print(f"{args.count:,} PNGs in {args.folder} (ready in {written})")
    scan_folder(args.folder, verify=False)           # the files' metadata into the page cache
    with tempfile.TemporaryDirectory(prefix="open-folder-") as memory:
        indexed, to_grid = timed(lambda: index_remembered(args.folder, folder=memory))
        verified, check = timed(lambda: verify_remembered(indexed, folder=memory))
        reopened, reopen = timed(lambda: index_remembered(args.folder, folder=memory))
    print(f"  time to the grid (header-only index): {to_grid}, {indexed.report.usable:,} images")
    print(f"  background check of every image:      {check}, {len(verified.problems):,} broken found")
    print(f"  opening it again:                     {reopen}, {len(reopened.unchecked):,} left to check")
    if args.before:
        with tempfile.TemporaryDirectory(prefix="open-folder-") as memory:
            _, before = timed(lambda: scan_remembered(args.folder, folder=memory))
        print(f"  verifying scan in one call (before):  {before}")
    if args.gui:
        print(f"  in the main window: {open_in_window(args.folder)}")


if __name__ == "__main__":
    main()
