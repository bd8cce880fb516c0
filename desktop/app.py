"""``pretext-studio [PATH] [--sample]``: start the desktop app.

Also ``--install-desktop-entry``, ``--uninstall-desktop-entry`` and ``--self-test``.
Imports stay light until they are needed: the desktop-entry commands load no Qt, and
the window is on screen before torch is imported (the engine loads it in a worker).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

THEMES = ("system", "light", "dark")   # desktop.common.theme.THEMES, without importing Qt for --help


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pretext-studio", description="Pretrain image models on your own images.")
    parser.add_argument("path", nargs="?", help="a folder of images to open")
    parser.add_argument("--sample", action="store_true", help="open the bundled sample dataset")
    parser.add_argument("--theme", choices=THEMES, help="colour theme for this session "
                        "(default: the one chosen in View > Theme, else the system's)")
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    setup = parser.add_mutually_exclusive_group()
    setup.add_argument("--install-desktop-entry", action="store_true",
                       help="add Pretext Studio to the applications menu (~/.local/share) and exit")
    setup.add_argument("--uninstall-desktop-entry", action="store_true",
                       help="remove the applications-menu entry and icons and exit")
    setup.add_argument("--self-test", action="store_true",
                       help="check that Qt, torch, onnxruntime and the resources load, then exit (0 = all good)")
    setup.add_argument("--print-startup-time", action="store_true", help=argparse.SUPPRESS)
    args, _qt_args = parser.parse_known_args(argv)
    return args


def report_first_expose(window) -> None:
    """``--print-startup-time``: once the window is exposed and painted, print the time and close it."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    def report() -> None:
        print(f"first-window {time.time():.6f} torch-imported={'torch' in sys.modules}", flush=True)
        window.close()

    class FirstExpose(QObject):
        def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
            if event.type() == QEvent.Type.Expose and watched.isExposed():
                watched.removeEventFilter(self)
                QTimer.singleShot(0, report)     # after the expose handler has painted the window
            return False

    window.windowHandle().installEventFilter(FirstExpose(window))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    args = parse_args(argv[1:])
    if args.install_desktop_entry or args.uninstall_desktop_entry:
        from desktop.shell import desktop_entry

        return desktop_entry.install() if args.install_desktop_entry else desktop_entry.uninstall()
    from desktop.shell.app_logging import setup_logging

    log_file = setup_logging(verbose=args.verbose)
    if args.self_test:
        from desktop.shell.self_test import run_self_test

        return run_self_test(argv)
    logging.getLogger(__name__).info("Starting Pretext Studio; log file %s", log_file)
    from desktop.common.settings import app_settings
    from desktop.common.theme import apply_theme, saved_theme
    from desktop.shell.application import create_app
    from desktop.shell.main_window import MainWindow

    app = create_app(argv)
    apply_theme(app, args.theme or saved_theme(app_settings()))
    window = MainWindow()
    window.show()
    if args.print_startup_time:
        report_first_expose(window)
    if args.sample:
        window.open_sample()
    elif args.path:
        window.open_folder(args.path)
    return app.exec()


def __getattr__(name: str):
    """``desktop.app.MainWindow`` still works, without importing the window for the light commands."""
    if name == "MainWindow":
        from desktop.shell.main_window import MainWindow

        return MainWindow
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    sys.exit(main())
