"""The project store: classes, labels, runs and the chosen model of one image folder, in SQLite.

Labels are keyed by the POSIX path relative to the image root and keep the file's size
and mtime, so moving the whole folder keeps every label, and a file removed since is
reported by :meth:`Project.missing_labels` (never dropped silently).

Where it lives: ``<root>/.pretext/project.db`` (a hidden folder, so the scan skips it and
the labels travel with the images); when the root is read-only, under the user data dir
keyed by a hash of the root's path. Every write is one ``BEGIN IMMEDIATE`` transaction in
WAL mode, so a crash mid-write loses nothing already committed, and two connections (or
threads) can write at once. Each open first checks the file and then copies it to
``project.db.bak`` with SQLite's backup API. A damaged file raises :class:`ProjectError`
and is renamed ``project.db.corrupt-<stamp>``; it is never reset silently.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator, Mapping, Optional, Union

from engine.core.atomic import remove_stale_temps
from engine.core.places import PROJECT_DIR, data_root
from engine.store import project_db
from engine.store.project_db import (
    ProjectError, backup, backup_path, connect, connect_read_only, set_aside, writable,
)
from resources import RESOURCES_DIR

DB_NAME = "project.db"
UNDO_DEPTH = 100                  # label batches that can be undone
SOURCES = ("click", "accepted prediction", "import")
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
           "#42d4f4", "#f032e6", "#bfef45", "#9a6324", "#808000")



@dataclass(frozen=True)
class ClassInfo:
    name: str
    colour: str
    position: int


@dataclass(frozen=True)
class Label:
    """``path`` is relative to the image root (POSIX); size/mtime are the file's when labeled."""

    path: str
    label: str
    source: str
    size: Optional[int]
    mtime: Optional[float]


@dataclass(frozen=True)
class RunRecord:
    kind: str          # "pretrain", "finetune", "export"
    path: str
    created: float
    info: dict


def default_projects_dir() -> Path:
    return data_root() / "projects"


def project_db_path(root: Union[str, Path]) -> Path:
    """Where the project of ``root`` lives: an existing DB first, else ``<root>/.pretext``
    when writable, else the user data dir under a hash of the root's absolute path.
    Folders shipped with the app (the bundled sample) always use the user data dir."""
    root = Path(root).resolve()
    inside = root / PROJECT_DIR / DB_NAME
    outside = user_copy_path(root)
    if root.is_relative_to(RESOURCES_DIR):
        return outside
    if inside.is_file() and (writable(inside) or not outside.is_file()):
        return inside      # a read-only one only while no writable copy was made (see writable_copy)
    if outside.is_file():
        return outside
    return inside if _writable(root) else outside


def user_copy_path(root: Union[str, Path]) -> Path:
    """Where the labels of an image folder that cannot be written are kept: the user data dir."""
    return default_projects_dir() / hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16] / DB_NAME


def _writable(folder: Path) -> bool:
    target = folder / PROJECT_DIR
    try:
        target.mkdir(exist_ok=True)
    except OSError:
        return False
    return os.access(target, os.W_OK)


