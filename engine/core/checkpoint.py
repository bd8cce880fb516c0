"""Checkpoint files (``torch.save`` dicts), written through :mod:`engine.core.atomic`: a crash
mid-write never damages the previous checkpoint. torch is imported only to write or read one."""
from __future__ import annotations

from pathlib import Path

from engine.core.atomic import write_atomic


def save_atomic(payload: dict, path: Path) -> Path:
    """Write ``payload`` with ``torch.save`` to ``path`` atomically; return ``path``."""
    import torch

    return write_atomic(path, lambda handle: torch.save(payload, handle))


def load(path: Path, map_location="cpu") -> dict:
    """Load a checkpoint written by :func:`save_atomic` (tensors and plain types only)."""
    import torch

    return torch.load(Path(path), map_location=map_location, weights_only=True)
