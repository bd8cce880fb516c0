"""Render resources/icons/app.svg to the PNG sizes desktops and installers ask for.

Run after editing the SVG:  QT_QPA_PLATFORM=offscreen python packaging/render_icons.py
"""
from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(svg: Path, size: int, target: Path) -> None:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {svg}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(target)):
        raise SystemExit(f"cannot write {target}")


def main() -> None:
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv)  # QPainter needs an application
    for size in SIZES:
        target = ICONS / f"app-{size}.png"
        render(ICONS / "app.svg", size, target)
        print(target.relative_to(ICONS.parent.parent))


if __name__ == "__main__":
    main()