class Project:
    """One image folder's labels; safe to share between threads, one connection each object.

    Open with :meth:`open`; use as a context manager or call :meth:`close`.
    """

    def __init__(self, root: Path, db_path: Path, conn: sqlite3.Connection, read_only: bool = False) -> None:
        self.root, self.db_path, self._conn, self.read_only = root, db_path, conn, read_only
        self._lock = threading.RLock()

    @classmethod
    def open(cls, root: Union[str, Path], db_path: Union[str, Path, None] = None,
             start_empty: bool = False) -> "Project":
        """Open (or create) the project of the image folder ``root``.

        A missing database beside a backup is an error (the labels may be in the backup)
        unless ``start_empty``: then the backup is renamed aside, never overwritten. A database
        that cannot be written (a read-only disk or share, another user's folder) opens
        read-only: its labels show, and :meth:`writable_copy` keeps changes elsewhere.
        Every failure is a ProjectError."""
        root = Path(root).resolve()
        if not root.is_dir():
            raise ProjectError(f"image folder not found: {root}")
        db_path = Path(db_path) if db_path else project_db_path(root)
        if db_path.is_file() and not writable(db_path):
            return cls(root, db_path, connect_read_only(db_path), read_only=True)
        try:
            return cls._open_writable(root, db_path, start_empty)
        except (OSError, sqlite3.Error) as error:
            raise ProjectError(f"cannot open the project database {db_path}: "
                               f"{getattr(error, 'strerror', None) or error}") from error

    @classmethod
    def _open_writable(cls, root: Path, db_path: Path, start_empty: bool) -> "Project":
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ProjectError(f"cannot create the project in {db_path.parent}: {error.strerror or error}") from error
        remove_stale_temps(db_path.parent)
        bak = backup_path(db_path)
        if not db_path.is_file() and bak.is_file():
            if not start_empty:
                raise ProjectError(f"the project database {db_path} is missing, but its last good copy {bak} "
                                   "is there (see restore_backup)")
            set_aside(bak, "replaced")
        existed = db_path.is_file() and (db_path.stat().st_size > 0 or bak.is_file())
        conn = connect(db_path, existed)
        project = cls(root, db_path, conn)
        with project._write() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES ('root', ?)", (str(root),))
        if existed:
            backup(conn, backup_path(db_path))
        return project

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def writable_copy(self) -> "Project":
        """Copy a read-only project into the user data dir and open the copy for writing (this
        object is closed). Later opens of the folder find the copy (see project_db_path)."""
        target = user_copy_path(self.root)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                backup(self._conn, target)
        except (OSError, sqlite3.Error) as error:
            raise ProjectError(f"cannot copy the labels to {target}: {getattr(error, 'strerror', None) or error}") \
                from error
        self.close()
        return Project.open(self.root, target)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is committed, or none of it."""
        if self.read_only:
            raise ProjectError(f"the labels in {self.db_path} are read-only here: changes cannot be saved")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # classes ------------------------------------------------------------------------------
    def classes(self) -> list[ClassInfo]:
        """The classes in their display (and logit) order."""
        return [ClassInfo(*row) for row in self._read("SELECT name, colour, position FROM classes ORDER BY position")]

    def class_names(self) -> list[str]:
        return [c.name for c in self.classes()]

    def add_class(self, name: str, colour: Optional[str] = None) -> ClassInfo:
        name = _class_name(name)
        with self._write() as c:
            if c.execute("SELECT 1 FROM classes WHERE name = ?", (name,)).fetchone():
                raise ProjectError(f"a class named '{name}' exists already")
            count = c.execute("SELECT COUNT(*), COALESCE(MAX(position) + 1, 0) FROM classes").fetchone()
            colour = colour or PALETTE[count[0] % len(PALETTE)]
            c.execute("INSERT INTO classes (name, colour, position) VALUES (?, ?, ?)", (name, colour, count[1]))
        return ClassInfo(name, colour, count[1])

    def rename_class(self, old: str, new: str) -> None:
        new = _class_name(new)
        with self._write() as c:
            self._class_id(c, old)
            if new != old and c.execute("SELECT 1 FROM classes WHERE name = ?", (new,)).fetchone():
                raise ProjectError(f"a class named '{new}' exists already")
            c.execute("UPDATE classes SET name = ? WHERE name = ?", (new, old))

    def recolour_class(self, name: str, colour: str) -> None:
        with self._write() as c:
            self._class_id(c, name)
            c.execute("UPDATE classes SET colour = ? WHERE name = ?", (colour, name))

    def reorder_classes(self, names: list[str]) -> None:
        """Give the classes the order of ``names`` (which must name each class once)."""
        with self._write() as c:
            existing = {row[0] for row in c.execute("SELECT name FROM classes")}
            if sorted(names) != sorted(existing):
                raise ProjectError("the new order must name every class exactly once")
            c.executemany("UPDATE classes SET position = ? WHERE name = ?", list(enumerate(names)))

    def delete_class(self, name: str) -> int:
        """Delete a class and its labels; return how many labels went. The GUI asks first
        (see :meth:`label_counts`); this cannot be undone and clears the undo history."""
        with self._write() as c:
            class_id = self._class_id(c, name)
            removed = c.execute("DELETE FROM labels WHERE class_id = ?", (class_id,)).rowcount
            c.execute("DELETE FROM classes WHERE id = ?", (class_id,))
            c.execute("DELETE FROM history")
        return removed

    @staticmethod
    def _class_id(c: sqlite3.Connection, name: str) -> int:
        row = c.execute("SELECT id FROM classes WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ProjectError(f"there is no class named '{name}'")
        return row[0]

    # labels -------------------------------------------------------------------------------
    def labels(self) -> dict[str, Label]:
        """Every label by relative path, missing files included."""
        rows = self._read("SELECT l.path, c.name, l.source, l.size, l.mtime FROM labels l "
                          "JOIN classes c ON c.id = l.class_id ORDER BY l.path")
        return {row[0]: Label(*row) for row in rows}

    def label_counts(self) -> dict[str, int]:
        """Labels per class, every class listed (0 when it has none), in class order."""
        rows = self._read("SELECT c.name, COUNT(l.path) FROM classes c LEFT JOIN labels l ON l.class_id = c.id "
                          "GROUP BY c.id ORDER BY c.position")
        return dict(rows)

    def assign(self, assignments: Mapping[str, Optional[str]], source: str = "click") -> int:
        """Set (class name) or clear (None) the label of each path, as one undoable batch.

        Paths are relative to the root (absolute paths inside the root are accepted).
        Return the number of labels that changed.
        """
        if source not in SOURCES:
            raise ProjectError(f"unknown label source '{source}'; choose one of {', '.join(SOURCES)}")
        items = [(self.relative(path), label) for path, label in assignments.items()]
        now = time.time()
        with self._write() as c:
            class_ids = {name: self._class_id(c, name) for name in {label for _, label in items if label is not None}}
            batch = c.execute("SELECT COALESCE(MAX(batch), 0) + 1 FROM history").fetchone()[0]
            changed = 0
            for path, label in items:
                old = c.execute("SELECT class_id, source, size, mtime FROM labels WHERE path = ?", (path,)).fetchone()
                new_id = class_ids.get(label)
                if (old[0] if old else None) == new_id and (old is None or old[1] == source):
                    continue
                c.execute("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?)", (batch, path, *(old or (None,) * 4)))
                if new_id is None:
                    c.execute("DELETE FROM labels WHERE path = ?", (path,))
                else:
                    size, mtime = self._stat(path)
                    c.execute("INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?, ?)",
                              (path, new_id, source, size, mtime, now))
                changed += 1
            c.execute("DELETE FROM history WHERE batch <= ?", (batch - UNDO_DEPTH,))
        return changed

    def label(self, paths: Iterable[str], name: str, source: str = "click") -> int:
        """Give every path in ``paths`` the class ``name`` (one undoable batch)."""
        return self.assign({path: name for path in paths}, source)

    def unlabel(self, paths: Iterable[str]) -> int:
        return self.assign({path: None for path in paths})

    @property
    def can_undo(self) -> bool:
        return not self.read_only and bool(self._read("SELECT 1 FROM history LIMIT 1"))

    def undo(self) -> list[str]:
        """Revert the last batch of label changes; return the paths it touched ([] if none)."""
        with self._write() as c:
            row = c.execute("SELECT MAX(batch) FROM history").fetchone()
            if row[0] is None:
                return []
            rows = c.execute("SELECT path, class_id, source, size, mtime FROM history WHERE batch = ? "
                             "ORDER BY rowid DESC", (row[0],)).fetchall()
            now = time.time()
            for path, class_id, source, size, mtime in rows:
                if class_id is None:
                    c.execute("DELETE FROM labels WHERE path = ?", (path,))
                else:
                    c.execute("INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?, ?)",
                              (path, class_id, source, size, mtime, now))
            c.execute("DELETE FROM history WHERE batch = ?", (row[0],))
        return sorted({r[0] for r in rows})

    def missing_labels(self) -> list[Label]:
        """Labels whose file is no longer under the root (moved away or deleted)."""
        return [label for path, label in self.labels().items() if not (self.root / path).is_file()]

    def drop_labels(self, paths: Iterable[str]) -> int:
        """Remove the labels of ``paths`` (e.g. the missing ones), as one undoable batch."""
        return self.unlabel(paths)

    def accept_predictions(self, predictions: Iterable[tuple[str, str, float]], threshold: float) -> int:
        """Label each unlabeled ``(path, class, confidence)`` with confidence ≥ ``threshold``,
        marked "accepted prediction"; clicked labels are never overwritten. One undoable batch."""
        labeled = set(self.labels())
        known = set(self.class_names())
        chosen = {path: name for path, name, confidence in predictions
                  if confidence >= threshold and name in known and self.relative(path) not in labeled}
        return self.assign(chosen, source="accepted prediction")

    def relative(self, path: Union[str, Path]) -> str:
        """The POSIX path of ``path`` relative to the root; ProjectError if it points outside."""
        path = Path(path)
        if path.is_absolute():
            try:
                path = path.resolve().relative_to(self.root)
            except ValueError:
                raise ProjectError(f"{path} is not inside the image folder {self.root}") from None
        posix = PurePosixPath(path.as_posix())
        if not posix.parts or ".." in posix.parts:
            raise ProjectError(f"'{path}' is not a path inside the image folder")
        return str(posix)

    def _stat(self, path: str) -> tuple[Optional[int], Optional[float]]:
        try:
            stat = (self.root / path).stat()
        except OSError:
            return None, None
        return stat.st_size, stat.st_mtime

    # runs and the chosen model: bookkeeping, left out on a read-only project ---------------
    def add_run(self, kind: str, path: Union[str, Path], info: Optional[dict] = None) -> None:
        if self.read_only:
            return
        with self._write() as c:
            c.execute("INSERT OR REPLACE INTO runs (kind, path, created, info) VALUES (?, ?, ?, ?)",
                      (kind, str(path), time.time(), json.dumps(info or {})))

    def runs(self, kind: Optional[str] = None) -> list[RunRecord]:
        """The recorded runs, the newest first, optionally of one ``kind`` only."""
        rows = self._read("SELECT kind, path, created, info FROM runs ORDER BY created DESC, id DESC")
        return [RunRecord(k, p, c, json.loads(i)) for k, p, c, i in rows if kind is None or k == kind]

    def set_chosen_model(self, path: Union[str, Path, None]) -> None:
        if self.read_only:
            return
        with self._write() as c:
            if path is None:
                c.execute("DELETE FROM meta WHERE key = 'chosen_model'")
            else:
                c.execute("INSERT OR REPLACE INTO meta VALUES ('chosen_model', ?)", (str(path),))

    def chosen_model(self) -> Optional[str]:
        rows = self._read("SELECT value FROM meta WHERE key = 'chosen_model'")
        return rows[0][0] if rows else None


def _class_name(name: str) -> str:
    name = name.strip()
    if not name or name in (".", "..") or "/" in name or "\\" in name or len(name) > 100:
        raise ProjectError(f"'{name}' cannot be a class name: use 1-100 characters, no slashes")
    return name


def restore_backup(root: Union[str, Path], db_path: Union[str, Path, None] = None) -> Path:
    """Put the last good copy (``project.db.bak``) of ``root``'s project back in place; return the DB path."""
    return project_db.restore_backup(Path(db_path) if db_path else project_db_path(root))
