"""Where a run is (step, epoch, position in the epoch, batch size), and its seeded randomness.

The data order and the augmentation noise derive from (seed, epoch) and (seed, step)
alone, so a resumed run draws exactly what an uninterrupted one would.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from engine.core.config import PretrainConfig

BUDGET_EPOCH_CAP = 100_000   # with a time budget the epoch count only bounds the schedule (events give 0)


@dataclass(frozen=True)
class LoopState:
    step: int
    epoch: int
    position: int          # batch index inside the epoch
    batch_size: int        # global batch
    steps_per_epoch: int
    total_steps: int

    @classmethod
    def fresh(cls, cfg: PretrainConfig, image_count: int) -> "LoopState":
        batch = max(2, min(cfg.batch_size, image_count))
        steps_per_epoch = max(1, image_count // batch)
        epochs = BUDGET_EPOCH_CAP if cfg.minutes else cfg.epochs
        return cls(0, 0, 0, batch, steps_per_epoch, epochs * steps_per_epoch)

    @property
    def done(self) -> bool:
        return self.step >= self.total_steps

    def advanced(self) -> "LoopState":
        """The state after one more optimiser step."""
        position, epoch = self.position + 1, self.epoch
        if position >= self.steps_per_epoch:
            position, epoch = 0, epoch + 1
        return dataclasses.replace(self, step=self.step + 1, epoch=epoch, position=position)

    def with_batch_size(self, batch_size: int, image_count: int) -> "LoopState":
        """The same place in the data, counted in batches of ``batch_size``."""
        offset = self.position * self.batch_size
        remaining = (self.total_steps - self.step) * self.batch_size // batch_size
        return dataclasses.replace(
            self, batch_size=batch_size, position=offset // batch_size,
            steps_per_epoch=max(1, image_count // batch_size), total_steps=self.step + remaining)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LoopState":
        return cls(**{field.name: int(data[field.name]) for field in dataclasses.fields(cls)})


def epoch_permutation(seed: int, epoch: int, count: int) -> torch.Tensor:
    """The order of the images in ``epoch``: a (count,) int64 permutation."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(count, generator=generator)


def batch_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    """The random stream for the augmentations of ``step``, on ``device``."""
    generator = torch.Generator(device=device)
    generator.manual_seed((seed * 2_654_435_761 + step) % (2**63))
    return generator
