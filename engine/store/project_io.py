"""Labels in and out of a project: CSV (``path,label``) and ImageFolder trees.

The CSV's paths are relative to the image root, POSIX style, one row per labeled image,
with a ``path,label`` header. An ImageFolder tree is ``<dest>/<class>/<relative path>``
(copies or symbolic links), which ``torchvision.datasets.ImageFolder`` reads as is.
"""
from __future__ import annotations

import csv
import io
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Optional, Union

from engine.core.atomic import write_atomic, write_text
from engine.store.project import Project, ProjectError, project_db_path

HEADER = ("path", "label")
PROBE_LABELS_FILE = "probe-labels.csv"     # beside the project database


@dataclass(frozen=True)
class Conflict:
    """A path listed on several lines with different labels; the last line's label is kept."""

    path: str
    lines: tuple[int, ...]
    labels: tuple[str, ...]

    @property
    def kept(self) -> str:
        return self.labels[-1]

    def describe(self) -> str:
        return (f"'{self.path}' has different labels on lines {', '.join(map(str, self.lines))} "
                f"({', '.join(self.labels)}): kept '{self.kept}', the last")


@dataclass
class LabelsFile:
    """What a ``path,label`` CSV holds: ``labels`` maps a path (as written, tidied) to its class."""

    labels: dict[str, str]
    bad_rows: list[int] = field(default_factory=list)       # 1-based line numbers that are not path,label
    conflicts: list[Conflict] = field(default_factory=list)


@dataclass
class ImportReport:
    imported: int = 0
    created_classes: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)        # paths with no file under the root
    bad_rows: list[int] = field(default_factory=list)         # 1-based line numbers that are not path,label
    conflicts: list[Conflict] = field(default_factory=list)   # paths given different labels


def tidy_path(cell: str) -> str:
    """A CSV path cell in POSIX form: backslashes as slashes, no ``./`` segments."""
    posix = cell.replace("\\", "/")
    if posix.startswith("/") or PureWindowsPath(cell).is_absolute():
        return posix
    return str(PurePosixPath(posix))


def path_in_root(path: str, root: Union[str, Path]) -> Optional[str]:
    """``path`` relative to ``root`` (POSIX), or None when an absolute ``path`` lies outside it."""
    if not Path(path).is_absolute():
        return path
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return None


def read_labels_csv(path: Union[str, Path], root: Union[str, Path, None] = None) -> LabelsFile:
    """The labels of a ``path,label`` CSV in file order (see :class:`LabelsFile`).

    A first row of ``path,label`` is a header. ``./a.png`` and ``a.png`` are one path; given
    the image ``root``, so is an absolute path to the same file. A path listed twice with
    different labels keeps its last label and is reported in ``conflicts``.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ProjectError(f"cannot read labels from {path}: {error}") from error
    result = LabelsFile(labels={})
    seen: dict[str, list[tuple[int, str]]] = {}
    for number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if number == 1 and tuple(c.lower() for c in cells) == HEADER:
            continue
        if not any(cells):
            continue
        if len(cells) != 2 or not cells[0] or not cells[1]:
            result.bad_rows.append(number)
            continue
        image = tidy_path(cells[0])
        if root is not None:
            image = path_in_root(image, root) or image
        result.labels[image] = cells[1]
        seen.setdefault(image, []).append((number, cells[1]))
    for image, entries in seen.items():
        if len({label for _, label in entries}) > 1:
            result.conflicts.append(Conflict(image, tuple(n for n, _ in entries), tuple(label for _, label in entries)))
    return result


def write_labels_csv(labels: dict[str, str], path: Union[str, Path]) -> None:
    """Write ``{relative path: class}`` as a ``path,label`` CSV, sorted by path (atomically;
    :class:`~engine.core.atomic.DiskWriteError` when the OS refuses)."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(HEADER)
    writer.writerows(sorted(labels.items()))
    write_text(path, text.getvalue())


def export_csv(project: Project, path: Union[str, Path]) -> int:
    """Write every label of ``project`` (missing files included); return the row count."""
    labels = {p: label.label for p, label in project.labels().items()}
    write_labels_csv(labels, path)
    return len(labels)


def write_probe_labels(data_dir: Union[str, Path]) -> tuple[str, int]:
    """The labels of ``data_dir``'s project as a CSV beside its database, for the pretraining
    gain probe (``PretrainConfig.probe_labels``): ``(csv path, labels)``, or ``("", 0)`` when
    the folder has no labels. Raises ProjectError (an unreadable project) or
    :class:`~engine.core.atomic.DiskWriteError` (a full disk, a read-only folder)."""
    if not project_db_path(data_dir).is_file():
        return "", 0
    with Project.open(data_dir) as project:
        if not project.labels():
            return "", 0
        path = Path(project.db_path).parent / PROBE_LABELS_FILE
        return str(path), export_csv(project, path)


def import_csv(project: Project, path: Union[str, Path]) -> ImportReport:
    """Add the labels of a ``path,label`` CSV as one undoable batch, source "import".

    Unknown classes are created; rows whose file is not under the root are listed in
    ``not_found`` and not imported; malformed rows are listed in ``bad_rows``, and paths
    given different labels in ``conflicts``.
    """
    read = read_labels_csv(path, project.root)
    report = ImportReport(bad_rows=read.bad_rows, conflicts=read.conflicts)
    found: dict[str, str] = {}
    for rel, name in read.labels.items():
        rel = project.relative(rel)
        if (project.root / rel).is_file():
            found[rel] = name
        else:
            report.not_found.append(rel)
    existing = set(project.class_names())
    for name in dict.fromkeys(found.values()):
        if name not in existing:
            project.add_class(name)
            report.created_classes.append(name)
    report.imported = project.assign(found, source="import")
    return report


def export_imagefolder(project: Project, dest: Union[str, Path], symlink: bool = False) -> tuple[int, list[str]]:
    """Copy (or symlink) each labeled image to ``dest/<class>/<relative path>``.

    ``dest`` must not exist yet or be empty. Return (files written, paths skipped because
    their file is missing). Each copy is atomic: a full disk stops the export with a
    :class:`~engine.core.atomic.DiskWriteError` and never leaves half an image.
    """
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ProjectError(f"{dest} is not empty; choose a new folder for the ImageFolder export")
    written, missing = 0, []
    for rel, label in project.labels().items():
        source = project.root / rel
        if not source.is_file():
            missing.append(rel)
            continue
        target = dest / label.label / rel
        if symlink:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(source, target)
        else:
            _copy(source, target)
        written += 1
    return written, missing


def _copy(source: Path, target: Path) -> None:
    """Copy ``source`` with its times and mode to ``target`` atomically (never half an image)."""
    with open(source, "rb") as data:
        write_atomic(target, lambda handle: shutil.copyfileobj(data, handle))
    shutil.copystat(source, target)
