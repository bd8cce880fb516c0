"""The Label step's results: the fine-tune shown (trained now or in an earlier session), its
predictions, and the map and suggestions that use the current backbone."""
from __future__ import annotations

from pathlib import Path

from desktop.jobs import EngineJob
from desktop.label import jobs as label_jobs
from engine.store.runs import PretrainRun


class ModelResults:
    """The :class:`~desktop.label.page.LabelPage`'s models and what they give: training, the
    last model's predictions and validation, the map and the suggestions. Uses the page's
    ``project``, ``root``, ``scan``, ``pretrain_run``, ``finetune_run``, ``finetune``,
    ``browser``, ``map``, ``suggestions`` and ``banner``."""

    def _forget_results(self) -> None:
        """Another folder or backbone: drop the fine-tune shown, its predictions and the suggestions."""
        self.finetune_run = ""
        self._suggested_once = False
        self.suggestions.discard()
        self.finetune.reset()
        self._set_predictions({})
        self.banner.dismiss()

    def _load_finetune(self, run_dir: str) -> None:
        self.finetune_run = run_dir
        job = self._load_job = EngineJob(label_jobs.load_finetune, run_dir, parent=self)
        job.succeeded.connect(self._on_saved_loaded)
        job.failed.connect(lambda message, details: self.banner.show_message("warning", "The last fine-tuned "
                           f"model's predictions cannot be shown: {message}", details))
        job.finished.connect(lambda: self._on_load_finished(job))
        job.start()

    def _on_load_finished(self, job: EngineJob) -> None:
        if job is self._load_job:
            self._load_job = None
        job.deleteLater()

    def _on_saved_loaded(self, saved) -> None:
        if saved.run_dir != self.finetune_run:
            return
        self.finetune.show_saved(saved)
        self._set_predictions(saved.predictions)

    def start_map(self) -> bool:
        """Compute the embedding map of the folder with the current backbone (once per run)."""
        if not self.pretrain_run or self.project is None:
            return False
        return self.map.start(self.pretrain_run, self.root, self._cache_dir(), self.scan)

    def refresh_suggestions(self) -> bool:
        if not self.pretrain_run or self.project is None:
            return False
        self._suggested_once = True
        predictions = list(self.finetune.outcome.predictions.values()) if self.finetune.outcome else []
        return self.suggestions.start(self.pretrain_run, self.root, set(self.project.labels()), predictions,
                                      self._cache_dir(), self.scan)

    def _cache_dir(self) -> str:
        return PretrainRun(Path(self.pretrain_run)).config_dict().get("cache_dir", "")

    def train(self) -> bool:
        if self.project is None or not self.pretrain_run:
            return False
        from engine.finetune.config import FinetuneConfig

        self.banner.dismiss()
        labels = {path: label.label for path, label in self.project.labels().items()}
        cfg = FinetuneConfig(pretrain_run=self.pretrain_run, data_dir=self.root, mode=self.finetune.chosen_mode(),
                             minutes=self.finetune.chosen_minutes(), classes=tuple(self.project.class_names()),
                             cache_dir=self._cache_dir())
        return self.finetune.start(cfg, labels, self.scan)

    def _on_finetuned(self, outcome) -> None:
        result = outcome.result
        self.finetune_run = result.run_dir
        if self.project is not None:
            self.project.add_run("finetune", result.run_dir, {"mode": result.mode,
                                                              "accuracy": result.validation.get("accuracy")})
            self.project.set_chosen_model(result.run_dir)
        self._set_predictions(outcome.predictions)
        accuracy = result.validation.get("accuracy")
        estimate = ""
        if accuracy is not None:
            from engine.finetune.validation import likely_range_text

            estimate = (f" Validation accuracy {accuracy:.0%} ({result.validation.get('scheme')}; "
                        f"{likely_range_text(result.validation)}).")
        notes = "".join(f"\nNote: {warning}" for warning in self.finetune.warnings)
        self.banner.show_message("warning" if notes else "success", f"The classifier is trained.{estimate} Its "
                                 "predictions are on the grid; fix the wrong ones and train again, or export the "
                                 f"model.{notes}")
        self.models_changed.emit(self.pretrain_run, self.finetune_run)
        self.finetuned.emit(outcome)
        if self._suggested_once:
            self.refresh_suggestions()

    def _set_predictions(self, predictions: dict) -> None:
        self.browser.set_predictions(predictions)
        self.map.set_predictions(predictions)
        self.finetune.set_has_predictions(bool(predictions))
