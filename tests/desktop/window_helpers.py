"""Driving the main window in tests: dropping files, opening a folder, a tiny pretraining run."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from desktop.shell.main_window import MainWindow
from engine.core.events import Stage

TINY = dict(backbone="smallcnn", image_size=16, batch_size=8)


def drop_paths(widget, paths) -> tuple[QDragEnterEvent, QDropEvent]:
    """Send a drag-enter and a drop of ``paths`` (as file URLs) onto ``widget``."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    centre = widget.rect().center()
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    try:
        enter = QDragEnterEvent(QPointF(centre), *args)
    except TypeError:   # PySide6 before 6.12 only takes a QPoint
        enter = QDragEnterEvent(centre, *args)
    QApplication.sendEvent(widget, enter)
    drop = QDropEvent(QPointF(centre), *args, QEvent.Type.Drop)
    QApplication.sendEvent(widget, drop)
    return enter, drop


def open_and_scan(qtbot, window: MainWindow, folder: Path) -> None:
    """Drop ``folder`` on the Data page and wait for its scan to be shown."""
    with qtbot.waitSignal(window.data_page.project_opened, timeout=30_000):
        drop_paths(window.data_page, [folder])
    qtbot.waitUntil(lambda: not window.data_page.is_scanning())


def tiny_settings(window: MainWindow, runs_dir: Path, epochs: int = 1) -> None:
    """Make the Pretrain form train a tiny model for a few steps."""
    form = window.pretrain_page.form
    cfg = form.config("").replace(out_dir=str(runs_dir), epochs=epochs, **TINY)
    form.set_config(cfg)


LONG = 10_000   # epochs: a run that only ends when the test stops it


def is_training_step(event) -> bool:
    return event.stage is Stage.PRETRAIN


def start_run(qtbot, window, folder: Path, runs_dir: Path, epochs: int):
    """Scan ``folder``, start a tiny run, and wait for its first training step."""
    open_and_scan(qtbot, window, folder)
    window.go_to("pretrain")
    tiny_settings(window, runs_dir, epochs=epochs)
    page = window.pretrain_page
    assert page.start()
    with qtbot.waitSignal(page.job.progress, check_params_cb=is_training_step, timeout=60_000):
        pass
    return page
