"""The embedding map during pretraining: a fixed sample of images laid out every few epochs,
so the user watches clusters form."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from engine.core.events import MapSnapshot
from engine.data.decoded_store import ImageStore
from engine.maps.embed import compute_features
from engine.maps.projection import layout_map

LIVE_MAP_IMAGES = 2000


def map_snapshot(store: ImageStore, backbone: nn.Module, mean: Sequence[float], std: Sequence[float],
                 device: torch.device, epoch: int, seed: int) -> MapSnapshot:
    """The layout of the same ``LIVE_MAP_IMAGES`` images (drawn with ``seed``) by ``backbone`` now."""
    count = min(LIVE_MAP_IMAGES, len(store))
    rows = torch.randperm(len(store), generator=torch.Generator().manual_seed(seed))[:count].sort().values
    sample = ImageStore(store.batch(rows), [store.paths[i] for i in rows.tolist()], store.size, store.channels,
                        on_disk=False)
    features = compute_features(backbone, sample, mean, std, device).numpy()
    return MapSnapshot(epoch, tuple(sample.paths), layout_map(features, seed=seed).xy)
