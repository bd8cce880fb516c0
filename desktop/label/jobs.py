"""Plain functions the Label & Fine-tune and Export steps run in an :class:`~desktop.jobs.EngineJob`.

Each takes ``on_event``/``cancel`` like every engine call and returns plain data, so tests
can call them without a GUI. Nothing here imports Qt. Finding a folder's runs is
:mod:`engine.store.run_lookup`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

from engine.store.runs import FinetuneRun

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


def finetune_and_predict(cfg, labels: Mapping[str, str], scan=None, on_event=None, cancel=None) -> FinetuneOutcome:
    """:func:`engine.finetune.run.run_finetune`, then its predictions read back (off the GUI thread)."""
    from engine.finetune.run import read_predictions, run_finetune

    result = run_finetune(cfg, labels, on_event=on_event, cancel=cancel, scan=scan)
    predictions = {}
    if result.status == "completed":
        predictions = {p.path: p for p in read_predictions(result.run_dir)}
    return FinetuneOutcome(result, predictions)


def load_finetune(run_dir: str, on_event=None, cancel=None) -> SavedFinetune:
    """A finished fine-tune run folder's config, validation and predictions."""
    from engine.finetune.run import read_predictions

    run = FinetuneRun(Path(run_dir))
    config = run.config_dict()
    predictions = {p.path: p for p in read_predictions(run_dir)}
    labels_used = sum(1 for p in predictions.values() if p.label)
    return SavedFinetune(run_dir, config.get("mode", ""), tuple(config.get("classes", ())), labels_used,
                         run.validation(), predictions)


def compute_suggestions(pretrain_run: str, data_dir: str, labeled: Sequence[str], predictions: Sequence = (),
                        n: int = SUGGESTIONS, cache_dir: str = "", scan=None, on_event=None, cancel=None) -> list:
    """``engine.maps.suggest.Suggestion`` rows: what to label next, each with its reason. ``scan``:
    the session's ``engine.data.scan.ScanReport`` of ``data_dir`` (None: scan it)."""
    from engine.maps.embed import embed_run
    from engine.maps.suggest import suggest

    images = embed_run(pretrain_run, data_dir, "auto", cache_dir, on_event, cancel, scan)
    return suggest(images.features, images.paths, n, labeled, predictions)


def open_embedding_map(pretrain_run: str, data_dir: str, cache_dir: str = "", scan=None, on_event=None,
                       cancel=None):
    """The folder's ``engine.maps.embedding_map.EmbeddingMap``: the saved layout, else the PCA view."""
    from engine.maps.embedding_map import open_map

    return open_map(pretrain_run, data_dir, cache_dir, on_event=on_event, cancel=cancel, scan=scan)


def refine_embedding_map(embedding_map, on_event=None, cancel=None):
    """The neighbour-graph layout of an ``EmbeddingMap`` (saved with the run)."""
    from engine.maps.embedding_map import refine_map

    return refine_map(embedding_map, on_event=on_event, cancel=cancel)


def find_neighbours(features, row: int, k: int, on_event=None, cancel=None) -> list:
    """The ``k`` images most like image ``row`` (``engine.maps.similarity.Neighbour`` rows)."""
    from engine.maps.similarity import nearest_neighbours

    return nearest_neighbours(features, row, k)


def find_near_duplicates(features, threshold: Optional[float], on_event=None, cancel=None) -> tuple[float, list]:
    """(the threshold, the ``engine.maps.similarity.DuplicatePair`` rows at cosine similarity
    ``threshold`` or more); a ``threshold`` of None is set from the data (see duplicate_threshold)."""
    from engine.maps.similarity import duplicate_threshold, near_duplicates

    if threshold is None:
        threshold = duplicate_threshold(features, cancel=cancel)
    return threshold, near_duplicates(features, threshold, on_event=on_event, cancel=cancel)
