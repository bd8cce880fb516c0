"""Labels in and out of the app: import and export a ``path,label`` CSV, and copy the labeled
images into one folder per class (the ImageFolder layout other tools read).

Every import is one undoable batch in the project store; the folder copy runs in an
:class:`EngineJob`, so a large copy never freezes the window.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from desktop.jobs import LatestJob
from engine.core.atomic import refusal_reason
from engine.store.project import Project, ProjectError
from engine.store.project_io import export_csv, export_imagefolder, import_csv

CSV_FILTER = "CSV files (*.csv);;All files (*)"


def copy_labeled_images(root: str, dest: str, on_event=None, cancel=None) -> tuple[str, int, list[str]]:
    """:func:`engine.store.project_io.export_imagefolder` with the folder's own project connection:
    (``dest``, files written, labeled paths whose file is missing)."""
    with Project.open(root) as project:
        return (dest, *export_imagefolder(project, dest))


class LabelTransfer(QObject):
    """The File menu's label commands for ``page`` (a :class:`desktop.label.page.LabelPage`);
    each takes a path, or asks for one when given none, and reports on the page's banner."""

    def __init__(self, page) -> None:
        super().__init__(page)
        self.page = page
        self.jobs = LatestJob(self)
        self.jobs.succeeded.connect(lambda result: self._on_copied(*result))
        self.jobs.failed.connect(lambda message, details: self.page.banner.show_message(
            "error", f"The labeled images cannot be copied: {message}", details))

    def available(self) -> bool:
        return self.page.project is not None

    def import_csv(self, path: str = "") -> bool:
        path = path or QFileDialog.getOpenFileName(self.page, "Import Labels", "", CSV_FILTER)[0]
        if not path or not self.available():
            return False
        reports = []
        if not self.page.apply_change(lambda project: reports.append(import_csv(project, path))):
            return False
        report = reports[0]
        parts = [f"Imported {report.imported:,} label{'s' if report.imported != 1 else ''} from {Path(path).name}."]
        if report.created_classes:
            parts.append(f"New classes: {', '.join(report.created_classes)}.")
        if report.not_found:
            parts.append(f"{len(report.not_found):,} row(s) name images that are not in this folder and were "
                         "left out.")
        if report.bad_rows:
            parts.append(f"Line(s) {', '.join(map(str, report.bad_rows[:10]))} are not 'path,label' and were skipped.")
        if report.conflicts:
            parts.append(f"{len(report.conflicts):,} image(s) had different labels on several lines; the last "
                         "one was kept (see Details).")
        parts.append("Ctrl+Z undoes the import.")
        kind = "warning" if report.not_found or report.bad_rows or report.conflicts else "success"
        details = [conflict.describe() for conflict in report.conflicts] + report.not_found
        self.page.banner.show_message(kind, " ".join(parts), details="\n".join(details))
        return True

    def export_csv(self, path: str = "") -> bool:
        if not self.available():
            return False
        path = path or QFileDialog.getSaveFileName(self.page, "Export Labels", "labels.csv", CSV_FILTER)[0]
        if not path:
            return False
        try:
            count = export_csv(self.page.project, path)
        except (OSError, ProjectError) as error:
            reason = refusal_reason(error) if isinstance(error, OSError) else error
            self.page.banner.show_message("error", f"The labels cannot be written to {path}: {reason}")
            return False
        self.page.banner.show_message("success", f"Wrote {count:,} label{'s' if count != 1 else ''} to {path}.")
        return True

    def export_folders(self, dest: str = "") -> bool:
        """Copy the labeled images to ``dest/<class>/<path>``; ``dest`` must be new or empty."""
        if not self.available() or self.jobs.busy():
            return False
        dest = dest or QFileDialog.getExistingDirectory(self.page, "Copy the Labeled Images Into (an empty folder)")
        if not dest:
            return False
        self.jobs.start(copy_labeled_images, self.page.root, dest)
        return True


    def _on_copied(self, dest: str, written: int, missing: list[str]) -> None:
        note = (f" {len(missing):,} labeled image(s) are missing from the folder and were left out."
                if missing else "")
        self.page.banner.show_message("warning" if missing else "success",
                                      f"Copied {written:,} labeled images into {dest}, one folder per class.{note}",
                                      details="\n".join(missing))
