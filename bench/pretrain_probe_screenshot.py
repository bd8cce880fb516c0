"""A screenshot of the Pretrain page with labels in the folder: the gain probe's line, live.

    xvfb-run -s "-screen 0 1440x900x24" python bench/pretrain_probe_screenshot.py docs/screenshots/pretrain-probe.png

Copies the bundled sample to a scratch folder, labels ``--per-class`` images of each class
there (from resources/sample-labels.csv), starts a pretraining run of ``--minutes`` on it, and
saves the window once the first probe after training (not the untrained one) is shown (or,
failing that, when the run ends, and exits with 1).
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QSettings, QTimer  # noqa: E402

from desktop.common.theme import apply_theme  # noqa: E402
from desktop.shell.application import create_app  # noqa: E402
from desktop.shell.main_window import MainWindow  # noqa: E402
from engine.core.events import Stage  # noqa: E402
from engine.pretrain import gain_probe  # noqa: E402
from engine.store.project import Project  # noqa: E402
from resources import RESOURCES_DIR, SAMPLE_DIR  # noqa: E402


def label_sample(root: Path, per_class: int) -> None:
    """Give ``per_class`` images of each class of the sample a label in ``root``'s project."""
    chosen: dict[str, list[str]] = defaultdict(list)
    with open(RESOURCES_DIR / "sample-labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if len(chosen[row["label"]]) < per_class:
                chosen[row["label"]].append(row["path"])
    with Project.open(root) as project:
        for name, paths in sorted(chosen.items()):
            project.add_class(name)
            project.label(paths, name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--per-class", type=int, default=5, help="labels per class (default %(default)s)")
    parser.add_argument("--minutes", type=float, default=3.0, help="the run's time budget (default %(default)s)")
    parser.add_argument("--probe-share", type=float, default=gain_probe.PROBE_SHARE,
                        help="the probes' share of the training time (default %(default)s); a larger one "
                             "shows a trained figure sooner on a busy machine")
    parser.add_argument("--size", default="1440x900", help="window size, WIDTHxHEIGHT (default %(default)s)")
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.lower().split("x"))
    gain_probe.PROBE_SHARE = args.probe_share
    scratch = Path(tempfile.mkdtemp(prefix="pretext-probe-shot-"))
    os.environ["XDG_CACHE_HOME"] = str(scratch / "cache")
    os.environ["XDG_DATA_HOME"] = str(scratch / "data")
    root = scratch / "fashion"
    shutil.copytree(SAMPLE_DIR, root)
    label_sample(root, args.per_class)

    app = create_app(sys.argv[:1])
    apply_theme(app, "light")
    window = MainWindow(QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    window.confirm_stop_training = lambda: True
    window.resize(width, height)
    window.show()
    page = window.pretrain_page
    outcome = {"saved": False}

    def save_and_quit(trained: bool = True) -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(args.out))
        outcome["saved"] = trained
        print(f"saved {args.out}{'' if trained else ' (no probe after training: the run was too short)'}: "
              f"{page.gain.text()}")
        window.close()

    def on_progress(event) -> None:
        if event.stage is Stage.PROBE and event.metrics.epoch > 0 and not outcome["saved"]:
            QTimer.singleShot(1500, save_and_quit)     # let the curves catch up

    def start(*_args) -> None:
        window.go_to("pretrain")
        form = page.form
        form.set_config(form.config(str(root)).replace(backbone="smallcnn", minutes=args.minutes,
                                                       out_dir=str(scratch / "runs")))
        QTimer.singleShot(500, lambda: page.start() and watch(page.job))

    def watch(job) -> None:
        job.progress.connect(on_progress)
        job.finished.connect(lambda: outcome["saved"] or save_and_quit(trained=False))

    window.data_page.project_opened.connect(lambda *_: QTimer.singleShot(1000, start))
    window.open_folder(str(root))
    app.exec()
    shutil.rmtree(scratch, ignore_errors=True)
    return 0 if outcome["saved"] else 1


if __name__ == "__main__":
    sys.exit(main())
