"""``pretext-studio [PATH] [--sample]``: start the desktop app."""
from __future__ import annotations

import argparse
import logging
import sys

from PySide6.QtWidgets import QApplication

from desktop.main_window import MainWindow
from desktop.settings import APPLICATION, ORGANISATION
from desktop.theme import THEMES, app_icon, apply_theme


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pretext-studio", description="Pretrain image models on your own images.")
    parser.add_argument("path", nargs="?", help="a folder of images to open")
    parser.add_argument("--sample", action="store_true", help="open the bundled sample dataset")
    parser.add_argument("--theme", choices=THEMES, default="system", help="colour theme (default: follow the system)")
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    args, _qt_args = parser.parse_known_args(argv)
    return args


def create_app(argv: list[str]) -> QApplication:
    app = QApplication.instance() or QApplication(argv)
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    app.setDesktopFileName("pretext-studio")
    app.setWindowIcon(app_icon())
    return app


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    args = parse_args(argv[1:])
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(argv)
    apply_theme(app, args.theme)
    window = MainWindow()
    window.show()
    if args.sample:
        window.open_sample()
    elif args.path:
        window.open_folder(args.path)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
