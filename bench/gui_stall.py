"""GUI event-loop stalls while a real CPU pretraining run goes.

    python bench/gui_stall.py [--folder DIR] [--seconds 30] [--backbone auto]

Opens the folder (default: the bundled sample) in the real main window, starts
pretraining on the CPU from the Pretrain page, and meanwhile a 10 ms QTimer records
how late each tick fires. Prints p50 / p99 / max lateness in ms, separately for the
start-up (scan, cache, model build) and for the training steps. Goal: p99 <= 50 ms.
Runs offscreen when there is no display.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, Qt, QTimer  # noqa: E402

from desktop.shell.application import create_app  # noqa: E402
from desktop.shell.main_window import MainWindow  # noqa: E402
from engine.core.events import Stage  # noqa: E402
from resources import SAMPLE_DIR  # noqa: E402

TICK_MS = 10


class StallRecorder:
    """Lateness of each tick of a 10 ms precise timer, with the phase it fell in."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {"start-up": [], "training": []}
        self.phase = "start-up"
        self._last = time.perf_counter()
        self.timer = QTimer(interval=TICK_MS)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.samples[self.phase].append(max(0.0, (now - self._last) * 1000 - TICK_MS))
        self._last = now

    def report(self) -> str:
        lines = [f"{'phase':<10} {'ticks':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
        for phase, values in self.samples.items():
            if values:
                data = np.asarray(values)
                lines.append(f"{phase:<10} {len(data):>7} {np.percentile(data, 50):>8.1f} "
                             f"{np.percentile(data, 99):>8.1f} {data.max():>8.1f}")
        return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="GUI event-loop stalls during CPU pretraining")
    parser.add_argument("--folder", type=Path, default=Path(SAMPLE_DIR), help="image folder (default: the sample)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of training to measure")
    parser.add_argument("--backbone", default="auto")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="pretext-stall-"))
    os.environ["XDG_CACHE_HOME"] = str(scratch / "cache")
    os.environ["XDG_DATA_HOME"] = str(scratch / "data")

    app = create_app(sys.argv[:1])
    window = MainWindow(QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    window.confirm_stop_training = lambda: True
    window.resize(1440, 900)
    window.show()
    recorder = StallRecorder()
    page = window.pretrain_page
    training_started = []

    def on_progress(event) -> None:
        if event.stage is Stage.PRETRAIN and not training_started:
            training_started.append(time.perf_counter())
            recorder.phase = "training"
            QTimer.singleShot(int(args.seconds * 1000), page.stop)

    def start_training(*_args) -> None:
        window.go_to("pretrain")
        cfg = page.form.config("").replace(device="cpu", epochs=10_000, backbone=args.backbone, out_dir=str(scratch))
        page.form.set_config(cfg)
        recorder.start()
        if not page.start():
            raise SystemExit(page.banner.text())
        page.job.progress.connect(on_progress)
        page.job.finished.connect(window.close)

    window.data_page.project_opened.connect(start_training)
    window.open_folder(str(args.folder))
    app.exec()
    result = page.last_result
    if result is None:
        print("the run did not start:", page.banner.text())
        return 1
    print(f"{result.step} steps on {args.folder} ({page.choices.text().split('<br>')[0]})".replace("<b>", "")
          .replace("</b>", ""))
    print(recorder.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
