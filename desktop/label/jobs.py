"""Plain functions the Label & Fine-tune and Export steps run in an :class:`~desktop.jobs.EngineJob`.

Each takes ``on_event``/``cancel`` like every engine call and returns plain data, so tests
can call them without a GUI. Nothing here imports Qt. The run look-ups at the bottom are
cheap (no torch) and run on the GUI thread.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

from engine.store.runs import RunFolder, default_runs_dir

SUGGESTIONS = 20


@dataclass(frozen=True)
class FinetuneOutcome:
    """A fine-tune result with every image's prediction (``{path: engine.finetune.run.Prediction}``)."""

    result: object
    predictions: dict


@dataclass(frozen=True)
class SavedFinetune:
    """What a finished fine-tune run folder holds, for showing it again after a restart."""

    run_dir: str
    mode: str
    classes: tuple
    labels_used: int
    validation: dict
    predictions: dict


def finetune_and_predict(cfg, labels: Mapping[str, str], on_event=None, cancel=None) -> FinetuneOutcome:
    """:func:`engine.finetune.run.run_finetune`, then its predictions read back (off the GUI thread)."""
    from engine.finetune.run import read_predictions, run_finetune

    result = run_finetune(cfg, labels, on_event=on_event, cancel=cancel)
    predictions = {}
    if result.status == "completed":
        predictions = {p.path: p for p in read_predictions(result.run_dir)}
    return FinetuneOutcome(result, predictions)


def load_finetune(run_dir: str, on_event=None, cancel=None) -> SavedFinetune:
    """A finished fine-tune run folder's config, validation and predictions."""
    from engine.finetune.run import read_predictions

    folder = RunFolder(Path(run_dir))
    config = json.loads(folder.config_path.read_text(encoding="utf-8"))
    validation = next((row["validation"] for row in reversed(folder.read_metrics()) if "validation" in row), {})
    predictions = {p.path: p for p in read_predictions(run_dir)}
    labels_used = sum(1 for p in predictions.values() if p.label)
    return SavedFinetune(run_dir, config.get("mode", ""), tuple(config.get("classes", ())), labels_used,
                         validation, predictions)


def compute_suggestions(pretrain_run: str, data_dir: str, labeled: Sequence[str], predictions: Sequence = (),
                        n: int = SUGGESTIONS, cache_dir: str = "", on_event=None, cancel=None) -> list:
    """``engine.maps.suggest.Suggestion`` rows: what to label next, each with its reason."""
    from engine.maps.embed import embed_run
    from engine.maps.suggest import suggest

    images = embed_run(pretrain_run, data_dir, "auto", cache_dir, on_event, cancel)
    return suggest(images.features, images.paths, n, labeled, predictions)


def open_embedding_map(pretrain_run: str, data_dir: str, cache_dir: str = "", on_event=None, cancel=None):
    """The folder's ``engine.maps.embedding_map.EmbeddingMap``: the saved layout, else the PCA view."""
    from engine.maps.embedding_map import open_map

    return open_map(pretrain_run, data_dir, cache_dir, on_event=on_event, cancel=cancel)


def refine_embedding_map(embedding_map, on_event=None, cancel=None):
    """The neighbour-graph layout of an ``EmbeddingMap`` (saved with the run)."""
    from engine.maps.embedding_map import refine_map

    return refine_map(embedding_map, on_event=on_event, cancel=cancel)


def find_near_duplicates(features, threshold: float, on_event=None, cancel=None) -> list:
    """``engine.maps.similarity.DuplicatePair`` rows at cosine similarity ``threshold`` or more."""
    from engine.maps.similarity import near_duplicates

    return near_duplicates(features, threshold, on_event=on_event, cancel=cancel)


# --- run look-ups (no torch) -------------------------------------------------------------------
def run_config(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def finished_pretrain_runs(data_dir: str, runs_dirs: Sequence[str] = (), known: Sequence[str] = ()) -> list[str]:
    """Finished pretraining runs (with a backbone.pt) on ``data_dir``, newest first.

    Looks in each of ``runs_dirs`` (and the default runs folder) and at the ``known`` run
    folders (the project's records); a run counts when its config's data_dir is ``data_dir``.
    """
    target = Path(data_dir).resolve()
    candidates: set[Path] = {Path(path) for path in known}
    for parent in {Path(p) for p in runs_dirs if p} | {default_runs_dir()}:
        if parent.is_dir():
            candidates.update(child for child in parent.iterdir() if child.is_dir())
    found = []
    for run in candidates:
        config = run_config(run)
        if not (run / "backbone.pt").is_file() or "data_dir" not in config:
            continue
        try:
            if Path(config["data_dir"]).resolve() == target:
                found.append(run)
        except (OSError, ValueError):
            continue
    found.sort(key=lambda run: (run / "backbone.pt").stat().st_mtime, reverse=True)
    return [str(run) for run in found]


def pretrain_run_of(finetune_run: str) -> str:
    """The pretraining run folder a fine-tune run started from ("" when its config says none)."""
    source = run_config(Path(finetune_run)).get("pretrain_run", "")
    return str(Path(source).parent) if source.endswith(".pt") else source


def describe_pretrain_run(run_dir: str) -> str:
    """"20261130-103657-simclr-smallcnn · 12 epochs" (or "· 10 min" for a time budget)."""
    config = run_config(Path(run_dir))
    length = f"{config['minutes']:g} min" if config.get("minutes") else f"{config.get('epochs', '?')} epochs"
    return f"{Path(run_dir).name} · {length}"


def latest_finetune_run(candidates: Sequence[str], pretrain_runs: Sequence[str] = ()) -> Optional[str]:
    """The first of ``candidates`` (chosen model, then the project's fine-tune runs) that still
    holds a classifier and predictions, else the newest such run under the pretrain runs."""
    def usable(path: Path) -> bool:
        return (path / "classifier.pt").is_file() and (path / "predictions.csv").is_file()

    for candidate in candidates:
        path = Path(candidate)
        path = path.parent if path.suffix == ".pt" else path
        if usable(path):
            return str(path)
    for pretrain in pretrain_runs:
        folder = Path(pretrain) / "finetune"
        runs = sorted((p for p in folder.iterdir() if usable(p)), reverse=True) if folder.is_dir() else []
        if runs:
            return str(runs[0])
    return None
