"""Screenshots of the app on the bundled sample: the Data page, then the Pretrain page mid-run.

    DISPLAY=:99 python bench/screenshots.py shots/ [--theme dark] [--steps 60]

Runs under the current display (Xvfb works), with throw-away settings, cache and runs
folders so the user's own are untouched. Writes data.png and pretrain.png.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QSettings, QTimer  # noqa: E402

from desktop.app import create_app  # noqa: E402
from desktop.main_window import MainWindow  # noqa: E402
from desktop.theme import apply_theme  # noqa: E402

SIZE = (1440, 900)


class Shooter:
    """Drives the window through the two states and saves a PNG of each."""

    def __init__(self, window: MainWindow, out: Path, steps: int) -> None:
        self.window, self.out, self.steps = window, out, steps
        self.shot_taken = False
        window.data_page.project_opened.connect(lambda *_: self._when(self._thumbnails_ready, self.shoot_data))

    def _when(self, ready, then, tries: int = 100) -> None:
        """Poll ``ready`` every 100 ms (at most ``tries`` times), then call ``then``."""
        if ready() or tries <= 0:
            then()
        else:
            QTimer.singleShot(100, lambda: self._when(ready, then, tries - 1))

    def _thumbnails_ready(self) -> bool:
        model = self.window.data_page.model
        return model.loaded_count() >= min(model.rowCount(), 40)

    def save(self, name: str) -> None:
        path = self.out / name
        self.window.grab().save(str(path))
        print(path)

    def shoot_data(self) -> None:
        self.save("data.png")
        self.window.go_to("pretrain")
        page = self.window.pretrain_page
        page.start()
        page.job.progress.connect(self._on_progress)

    def _on_progress(self, event) -> None:
        if self.shot_taken or event.stage != "pretrain" or event.step < self.steps:
            return
        self.shot_taken = True
        page = self.window.pretrain_page
        page.plots.refresh()
        QTimer.singleShot(300, self._shoot_pretrain)

    def _shoot_pretrain(self) -> None:
        self.save("pretrain.png")
        self.window.confirm_stop_training = lambda: True
        self.window.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNGs")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--steps", type=int, default=60, help="training steps before the Pretrain shot")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="pretext-shots-"))
    os.environ["XDG_CACHE_HOME"] = str(scratch / "cache")
    os.environ["XDG_DATA_HOME"] = str(scratch / "data")
    app = create_app(sys.argv[:1])
    apply_theme(app, args.theme)
    window = MainWindow(QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(*SIZE)
    window.show()
    shooter = Shooter(window, args.out, args.steps)
    window.open_sample()
    code = app.exec()
    return code if shooter.shot_taken else 1


if __name__ == "__main__":
    sys.exit(main())
