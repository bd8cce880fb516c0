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


class Damaged(sqlite3.DatabaseError):
    """The file failed the integrity check: the only finding that calls a database damaged."""


def writable(db_path: Path) -> bool:
    """Whether the existing DB and its folder can be written (not a read-only disk, share or
    another user's folder)."""
    folder = db_path.parent
    return os.access(db_path, os.W_OK) and os.access(folder, os.W_OK | os.X_OK) and not _read_only_mount(folder)


def _read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):   # no statvfs (Windows)
        return False


def check(conn: sqlite3.Connection) -> None:
    """Raise :class:`Damaged` unless the open file passes ``quick_check`` and holds the labels."""
    try:
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
        has_labels = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'labels'").fetchone()
    except sqlite3.DatabaseError as error:
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            raise
        raise Damaged(str(error)) from error
    if result != "ok":
        raise Damaged(result)
    if not has_labels:
        raise Damaged("the file holds no labels table")


def connect_read_only(db_path: Path) -> sqlite3.Connection:
    """Open an existing DB that cannot be written, without creating -wal/-shm files beside it.

    A file that fails the integrity check raises ProjectError (and is left where it is)."""
    uri = f"{db_path.resolve().as_uri()}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as error:
        raise ProjectError(f"cannot open the project database {db_path}: {error}") from error
    try:
        check(conn)
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.Error as error:
        conn.close()
        raise ProjectError(f"the project database {db_path} is damaged ({error}) and cannot be changed here") from error
    if version is not None and int(version[0]) > SCHEMA_VERSION:
        conn.close()
        raise ProjectError(f"{db_path} was written by a newer Pretext Studio (schema {version[0]})")
    return conn


def connect(db_path: Path, existed: bool) -> sqlite3.Connection:
    """Open, check and migrate the DB. A file that fails the integrity check is renamed aside
    and ProjectError raised; any other failure (a locked or unwritable file) leaves it alone."""
    conn = None
    try:
        conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        if existed:   # before any write, so a damaged file is kept aside as it was found
            check(conn)
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
    except Damaged as error:
        conn.close()
        try:
            aside = set_aside(db_path)
        except OSError as move_error:
            raise ProjectError(f"the project database {db_path} is damaged ({error}) and cannot be moved aside "
                               f"({move_error.strerror or move_error})") from error
        bak = backup_path(db_path)
        hint = f"; the last good copy is {bak} (see restore_backup)" if bak.is_file() else ""
        raise ProjectError(f"the project database {db_path} is damaged ({error}); it was kept as {aside}{hint}") from error
    except sqlite3.Error as error:
        if conn is not None:
            conn.close()
        raise ProjectError(f"cannot open the project database {db_path}: {error}") from error


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
