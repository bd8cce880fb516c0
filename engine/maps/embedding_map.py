"""The embedding map of a folder: every image at a 2-D position, similar images together.

:func:`open_map` gives the instant view (PCA of the run's cached embeddings, or the saved
layout when there is one); :func:`refine_map` computes the neighbour-graph layout and saves
it beside the embeddings (``<key>.layout-<seed>.npz``), so it is dropped with them when
the folder or the backbone changes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Union

import numpy as np

from engine.core import atomic
from engine.core.events import CancelToken, Warning, ignore_events
from engine.data.scan import ScanReport
from engine.maps.embed import embed_run
from engine.maps.projection import layout_map, pca_map


@dataclass(frozen=True)
class EmbeddingMap:
    """``paths[i]`` (relative to the image root) has features ``features[i]`` (float32
    ``(N, D)``) and sits at ``xy[i]`` (float32 ``(N, 2)``). ``kind`` is "pca" or "layout";
    a layout was fitted on ``layout_points`` images and the rest were placed by their
    nearest neighbours."""

    paths: list
    features: np.ndarray
    xy: np.ndarray
    kind: str
    layout_points: int
    cache_stem: Path

    @property
    def placed(self) -> int:
        return len(self.paths) - self.layout_points


def open_map(run_dir: Union[str, Path], data_dir: str = "", cache_dir: str = "", device: str = "auto",
             seed: int = 0, on_event=None, cancel: Optional[CancelToken] = None,
             scan: Optional[ScanReport] = None) -> EmbeddingMap:
    """The run's embeddings of the folder's images with the saved layout, else the PCA view.
    ``scan``: a scan of the folder the caller already has, used instead of scanning again."""
    images = embed_run(run_dir, data_dir, device, cache_dir, on_event, cancel, scan)
    paths, features = list(images.paths), images.features
    saved = _load_layout(_layout_file(images.cache_stem, seed), len(paths))
    if saved is not None:
        xy, layout_points = saved
        return EmbeddingMap(paths, features, xy, "layout", layout_points, images.cache_stem)
    return EmbeddingMap(paths, features, pca_map(features), "pca", len(paths), images.cache_stem)


def refine_map(embedding_map: EmbeddingMap, seed: int = 0, on_event=None,
               cancel: Optional[CancelToken] = None) -> EmbeddingMap:
    """The neighbour-graph layout of ``embedding_map``'s features, saved for next time."""
    emit = on_event or ignore_events
    layout = layout_map(embedding_map.features, seed, on_event=emit, cancel=cancel)
    path = _layout_file(embedding_map.cache_stem, seed)
    try:
        _save_layout(path, layout.xy, len(layout.layout_rows))
    except OSError as error:
        emit(Warning(f"cannot save the map in {path.parent} ({atomic.refusal_reason(error)}); "
                     "it will be computed again next time"))
    return replace(embedding_map, xy=layout.xy, kind="layout", layout_points=len(layout.layout_rows))


def _layout_file(cache_stem: Path, seed: int) -> Path:
    return cache_stem.with_name(f"{cache_stem.name}.layout-{seed}.npz")


def _load_layout(path: Path, count: int) -> Optional[tuple[np.ndarray, int]]:
    try:
        with np.load(path) as saved:
            xy, layout_points = saved["xy"], int(saved["layout_points"])
    except (OSError, ValueError, KeyError):
        return None
    return (xy, layout_points) if xy.shape == (count, 2) else None


def _save_layout(path: Path, xy: np.ndarray, layout_points: int) -> None:
    atomic.write_atomic(path, lambda handle: np.savez(handle, xy=xy.astype(np.float32),
                                                      layout_points=np.int64(layout_points)))
