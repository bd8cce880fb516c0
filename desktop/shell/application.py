"""The QApplication, set up once: names, icon, and garbage collection in the GUI thread only."""
from __future__ import annotations


def create_app(argv: list[str]):
    """The QApplication with its names, icon and GUI-thread garbage collector (made once)."""
    from PySide6.QtWidgets import QApplication

    from desktop.common.settings import APPLICATION, ORGANISATION
    from desktop.common.theme import app_icon
    from desktop.shell.gui_thread_gc import GuiThreadGarbageCollector

    app = QApplication.instance() or QApplication(argv)
    if app.findChild(GuiThreadGarbageCollector) is None:
        GuiThreadGarbageCollector(app)
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    app.setDesktopFileName("pretext-studio")
    app.setWindowIcon(app_icon())
    return app
