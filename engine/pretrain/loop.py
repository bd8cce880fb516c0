"""The pretraining loop: scan → decode cache → batched augmentation → SSL step, with events.

One call, :func:`run_pretraining`, runs or resumes a run. The loop is written so that DDP
can wrap it: ``batch_size`` is global, each rank takes its slice of every batch, and
only rank 0 writes files.
"""
from __future__ import annotations

import dataclasses
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from engine.core import atomic, checkpoint
from engine.core.config import ConfigError, PretrainConfig
from engine.core.device import autocast, choose_device, is_out_of_memory
from engine.core.events import (
    Cancelled, CancelToken, CheckpointSaved, EpochEnded, EpochMetrics, Finished, PretrainMetrics, PretrainStart,
    EventSink, PretrainSummary, ProbeResult, Progress, Stage, Started, Warning, ignore_events,
)
from engine.data.scan import ScanReport
from engine.pretrain.distributed import any_rank, is_main_process, local_device
from engine.pretrain.gain_probe import GainProbe, Scorer, read_probe_labels
from engine.pretrain.live_map import map_snapshot
from engine.pretrain.preview import preview_pairs
from engine.pretrain.session import TrainingSession, build_session
from engine.pretrain.state import LoopState, batch_generator, epoch_permutation
from engine.store.runs import (
    PretrainRun, RunFolderError, create_pretrain_run, open_run_folder, prepare_runs_dir, removed_on_failure,
)

ETA_SMOOTHING = 0.9
MIN_STEPS_BEFORE_BUDGET = 5


@dataclass(frozen=True)
class PretrainResult:
    run_dir: str
    status: str            # "completed" or "cancelled"
    step: int
    total_steps: int       # 0 for a time budget stopped before its step count was planned
    final_loss: Optional[float]
    backbone_path: Optional[str]


def run_pretraining(cfg: Optional[PretrainConfig], on_event=None, cancel: Optional[CancelToken] = None,
                    resume=None, scan: Optional[ScanReport] = None,
                    probe_scorer: Optional[Scorer] = None) -> PretrainResult:
    """Pretrain on ``cfg.data_dir`` (or resume the run folder ``resume``); return the result.
    ``scan``: a scan of the folder the caller already has, used instead of scanning again.

    With ``cfg.probe_labels``, ``probe_scorer`` scores the gain probe (see
    :mod:`engine.pretrain.gain_probe`; :func:`engine.run_pretraining` hands it the fine-tune's).
    Raises ValueError subclasses for bad input (config, folder, run folder, probe labels). Cancelling
    while the images are scanned or decoded raises Cancelled (no run folder exists yet);
    once training began, a cancelled run returns ``status="cancelled"`` with a checkpoint.
    """
    emit = on_event or ignore_events
    cancel = cancel or CancelToken()
    resumed: Optional[PretrainRun] = open_run_folder(resume) if resume else None
    if resumed is not None:
        cfg = resumed.config()
        checkpoints = _Checkpoints(resumed)
    cfg.validate()
    cfg = cfg.replace(data_dir=str(Path(cfg.data_dir).expanduser().resolve()),
                      probe_labels=cfg.probe_labels and str(Path(cfg.probe_labels).expanduser().resolve()))
    probe_labels = None
    if cfg.probe_labels and is_main_process():   # a CSV that cannot be read stops the run before any work
        if probe_scorer is None:
            raise ConfigError("probe labels need a probe scorer: start the run with engine.run_pretraining")
        probe_labels = read_probe_labels(cfg.probe_labels, cfg.data_dir)
    if resumed is None and is_main_process():
        prepare_runs_dir(cfg.out_dir)   # fail before the slow scan and decode
    device = local_device(choose_device(cfg.device))
    session = build_session(cfg, device, emit, cancel, resolve=resumed is None, scan=scan)
    cfg = session.cfg
    run = resumed   # the folder this process writes to: rank 0 only
    if is_main_process():
        if run is None:
            with removed_on_failure(create_pretrain_run(cfg.out_dir, cfg.method, cfg.backbone)) as run:
                cfg.save(run.config_path)
                session.report.save(run.scan_path)
        for folder in (run.path, run.checkpoint_dir):
            atomic.remove_stale_temps(folder)
    else:
        run = None
    probe = untrained = None
    if probe_labels is not None:
        probe = GainProbe(probe_labels, probe_scorer, session.store, session.augment.mean, session.augment.std,
                          device, cfg.seed, emit, cancel)
        if probe.usable:   # from the initial weights, before a checkpoint replaces them
            untrained = probe.measure(session.method.backbone, 0, training_s=0.0)
    state = LoopState.fresh(cfg, len(session.store))
    if resumed is not None:
        state = _restore(session, checkpoints, emit) or state
    if resumed is not None and run is not None:
        run.trim_metrics(state.step)
    trainer = _Trainer(session, state, run, emit, cancel, probe)
    emit(Started(Stage.PRETRAIN, trainer.known_total, PretrainStart(
        run_dir=str(run.path) if run else "", device=str(device), device_label=session.device_label,
        precision=session.precision, method=cfg.method, backbone=cfg.backbone,
        image_size=cfg.image_size, batch_size=state.batch_size, images=len(session.store),
        reasons=session.reasons, resumed_from_step=state.step,
    )))
    if untrained is not None:
        trainer.report_probe(untrained, record=state.step == 0)
    try:
        trainer.train()
    except Cancelled:
        trainer.save_checkpoint()
        emit(Finished(Stage.PRETRAIN, "cancelled", trainer.summary()))
        return trainer.result("cancelled")
    trainer.save_checkpoint()
    backbone_path = trainer.save_backbone()
    emit(Finished(Stage.PRETRAIN, "completed", trainer.summary()))
    return trainer.result("completed", backbone_path)


