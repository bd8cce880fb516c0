"""Screenshots of the app on the bundled sample: every step of the workflow.

    DISPLAY=:99 python bench/screenshots.py shots/ [--theme dark] [--steps 60] [--epochs 12] [--training-time 1]
                                                   [--size 1280x720]

Runs under the current display (Xvfb works), with throw-away settings, cache and runs
folders so the user's own are untouched. Writes data.png, pretrain-advanced.png (the form with Advanced open),
pretrain.png (mid-run, with a live map every 2 epochs), then, once the run has finished: label-empty.png
(suggestions, no classes yet), label.png (a few labels from resources/sample-labels.csv), label-trained.png
(after a fine-tune with the chosen Training time, Quick by default), export-empty.png, export.png (after an
export and a "Try it" prediction) and data-problems.png (a small folder with a truncated and an empty image).
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QItemSelectionModel, QSettings, QTimer  # noqa: E402

from desktop.common.theme import apply_theme  # noqa: E402
from desktop.label.finetune_panel import TIME_LIMITS  # noqa: E402
from desktop.shell.application import create_app  # noqa: E402
from desktop.shell.main_window import MainWindow  # noqa: E402
from engine.core.events import Stage  # noqa: E402
from resources import RESOURCES_DIR, SAMPLE_DIR  # noqa: E402

SIZE = "1440x900"


class Shooter:
    """Drives the window through the two states and saves a PNG of each."""

    def __init__(self, window: MainWindow, out: Path, steps: int, epochs: int, scratch: Path,
                 training_minutes: float = 0.0, per_class: int = 3) -> None:
        self.window, self.out, self.steps, self.epochs = window, out, steps, epochs
        self.training_minutes = training_minutes
        self.scratch, self.per_class = scratch, per_class
        self.shot_taken = False
        self.data_shot = False    # data.png taken: a later folder (the one with problems) is shot on its own
        self.done = False
        window.data_page.project_opened.connect(self._on_project_opened)
        window.pretrain_page.completed.connect(lambda _result: QTimer.singleShot(300, self.open_label))

    def _when(self, ready, then, tries: int = 100) -> None:
        """Poll ``ready`` every 100 ms (at most ``tries`` times), then call ``then``."""
        if ready() or tries <= 0:
            then()
        else:
            QTimer.singleShot(100, lambda: self._when(ready, then, tries - 1))

    def _on_project_opened(self, *_args) -> None:
        if not self.data_shot:
            self.data_shot = True
            self._when(self._thumbnails_ready, self.shoot_data)

    def _thumbnails_ready(self) -> bool:
        model = self.window.data_page.model
        return model.loaded_count() >= min(model.rowCount(), 40)

    def _suggestions_ready(self) -> bool:
        page = self.window.label_page
        suggestions = page.suggestions.list
        return (not page.suggestions.jobs.busy() and suggestions.count() > 0 and self._thumbnails_ready()
                and all(not suggestions.item(row).icon().isNull() for row in range(suggestions.count()))
                and not page.map.jobs.busy() and page.map.embedding_map is not None)

    def save(self, name: str) -> None:
        path = self.out / name
        self.window.grab().save(str(path))
        print(path)

    def shoot_data(self) -> None:
        self.save("data.png")
        self.window.go_to("pretrain")
        page = self.window.pretrain_page
        page.form.epochs.setValue(self.epochs)
        page.form.map_every.setCurrentIndex(page.form.map_every.findData(2))
        page.form.advanced_toggle.setChecked(True)
        self._when(lambda: "detecting" not in page.form.device.currentText(),   # the devices found, the form settled
                   lambda: QTimer.singleShot(300, self._shoot_advanced))

    def _shoot_advanced(self) -> None:
        self.save("pretrain-advanced.png")
        page = self.window.pretrain_page
        page.form.advanced_toggle.setChecked(False)
        page.start()
        page.job.progress.connect(self._on_progress)

    def _on_progress(self, event) -> None:
        if self.shot_taken or event.stage is not Stage.PRETRAIN or event.step < self.steps:
            return
        self.shot_taken = True
        page = self.window.pretrain_page
        page.plots.refresh()
        QTimer.singleShot(300, self._shoot_pretrain)

    def _shoot_pretrain(self) -> None:
        self.save("pretrain.png")

    # --- after pretraining: Label & Fine-tune, then Export ----------------------------------
    def open_label(self) -> None:
        self.window.go_to("label")
        self._when(self._suggestions_ready, self.shoot_label_empty, tries=600)

    def shoot_label_empty(self) -> None:
        self.save("label-empty.png")
        page = self.window.label_page
        with open(RESOURCES_DIR / "sample-labels.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        chosen: dict[str, list[str]] = {}
        for row in rows:
            chosen.setdefault(row["label"], [])
            if len(chosen[row["label"]]) < self.per_class:
                chosen[row["label"]].append(row["path"])
        for name in sorted(chosen):
            page.add_class(name)
        for name, paths in chosen.items():
            page.label_paths(paths, name)
        page.classes.set_current(sorted(chosen)[0])
        page.grid.selectionModel().select(page.model.index(5), QItemSelectionModel.SelectionFlag.Select)
        QTimer.singleShot(500, self.shoot_label)

    def shoot_label(self) -> None:
        self.save("label.png")
        page = self.window.label_page
        page.finetuned.connect(lambda _outcome: self._when(self._suggestions_ready, self.shoot_trained, tries=600))
        time_limit = page.finetune.time_limit
        time_limit.setCurrentIndex(time_limit.findData(self.training_minutes))
        page.train()

    def shoot_trained(self) -> None:
        page = self.window.label_page
        page.browser.sort_confidence.setChecked(True)
        page.finetune.plots.refresh()   # then the suggestions the fine-tune asked for again, with their thumbnails
        QTimer.singleShot(500, lambda: self._when(self._suggestions_ready, self._save_trained, tries=600))

    def _save_trained(self) -> None:
        self.save("label-trained.png")
        self.window.go_to("export")
        page = self.window.export_page
        page.path.setText(str(self.scratch / "sample-classifier.onnx"))
        self.save("export-empty.png")
        page.exported.connect(lambda _result: page.try_it.try_image(str(SAMPLE_DIR / "fashion_00007.png")))
        page.try_it.predicted.connect(lambda _p: QTimer.singleShot(300, self.shoot_export))
        page.start()

    def shoot_export(self) -> None:
        self.save("export.png")
        folder = self.scratch / "with-problems"
        folder.mkdir()
        for number in range(8):
            shutil.copy(SAMPLE_DIR / f"fashion_{number:05d}.png", folder)
        data = (SAMPLE_DIR / "fashion_00008.png").read_bytes()
        (folder / "truncated.png").write_bytes(data[: len(data) // 2])
        (folder / "empty.jpg").write_bytes(b"")
        self.window.go_to("data")
        self.window.data_page.open_folder(str(folder))
        self._when(self._problems_shown, self.shoot_problems)

    def _problems_shown(self) -> bool:
        page = self.window.data_page
        return (page.root == str(self.scratch / "with-problems") and not page.is_scanning()
                and page.details.problems_model.rowCount() > 0 and self._thumbnails_ready())

    def shoot_problems(self) -> None:
        self.save("data-problems.png")
        self.done = True
        self.window.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNGs")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--steps", type=int, default=60, help="training steps before the Pretrain shot")
    parser.add_argument("--epochs", type=int, default=12, help="epochs of the pretraining run (it must finish)")
    parser.add_argument("--training-time", type=float, default=0.0, choices=[m for m, _ in TIME_LIMITS],
                        help="the fine-tune's Training time in minutes (0: Quick)")
    parser.add_argument("--size", default=SIZE, help="window size, WIDTHxHEIGHT (default %(default)s)")
    args = parser.parse_args()
    try:
        width, height = (int(side) for side in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WIDTHxHEIGHT, such as 1280x720, not {args.size!r}")
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="pretext-shots-"))
    os.environ["XDG_CACHE_HOME"] = str(scratch / "cache")
    os.environ["XDG_DATA_HOME"] = str(scratch / "data")
    app = create_app(sys.argv[:1])
    apply_theme(app, args.theme)
    window = MainWindow(QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(width, height)
    window.show()
    shooter = Shooter(window, args.out, args.steps, args.epochs, scratch, args.training_time)
    window.open_sample()
    code = app.exec()
    return code if shooter.done else 1


if __name__ == "__main__":
    sys.exit(main())
