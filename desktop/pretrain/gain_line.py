"""The Pretrain page's one line on what training has bought so far.

With labels in the folder's project, the engine's gain probe reports what a quick fine-tune
on them reaches now, beside the untrained backbone's figure; without labels, the line says
in plain words whether the embedding spread (the collapse metric) is fine.
"""
from __future__ import annotations

from typing import Optional

from desktop.common.training_plots import COLLAPSE_ALARM
from engine.core.events import PretrainMetrics, ProbeResult

COLLAPSE_MIN_STEPS = 20     # freshly initialised networks start low; give them a moment


def recorded_probes(history: list[dict]) -> list[ProbeResult]:
    """The gain probes among a run's metrics.jsonl rows (rows under "probe"; damaged ones left out)."""
    probes = []
    for row in history:
        try:
            probes.append(ProbeResult(**row["probe"]))
        except (KeyError, TypeError):
            continue
    return probes


def percent(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{100 * value:.0f} %"


def probe_sentence(result: ProbeResult) -> str:
    """"A quick fine-tune on your 30 labels now reaches 81 % (untrained backbone: 62 %)." and its kin."""
    labels = f"your {result.labels} label{'s' if result.labels != 1 else ''}"
    if result.accuracy is None:
        return (f"A quick fine-tune on {labels} gives no figure: validation needs at least 2 labels "
                "in a class.")
    if result.epoch == 0:
        return (f"A quick fine-tune on {labels} reaches {percent(result.accuracy)} with the untrained "
                "backbone; the figure is measured again every few epochs.")
    return (f"A quick fine-tune on {labels} now reaches {percent(result.accuracy)} "
            f"(untrained backbone: {percent(result.untrained_accuracy)}).")


def collapse_alarm(step: int, metrics: PretrainMetrics) -> str | None:
    """A warning when the embedding spread has fallen far below its healthy value, else None."""
    spread, healthy = metrics.collapse, metrics.collapse_healthy
    if not healthy or step < COLLAPSE_MIN_STEPS or spread >= COLLAPSE_ALARM * healthy:
        return None
    return (f"⚠ The embeddings are collapsing: spread {spread:.3f}, healthy is about {healthy:.3f}. "
            "If it stays this low, stop and try a lower learning rate or another method.")


def collapse_sentence(step: int, metrics: PretrainMetrics) -> str:
    """The collapse metric in one plain sentence that says whether its value is fine."""
    spread, healthy = metrics.collapse, metrics.collapse_healthy
    if not healthy:
        return f"Embedding spread {spread:.3f}: it falls towards 0 if the embeddings collapse."
    floor = COLLAPSE_ALARM * healthy
    if spread >= floor:
        return (f"Embedding spread {spread:.3f} (healthy about {healthy:.3f}, worrying below {floor:.3f}): "
                "fine, the embeddings are not collapsing.")
    if step < COLLAPSE_MIN_STEPS:
        return (f"Embedding spread {spread:.3f} (healthy about {healthy:.3f}): low, which is usual in "
                "the first steps.")
    return (f"Embedding spread {spread:.3f} (healthy about {healthy:.3f}): too low, the embeddings "
            "are collapsing.")