class _Trainer:
    """Holds the moving parts of one run's loop; every method is one phase of a step."""

    def __init__(self, session: TrainingSession, state: LoopState, run: Optional[PretrainRun], emit, cancel,
                 probe: Optional[GainProbe] = None) -> None:
        self.session, self.state, self.run, self.emit, self.cancel = session, state, run, emit, cancel
        self.probe = probe
        self.training_s = 0.0      # the optimiser steps' seconds in this process (the gain probe's budget)
        self.last_loss: Optional[float] = None
        self.images_per_s = 0.0
        self.started_at = time.monotonic()
        self.first_step = state.step
        self.budget_s = session.cfg.minutes * 60 if session.cfg.minutes else None
        self._order = (-1, torch.empty(0, dtype=torch.long))   # (epoch, its image order)
        self._unsaved_metrics: list[dict] = []   # written with each checkpoint, so the two agree

    @property
    def known_total(self) -> int:
        """The run's step count as its events and result give it: 0 ("not known yet") while a time
        budget waits for the speed of its first ``MIN_STEPS_BEFORE_BUDGET`` steps, when the state's
        total is only the cap that bounds the schedule (see :meth:`_apply_time_budget`)."""
        if self.budget_s is not None and self.state.step < MIN_STEPS_BEFORE_BUDGET:
            return 0
        return self.state.total_steps

    def train(self) -> None:
        cfg = self.session.cfg
        self.session.schedule.total_steps = self.state.total_steps
        self._emit_preview()
        while not self.state.done:
            if any_rank(self.cancel.cancelled, self.session.device):
                raise Cancelled()
            self.cancel.check()
            started = time.perf_counter()
            outcome = self._step(started)
            if outcome is None:       # out of memory: halve the batch and redo the step
                self._halve_batch()
                continue
            loss, collapse, data_s = outcome
            step_s = time.perf_counter() - started
            self._after_step(loss, collapse, data_s, step_s)
            if self.run is not None and self.state.step % cfg.checkpoint_every == 0:
                self.save_checkpoint()
            if self.state.position == 0:
                self._end_epoch()

    def _next_views(self) -> list[torch.Tensor]:
        """Augmented views of this step's images: a list of (b, C, s, s) float tensors."""
        s, state = self.session, self.state
        if self._order[0] != state.epoch:
            self._order = (state.epoch, epoch_permutation(s.cfg.seed, state.epoch, len(s.store)))
        indices = self._order[1][state.position * state.batch_size:(state.position + 1) * state.batch_size]
        indices = s.local_slice(indices)
        images = s.load_batch(indices)
        generator = batch_generator(s.cfg.seed, state.step, s.device)
        views = [s.augment(images, spec, generator) for spec in s.method.view_specs()]
        if s.channels_last:
            views = [view.contiguous(memory_format=torch.channels_last) for view in views]
        return views

    def _step(self, started: float):
        """Load, augment and learn from one batch: (loss, collapse, data seconds), or None when
        the device ran out of memory anywhere in it (the step's tensors are freed on return)."""
        try:
            views = self._next_views()
            data_s = time.perf_counter() - started
            loss, collapse = self._optimise(views)
        except RuntimeError as error:     # torch.OutOfMemoryError is a RuntimeError
            if not is_out_of_memory(error):
                raise
            return None
        return loss, collapse, data_s

    def _optimise(self, views):
        """One optimiser step; return (loss, collapse)."""
        s = self.session
        s.schedule.apply(self.state.step)
        with autocast(s.device, s.precision):
            loss, embeddings = s.model(views)
        s.optimizer.zero_grad(set_to_none=True)
        s.scaler.scale(loss).backward()
        s.scaler.step(s.optimizer)
        s.scaler.update()
        s.method.after_step(self.state.step / max(1, self.state.total_steps))
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"the loss became {loss_value} at step {self.state.step}; "
                                     "try a lower learning rate")
        return loss_value, s.collapse(embeddings.detach())

    def _halve_batch(self) -> None:
        s, state = self.session, self.state
        s.optimizer.zero_grad(set_to_none=True)
        if s.device.type == "cuda":
            torch.cuda.empty_cache()
        if state.batch_size // 2 < max(2, s.world_size):
            raise RuntimeError(f"out of memory even at batch size {state.batch_size}; "
                               "choose a smaller image size or backbone")
        old = state.batch_size
        self.state = state.with_batch_size(old // 2, len(s.store))
        s.schedule.total_steps = self.state.total_steps
        self.emit(Warning(f"Out of memory at batch size {old}: continuing with batch size {old // 2}."))

    def _after_step(self, loss: float, collapse: float, data_s: float, step_s: float) -> None:
        s = self.session
        self.state = self.state.advanced()
        state = self.state
        self.last_loss = loss
        self.training_s += step_s
        rate = state.batch_size / max(step_s, 1e-9)
        self.images_per_s = rate if self.images_per_s == 0 else (
            ETA_SMOOTHING * self.images_per_s + (1 - ETA_SMOOTHING) * rate)
        self._apply_time_budget()
        steps_per_s = self.images_per_s / state.batch_size
        total = self.known_total
        metrics = PretrainMetrics(
            loss=loss, lr=s.optimizer.param_groups[0]["lr"], images_per_s=self.images_per_s,
            data_wait=data_s / max(step_s, 1e-9), collapse=collapse,
            collapse_healthy=s.collapse_healthy, epoch=state.epoch + state.position / state.steps_per_epoch,
            eta_s=(total - state.step) / max(steps_per_s, 1e-9) if total else None, batch_size=state.batch_size,
        )
        self.emit(Progress(Stage.PRETRAIN, state.step, total, metrics))
        if self.run is not None:
            self._unsaved_metrics.append({"step": state.step, **metrics.as_dict()})

    def _apply_time_budget(self) -> None:
        """With a time budget, keep the schedule's progress equal to the share of the budget
        spent: from step ``MIN_STEPS_BEFORE_BUDGET`` on, the total is re-planned every step
        from the mean speed so far, so slow warm-up steps or a busy machine never leave the
        cosine far from its floor when time runs out. A resumed run keeps its saved plan."""
        if self.budget_s is None or self.state.step < MIN_STEPS_BEFORE_BUDGET:
            return
        elapsed = time.monotonic() - self.started_at
        step = self.state.step
        if elapsed >= self.budget_s:
            self.state = dataclasses.replace(self.state, total_steps=step)
            self._warn_if_short_of_an_epoch(elapsed)
        elif self.first_step == 0 or step == MIN_STEPS_BEFORE_BUDGET:
            total = int(step * self.budget_s / max(elapsed, 1e-9))
            self.state = dataclasses.replace(self.state, total_steps=max(step + 1, total))
        self.session.schedule.total_steps = self.state.total_steps

    def _warn_if_short_of_an_epoch(self, elapsed: float) -> None:
        """A budget that ends before one pass over the images leaves the backbone barely trained: say so,
        with the budget that one pass takes at this speed."""
        state = self.state
        if state.epoch > 0 or self.first_step > 0:
            return
        epoch_minutes = elapsed / max(1, state.step - self.first_step) * state.steps_per_epoch / 60
        self.emit(Warning(f"The {self.budget_s / 60:g}-minute budget ran out after {state.step} of the "
                          f"{state.steps_per_epoch} steps of one pass over the images: the backbone has barely "
                          f"trained. One pass takes about {math.ceil(epoch_minutes * 10) / 10:g} min here; give "
                          "several."))

    def _end_epoch(self) -> None:
        metrics = EpochMetrics(loss=self.last_loss, images_per_s=self.images_per_s)
        finished_epoch = self.state.epoch - 1
        self.emit(EpochEnded(finished_epoch, self.state.step, metrics))
        if self.run is not None:
            self._unsaved_metrics.append({"epoch_end": finished_epoch, "step": self.state.step, **metrics.as_dict()})
        self._emit_preview()
        if self.probe is not None:
            self._probe_if_due(finished_epoch + 1)
        every = self.session.cfg.map_every
        if every > 0 and (finished_epoch + 1) % every == 0 and is_main_process():
            s = self.session
            self.emit(map_snapshot(s.store, s.method.backbone, s.augment.mean, s.augment.std, s.device,
                                   finished_epoch, s.cfg.seed))

    def _probe_if_due(self, epochs_trained: int) -> None:
        """Probe the backbone when the budget allows; else say once if it never will in this run."""
        if self.probe.due(self.training_s):
            self.report_probe(self.probe.measure(self.session.method.backbone, epochs_trained, self.training_s))
            return
        done, total = self.state.step - self.first_step, self.known_total
        # a time budget whose step count is not planned yet trains for the budget
        self.probe.warn_if_never_due(self.training_s * (total - self.first_step) / max(1, done) if total
                                     else self.budget_s)

    def report_probe(self, result: ProbeResult, record: bool = True) -> None:
        """Emit a probe result and (``record``) keep it for metrics.jsonl, under "probe"."""
        self.emit(Progress(Stage.PROBE, self.state.step, self.known_total, result))
        if record and self.run is not None:
            self._unsaved_metrics.append({"step": self.state.step, "probe": result.as_dict()})

    def _emit_preview(self) -> None:
        s = self.session
        self.emit(preview_pairs(s.store, s.method.view_specs(), s.augment, s.cfg.seed, self.state.step))

    def save_checkpoint(self) -> None:
        """The newest checkpoint becomes ``last.pt``; the one it replaces is kept as ``prev.pt``."""
        if self.run is None:
            return
        self.run.append_metrics(self._unsaved_metrics)
        self._unsaved_metrics = []
        if self.run.checkpoint_path.is_file():
            _keep_as_previous(self.run)
        path = checkpoint.save_atomic(self.session.state_dict(self.state), self.run.checkpoint_path)
        self.emit(CheckpointSaved(str(path), self.state.step))

    def save_backbone(self) -> Optional[str]:
        if self.run is None:
            return None
        return str(checkpoint.save_atomic(self.session.backbone_export(), self.run.backbone_path))

    def summary(self) -> PretrainSummary:
        return PretrainSummary(run_dir=str(self.run.path) if self.run else "", step=self.state.step,
                               total_steps=self.known_total, final_loss=self.last_loss)

    def result(self, status: str, backbone_path: Optional[str] = None) -> PretrainResult:
        return PretrainResult(str(self.run.path) if self.run else "", status, self.state.step,
                              self.known_total, self.last_loss, backbone_path)


def _keep_as_previous(run: PretrainRun) -> None:
    """Make ``prev.pt`` the current ``last.pt`` (a hard link, else a copy, swapped in whole), so
    a ``last.pt`` is always there and the one before it survives a damaged new one."""
    source, target = run.checkpoint_path, run.previous_checkpoint_path
    temp = atomic.temp_path(target)
    try:
        try:
            os.link(source, temp)
        except OSError:          # no hard links on this file system
            shutil.copyfile(source, temp)
        os.replace(temp, target)
        temp.unlink(missing_ok=True)   # still there when both were links to one file: rename did nothing
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise atomic.disk_error(target, error) from error


class _Checkpoints:
    """A resumed run's checkpoints, newest first (``last.pt``, then ``prev.pt``), each loaded
    only when the one before it turned out damaged, with what was wrong with those."""

    def __init__(self, run: PretrainRun) -> None:
        self.run, self.problems = run, []
        self._pending = [p for p in (run.checkpoint_path, run.previous_checkpoint_path) if p.is_file()]
        self.current = self._load_next()
        if self.current is None and self.problems:   # read before the slow scan: say so at once
            raise self.unusable()

    def _load_next(self) -> Optional[tuple[Path, dict]]:
        while self._pending:
            path = self._pending.pop(0)
            try:
                return path, checkpoint.load(path)
            except Exception as error:  # noqa: BLE001 - a damaged file: truncated, empty or foreign
                self.damaged(path, error)
        return None

    def damaged(self, path: Path, error: BaseException) -> None:
        self.problems.append(f"{path.relative_to(self.run.path)} is damaged ({_short(error)})")

    def next(self) -> Optional[tuple[Path, dict]]:
        self.current = self._load_next()
        return self.current

    def unusable(self) -> RunFolderError:
        return RunFolderError(f"cannot resume {self.run.path}: {' and '.join(self.problems)}")


def _restore(session: TrainingSession, checkpoints: _Checkpoints, emit: EventSink) -> Optional[LoopState]:
    """The state of the newest checkpoint that fits the session (with a warning when that is
    not ``last.pt``), or None when the run has none."""
    candidate = checkpoints.current
    while candidate is not None:
        path, saved = candidate
        try:
            state = session.restore(saved)
        except (KeyError, RuntimeError, ValueError, TypeError) as error:   # saved by another model
            checkpoints.damaged(path, error)
            candidate = checkpoints.next()
            continue
        if checkpoints.problems:
            emit(Warning(f"{checkpoints.problems[0]}; resuming from {path.relative_to(checkpoints.run.path)} "
                         f"(step {state.step}) instead"))
        return state
    if checkpoints.problems:
        raise checkpoints.unusable()
    return None


def _short(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
