"""Look and feel: Fusion with a light or dark palette that follows the system, the style sheet, icons."""
from __future__ import annotations

import re
from functools import lru_cache

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle

from resources import RESOURCES_DIR

ICONS_DIR = RESOURCES_DIR / "icons"
ACCENT = QColor("#5b5bd6")
THEMES = ("system", "light", "dark")
THEME_KEY = "view/theme"              # the QSettings key of the chosen theme
_THEME_PROPERTY = "pretextTheme"      # the QApplication property holding the applied theme
WINDOW_ICONS = {   # the style's window-button icons -> resources/icons/<name>.svg
    QStyle.StandardPixmap.SP_TitleBarCloseButton: "close", QStyle.StandardPixmap.SP_DockWidgetCloseButton: "close",
    QStyle.StandardPixmap.SP_DialogCloseButton: "close", QStyle.StandardPixmap.SP_TitleBarNormalButton: "restore",
    QStyle.StandardPixmap.SP_TitleBarMaxButton: "maximize", QStyle.StandardPixmap.SP_TitleBarMinButton: "minimize",
}

_DARK = {
    QPalette.ColorRole.Window: "#202227", QPalette.ColorRole.WindowText: "#e8e8ea",
    QPalette.ColorRole.Base: "#17181c", QPalette.ColorRole.AlternateBase: "#25272d",
    QPalette.ColorRole.Text: "#e8e8ea", QPalette.ColorRole.Button: "#2b2e35",
    QPalette.ColorRole.ButtonText: "#e8e8ea", QPalette.ColorRole.ToolTipBase: "#2b2e35",
    QPalette.ColorRole.ToolTipText: "#e8e8ea", QPalette.ColorRole.PlaceholderText: "#8b8f98",
    QPalette.ColorRole.Light: "#3b3f47", QPalette.ColorRole.Midlight: "#33363d",
    QPalette.ColorRole.Mid: "#4a4e57", QPalette.ColorRole.Dark: "#111215",
    QPalette.ColorRole.Shadow: "#000000", QPalette.ColorRole.BrightText: "#ffffff",
    QPalette.ColorRole.Link: "#8e8ef0", QPalette.ColorRole.HighlightedText: "#ffffff",
}
_LIGHT = {
    QPalette.ColorRole.Window: "#f4f5f7", QPalette.ColorRole.AlternateBase: "#eceef2",
    QPalette.ColorRole.Base: "#ffffff", QPalette.ColorRole.PlaceholderText: "#6b7079",
    QPalette.ColorRole.Midlight: "#e1e3e8", QPalette.ColorRole.Link: "#4545c0",
    QPalette.ColorRole.HighlightedText: "#ffffff",
}


def app_icon() -> QIcon:
    """The application icon at every rendered size."""
    icon = QIcon()
    for png in sorted(ICONS_DIR.glob("app-*.png")):
        icon.addFile(str(png))
    return icon


@lru_cache(maxsize=64)
def _svg_pixmap(name: str, color: str, size: int) -> QPixmap:
    svg = (ICONS_DIR / f"{name}.svg").read_text(encoding="utf-8").replace("currentColor", color)
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    return QPixmap.fromImage(image)


def themed_icon(name: str, palette: QPalette | None = None) -> QIcon:
    """A line icon from resources/icons/<name>.svg drawn in the palette's text colour."""
    palette = palette or QGuiApplication.palette()
    normal = palette.color(QPalette.ColorRole.WindowText).name()
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText).name()
    selected = palette.color(QPalette.ColorRole.HighlightedText).name()
    icon = QIcon()
    for size in (16, 24, 32, 48):
        icon.addPixmap(_svg_pixmap(name, normal, size), QIcon.Mode.Normal)
        icon.addPixmap(_svg_pixmap(name, disabled, size), QIcon.Mode.Disabled)
        icon.addPixmap(_svg_pixmap(name, selected, size), QIcon.Mode.Selected)
    return icon


class ThemedStyle(QProxyStyle):
    """Fusion, with the close, restore, maximise and minimise icons of dialogs, title bars and tool
    windows drawn in the palette's text colour: Fusion's own are dark grey, hard to see on the dark theme."""

    def __init__(self) -> None:
        super().__init__("Fusion")

    def standardIcon(self, icon, option=None, widget=None) -> QIcon:  # noqa: N802 - Qt API
        if icon in WINDOW_ICONS:
            palette = option.palette if option is not None else widget.palette() if widget is not None else None
            return themed_icon(WINDOW_ICONS[icon], palette)
        return super().standardIcon(icon, option, widget)


def _palette(dark: bool) -> QPalette:
    palette = QApplication.style().standardPalette()
    for role, color in (_DARK if dark else _LIGHT).items():
        palette.setColor(role, QColor(color))
    palette.setColor(QPalette.ColorRole.Highlight, ACCENT)
    palette.setColor(QPalette.ColorRole.Accent, ACCENT)
    # a disabled text field fills with the window colour, as Fusion draws disabled spin boxes
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Base, palette.color(QPalette.ColorRole.Window))
    if dark:
        muted = QColor("#6d717a")
        for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
            palette.setColor(QPalette.ColorGroup.Disabled, role, muted)
    return palette


def system_prefers_dark(app: QGuiApplication) -> bool:
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def apply_theme(app: QApplication, theme: str = "system") -> None:
    """Fusion (as :class:`ThemedStyle`), a palette for ``theme`` ("system" follows the desktop, live),
    and the style sheet. Called again, it switches the running app to another theme."""
    first = app.property(_THEME_PROPERTY) is None
    app.setProperty(_THEME_PROPERTY, theme)
    if first:
        app.setStyle(ThemedStyle())
        app.styleHints().colorSchemeChanged.connect(lambda _scheme: _refresh(app))
    _refresh(app)


def current_theme(app: QApplication) -> str:
    """The theme :func:`apply_theme` last applied ("system" before any)."""
    return app.property(_THEME_PROPERTY) or "system"


def saved_theme(settings: QSettings) -> str:
    """The theme chosen in View > Theme, "system" when none (or an unknown one) is saved."""
    value = settings.value(THEME_KEY, "system")
    return value if value in THEMES else "system"


def _refresh(app: QApplication) -> None:
    theme = current_theme(app)
    dark = theme == "dark" or (theme == "system" and system_prefers_dark(app))
    app.setPalette(_palette(dark))
    app.setStyleSheet(style_sheet())


def style_sheet() -> str:
    """resources/style.qss with its ``url(icons/…)`` pointing at the installed icons folder."""
    text = (RESOURCES_DIR / "style.qss").read_text(encoding="utf-8")
    return re.sub(r"url\(icons/([^)]+)\)", lambda match: f'url("{(ICONS_DIR / match[1]).as_posix()}")', text)
