"""Persistent settings (QSettings) and the list of recently opened folders."""
from __future__ import annotations

import os

from PySide6.QtCore import QObject, QSettings, Signal

ORGANISATION = "PretextStudio"
APPLICATION = "Pretext Studio"
MAX_RECENT = 8


def app_settings() -> QSettings:
    """The user's settings store (tests pass their own QSettings instead)."""
    return QSettings(ORGANISATION, APPLICATION)


class RecentFolders(QObject):
    """The most recently opened folders, newest first, stored under ``recent/folders``."""

    changed = Signal()

    def __init__(self, settings: QSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._settings = settings

    def folders(self) -> list[str]:
        value = self._settings.value("recent/folders", [])
        if isinstance(value, str):  # QSettings returns a bare string for a one-item list
            value = [value]
        return [str(path) for path in value or []]

    def existing(self) -> list[str]:
        """The folders that still exist."""
        return [path for path in self.folders() if os.path.isdir(path)]

    def add(self, path: str) -> None:
        path = os.path.abspath(path)
        folders = [path] + [p for p in self.folders() if p != path]
        self._settings.setValue("recent/folders", folders[:MAX_RECENT])
        self.changed.emit()

    def clear(self) -> None:
        self._settings.remove("recent/folders")
        self.changed.emit()
