"""Opening a project's SQLite file safely: schema, integrity check, backup, setting a damaged file aside.

Every open runs ``PRAGMA quick_check`` on an existing file and checks that it holds the
labels (a file emptied beside its backup is damaged, not new); a damaged one is renamed
``<name>.corrupt-<stamp>`` (with its -wal/-shm files) and :class:`ProjectError` says so,
so nothing is ever reset silently. A good file is copied to ``<name>.bak`` with SQLite's
online backup API, and :func:`restore_backup` puts that copy back.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from engine.core.atomic import write_bytes

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS classes (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, colour TEXT NOT NULL, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS labels (
    path TEXT PRIMARY KEY, class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    source TEXT NOT NULL, size INTEGER, mtime REAL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS history (
    batch INTEGER NOT NULL, path TEXT NOT NULL, class_id INTEGER, source TEXT, size INTEGER, mtime REAL);
CREATE INDEX IF NOT EXISTS history_batch ON history(batch);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, path TEXT NOT NULL UNIQUE, created REAL NOT NULL,
    info TEXT NOT NULL);
"""


class ProjectError(ValueError):
    """The project cannot be opened or the change is not allowed; the message says why."""


def backup_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".bak")


def connect(db_path: Path, existed: bool) -> sqlite3.Connection:
    """Open, check and migrate the DB; a damaged file is renamed aside and ProjectError raised."""
    conn = None
    try:
        conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        if existed:   # before any write, so a damaged file is kept aside as it was found
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise sqlite3.DatabaseError(result)
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'labels'").fetchone():
                raise sqlite3.DatabaseError("the file holds no labels table")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(_SCHEMA)
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version is None:
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(version[0]) > SCHEMA_VERSION:
            conn.close()
            raise ProjectError(f"{db_path} was written by a newer Pretext Studio (schema {version[0]})")
        return conn
    except sqlite3.DatabaseError as error:
        if conn is not None:
            conn.close()
        aside = set_aside(db_path)
        bak = backup_path(db_path)
        hint = f"; the last good copy is {bak} (see restore_backup)" if bak.is_file() else ""
        raise ProjectError(f"the project database {db_path} is damaged ({error}); it was kept as {aside}{hint}") from error


def set_aside(db_path: Path, reason: str = "corrupt") -> Path:
    """Rename the DB (and its -wal/-shm files) to a new ``.<reason>-<stamp>`` name; return it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = db_path.with_name(f"{db_path.name}.{reason}-{stamp}")
    count = 1
    while aside.exists():   # never over an earlier copy
        count += 1
        aside = db_path.with_name(f"{db_path.name}.{reason}-{stamp}-{count}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(db_path) + suffix)
        if source.exists():
            os.replace(source, Path(str(aside) + suffix))
    return aside


def backup(conn: sqlite3.Connection, target: Path) -> None:
    """Copy the open database to ``target`` with SQLite's online backup API (atomically)."""
    with contextlib.closing(sqlite3.connect(":memory:")) as copy:
        conn.backup(copy)
        data = copy.serialize()
    write_bytes(target, data)


def restore_backup(db_path: Path) -> Path:
    """Put the ``.bak`` copy back in place of the DB (a damaged DB is set aside first); return the DB path."""
    db_path = Path(db_path)
    bak = backup_path(db_path)
    if not bak.is_file():
        raise ProjectError(f"there is no backup of the project at {bak}")
    if db_path.exists():
        set_aside(db_path)
    write_bytes(db_path, bak.read_bytes())
    return db_path
