"""From the Start Pretraining click to the first training step, in the real main window.

    python bench/start_latency.py [--folder DIR] [--wait 6] [--runs 3]

Opens the folder (default: the bundled sample), shows the Pretrain page, waits ``--wait``
seconds as a user reading the form would (the page loads the engine in the background
meanwhile), then starts a CPU run and reports the seconds until the first training step;
each run is a fresh process with throw-away settings, cache and runs folders.
Runs offscreen when there is no display.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MARK = "start-to-first-step "


def one_run(folder: Path, wait_s: float) -> None:
    """In this process: open ``folder``, wait, start, print MARK and the seconds, quit."""
    from PySide6.QtCore import QSettings, QTimer

    from desktop.shell.application import create_app
    from desktop.shell.main_window import MainWindow
    from engine.core.events import Stage

    scratch = Path(os.environ["XDG_DATA_HOME"])
    app = create_app(sys.argv[:1])
    window = MainWindow(QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    window.confirm_stop_training = lambda: True
    window.show()
    page = window.pretrain_page

    def start() -> None:
        page.form.set_config(page.form.config("").replace(device="cpu", epochs=10_000, out_dir=str(scratch)))
        clicked = time.perf_counter()
        if not page.start():
            raise SystemExit(page.banner.text())

        def on_progress(event) -> None:
            if event.stage is Stage.PRETRAIN and page.is_training():
                print(f"{MARK}{time.perf_counter() - clicked:.3f}", flush=True)
                page.job.progress.disconnect(on_progress)
                page.stop()

        page.job.progress.connect(on_progress)
        page.job.finished.connect(window.close)

    def on_opened(*_args) -> None:
        window.go_to("pretrain")
        QTimer.singleShot(int(wait_s * 1000), start)

    window.data_page.project_opened.connect(on_opened)
    window.open_folder(str(folder))
    app.exec()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=None, help="image folder (default: the sample)")
    parser.add_argument("--wait", type=float, default=6.0, help="seconds on the Pretrain page before Start")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.folder is None:
        from resources import SAMPLE_DIR
        args.folder = Path(SAMPLE_DIR)
    if args.one_run:
        one_run(args.folder, args.wait)
        return 0
    times = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="pretext-start-") as scratch:
            env = dict(os.environ, XDG_CACHE_HOME=f"{scratch}/cache", XDG_DATA_HOME=f"{scratch}/data",
                       XDG_CONFIG_HOME=f"{scratch}/config")
            if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
                env["QT_QPA_PLATFORM"] = "offscreen"
            Path(env["XDG_DATA_HOME"]).mkdir(parents=True)
            done = subprocess.run([sys.executable, __file__, "--one-run", "--folder", str(args.folder),
                                   "--wait", str(args.wait)], env=env, capture_output=True, text=True, timeout=300)
            line = next((text for text in done.stdout.splitlines() if text.startswith(MARK)), None)
            if line is None:
                print(done.stdout, done.stderr, sep="\n")
                return 1
            times.append(float(line[len(MARK):]))
    print(f"Start Pretraining -> first training step on {args.folder}: median {statistics.median(times):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
