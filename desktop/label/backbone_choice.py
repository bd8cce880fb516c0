"""Which backbone the Label step works with: the list of a folder's finished pretraining runs, and
the page's part that picks the backbone and the fine-tune to show when a folder opens."""
from __future__ import annotations

import os
from typing import Sequence

from PySide6.QtWidgets import QComboBox, QLabel

from engine.store.run_lookup import describe_pretrain_run, finished_pretrain_runs, latest_finetune_run


class BackboneChoice(QComboBox):
    """The finished pretraining runs of a folder, newest first; it and its ``label`` show only
    when there is a choice. Each item's data is the run folder."""

    def __init__(self) -> None:
        super().__init__()
        self.label = QLabel("Backbone:")
        self.setToolTip("The pretraining run whose backbone maps, suggests and fine-tunes here (newest first)")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._show_choice(False)

    def show_runs(self, root: str | None, runs_dirs: Sequence[str], known: Sequence[str]) -> list[str]:
        """List the finished runs on ``root`` (found in ``runs_dirs`` and among the ``known`` run
        folders); return them, newest first."""
        runs = finished_pretrain_runs(root, runs_dirs, known) if root else []
        self.clear()
        for run in runs:
            self.addItem(describe_pretrain_run(run), str(run.path))
        self._show_choice(len(runs) > 1)
        return [str(run.path) for run in runs]

    def select(self, run_dir: str) -> None:
        row = self.findData(run_dir)
        if row >= 0:
            self.setCurrentIndex(row)

    def _show_choice(self, visible: bool) -> None:
        self.label.setVisible(visible)
        self.setVisible(visible)


class BackboneRuns:
    """The :class:`~desktop.label.page.LabelPage`'s choice of backbone and of the fine-tune shown
    with it. Uses the page's ``backbone_choice``, ``project``, ``root``, ``banner`` and its
    results (``_forget_results``, ``_load_finetune``, ``refresh_suggestions``, ``start_map``)."""

    def _find_models(self) -> None:
        """The folder's finished pretraining runs, and the model to show: the chosen model (the
        last one trained) with the backbone it was trained on, else the newest backbone and
        the newest fine-tune on it."""
        runs = self._show_backbones()
        if runs:
            candidates = [run.path for run in self.project.runs("finetune")] if self.project else []
            chosen = self.project.chosen_model() if self.project else None
            finetune = latest_finetune_run(([chosen] if chosen else []) + candidates, runs)
            by_path = {os.path.realpath(run): run for run in runs}
            backbone = by_path.get(os.path.realpath(finetune.pretrain_run())) if finetune else None
            self._set_pretrain_run(backbone or runs[0])
            if finetune and str(finetune.path) != self.finetune_run:
                self._load_finetune(str(finetune.path))
        self.models_changed.emit(self.pretrain_run, self.finetune_run)

    def _show_backbones(self) -> list[str]:
        known = [run.path for run in self.project.runs("pretrain")] if self.project else []
        return self.backbone_choice.show_runs(self.root, self._runs_dirs, known)

    def choose_backbone(self, run_dir: str) -> bool:
        """Work with another finished pretraining run's backbone: its map, suggestions and newest
        fine-tune. Refused (with a message) while a fine-tune runs."""
        if run_dir == self.pretrain_run:
            return True
        if self.is_busy():
            self.banner.show_message("info", "A fine-tune is running. Choose another backbone when it has "
                                     "finished, or stop it.")
            self.backbone_choice.select(self.pretrain_run)
            return False
        self._forget_results()
        self._set_pretrain_run(run_dir)
        finetune = latest_finetune_run([], [run_dir])
        if finetune:
            self._load_finetune(str(finetune.path))
        if self.isVisible():
            self.refresh_suggestions()
        self.models_changed.emit(self.pretrain_run, self.finetune_run)
        return True

    def set_pretrain_run(self, run_dir: str) -> None:
        """A pretraining run on this folder has just finished."""
        self._show_backbones()
        self._set_pretrain_run(run_dir)
        self.models_changed.emit(self.pretrain_run, self.finetune_run)

    def _set_pretrain_run(self, run_dir: str) -> None:
        self.pretrain_run = run_dir
        if self.project is not None:
            self.project.add_run("pretrain", run_dir, {})
        self.subtitle.setText(f"{os.path.basename(self.root or '')}  ·  backbone from {os.path.basename(run_dir)}")
        self.backbone_choice.select(run_dir)
        self._set_enabled()
        if self.isVisible():
            self.start_map()
