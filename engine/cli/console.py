"""A terminal progress display for engine events, used by the CLI.

The first Ctrl+C cancels the job cleanly (the run keeps a resumable checkpoint);
a second one interrupts at once.
"""
from __future__ import annotations

import shutil
import signal
import sys
import threading
import time

from engine.core.events import (
    CacheSummary, CancelToken, CheckpointSaved, EpochEnded, Finished, ProbeResult, Progress, Stage, Started, Warning,
)

REDRAW_INTERVAL_S = 0.2


def probe_text(result: ProbeResult) -> str:
    """One gain probe for people: "a quick fine-tune on 30 labels reaches 81% (untrained backbone: 62%)"."""
    figure = "gives no figure" if result.accuracy is None else f"reaches {result.accuracy:.0%}"
    if result.epoch == 0:
        return f"gain probe: a quick fine-tune on {result.labels} labels with the untrained backbone {figure}"
    untrained = "n/a" if result.untrained_accuracy is None else f"{result.untrained_accuracy:.0%}"
    return (f"gain probe after epoch {result.epoch}: a quick fine-tune on {result.labels} labels {figure} "
            f"(untrained backbone: {untrained}; probes took {result.share:.1%} of the training time)")


class ConsoleProgress:
    """An ``on_event`` sink that draws one updating status line on stderr.

    ``quiet`` keeps the Ctrl+C handling but prints nothing (ranks other than 0 under torchrun).
    """

    def __init__(self, stream=None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.cancel_token = CancelToken()
        self._last_draw = 0.0
        self._line_open = False
        self._probe: ProbeResult | None = None
        self._previous_handler = None
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_interrupt)

    def __call__(self, event) -> None:
        if self.quiet:
            return
        if isinstance(event, Started) and event.stage is Stage.PRETRAIN:
            info = event.info
            self._print(f"training {info.method} / {info.backbone} at {info.image_size} px, "
                        f"batch {info.batch_size}, on {info.device_label} ({info.precision})")
            for field, reason in info.reasons.items():
                self._print(f"  {field}: {reason}")
            self._print(f"  run folder: {info.run_dir}")
        elif isinstance(event, Progress) and event.stage is Stage.PROBE:
            self._probe = event.metrics
            self._print(probe_text(event.metrics))
        elif isinstance(event, Progress):
            self._draw(event)
        elif isinstance(event, Warning):
            self._print(f"warning: {event.message}")
        elif isinstance(event, EpochEnded) and event.metrics.loss is not None:
            self._print(f"epoch {event.epoch + 1} done at step {event.step}: loss {event.metrics.loss:.4f}")
        elif isinstance(event, Finished) and isinstance(event.info, CacheSummary) and event.info.reused:
            self._print("decoded images reused from the cache")
        elif isinstance(event, CheckpointSaved):
            self._last_draw = 0.0

    def close(self) -> None:
        self._end_line()
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None

    def _draw(self, event: Progress) -> None:
        now = time.monotonic()
        final = event.total and event.step >= event.total
        if now - self._last_draw < REDRAW_INTERVAL_S and not final:
            return
        self._last_draw = now
        width = shutil.get_terminal_size((100, 20)).columns
        text = self._describe(event)
        if event.total:
            bar_width = 24
            filled = int(bar_width * min(event.step, event.total) / event.total)
            text = f"[{'#' * filled}{'.' * (bar_width - filled)}] " + text
        self.stream.write("\r" + text[: width - 1].ljust(width - 1))
        self.stream.flush()
        self._line_open = True

    def _describe(self, event: Progress) -> str:
        m = event.metrics
        if event.stage is Stage.PRETRAIN:   # total 0: a time budget still measuring the speed that sets it
            step = f"step {event.step}/{event.total}" if event.total else f"step {event.step} (measuring speed)"
            eta = "" if m.eta_s is None else f"  eta {int(m.eta_s) // 60}:{int(m.eta_s) % 60:02d}"
            return (f"{step}  loss {m.loss:.4f}{self._probe_figures()}  lr {m.lr:.2e}  "
                    f"{m.images_per_s:.0f} img/s  data {100 * m.data_wait:.0f}%  collapse {m.collapse:.3f}{eta}")
        if event.stage is Stage.FINETUNE:
            return f"fine-tune step {event.step}/{event.total}  loss {m.loss:.4f}  accuracy {m.accuracy:.0%}"
        if event.stage is Stage.PREDICT:
            return f"predict: {event.step}/{event.total} images  {m.images_per_s:.0f} img/s"
        if event.stage is Stage.EXPORT:
            return f"export: {event.step}/{event.total}  {m.current or 'done'}"
        if event.total:
            return f"{event.stage}: {event.step}/{event.total}"
        return f"{event.stage}: {event.step} files"

    def _probe_figures(self) -> str:
        """"  probe 81% (untrained 62%)" once a gain probe reported a figure, else ""."""
        if self._probe is None or self._probe.accuracy is None:
            return ""
        untrained = "n/a" if self._probe.untrained_accuracy is None else f"{self._probe.untrained_accuracy:.0%}"
        return f"  probe {self._probe.accuracy:.0%} (untrained {untrained})"

    def _print(self, text: str) -> None:
        self._end_line()
        print(text, file=self.stream, flush=True)

    def _end_line(self) -> None:
        if self._line_open:
            self.stream.write("\n")
            self.stream.flush()
            self._line_open = False

    def _on_interrupt(self, signum, frame) -> None:
        if self.cancel_token.cancelled:
            raise KeyboardInterrupt
        self.cancel_token.cancel()
        if not self.quiet:
            self._print("stopping after this step (Ctrl+C again to abort at once)…")
