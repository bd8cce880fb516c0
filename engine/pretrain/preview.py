"""Augmented view pairs as uint8 pictures, so a person sees what the model sees."""
from __future__ import annotations

import torch

from engine.core.events import Preview
from engine.pretrain.state import batch_generator

PREVIEW_IMAGES = 4


def preview_pairs(store, view_specs, augment, seed: int, step: int) -> Preview:
    """Two views of the first few images as (H, W, C) uint8 arrays.

    ``augment(images_u8, spec, generator)`` returns normalised (B, C, s, s) floats and
    ``augment.denormalize`` maps them back to [0, 1].
    """
    count = min(PREVIEW_IMAGES, len(store))
    images = store.batch(torch.arange(count))
    generator = batch_generator(seed + 1, step, torch.device("cpu"))
    with torch.no_grad():
        views = [augment.denormalize(augment(images, spec, generator)) for spec in view_specs[:2]]
    pictures = [(view.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy() for view in views]
    return Preview(step, tuple((pictures[0][i], pictures[1][i]) for i in range(count)))
