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
from pathlib import Path
from typing import Union

from engine.core.atomic import write_atomic, write_text
from engine.store.project import Project, ProjectError

HEADER = ("path", "label")


@dataclass
class ImportReport:
    imported: int = 0
    created_classes: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)        # paths with no file under the root
    bad_rows: list[int] = field(default_factory=list)         # 1-based line numbers that are not path,label


def read_labels_csv(path: Union[str, Path]) -> tuple[dict[str, str], list[int]]:
    """``{relative path: class name}`` in file order, and the line numbers of bad rows.

    A first row of ``path,label`` is a header; a path listed twice keeps its last label.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ProjectError(f"cannot read labels from {path}: {error}") from error
    labels: dict[str, str] = {}
    bad: list[int] = []
    for number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if number == 1 and tuple(c.lower() for c in cells) == HEADER:
            continue
        if not any(cells):
            continue
        if len(cells) != 2 or not cells[0] or not cells[1]:
            bad.append(number)
            continue
        labels[cells[0].replace("\\", "/")] = cells[1]
    return labels, bad


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


def import_csv(project: Project, path: Union[str, Path]) -> ImportReport:
    """Add the labels of a ``path,label`` CSV as one undoable batch, source "import".

    Unknown classes are created; rows whose file is not under the root are listed in
    ``not_found`` and not imported; malformed rows are listed in ``bad_rows``.
    """
    labels, bad = read_labels_csv(path)
    report = ImportReport(bad_rows=bad)
    found: dict[str, str] = {}
    for rel, name in labels.items():
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
