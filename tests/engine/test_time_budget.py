"""A time budget sizes the schedule from the speed after warm-up, so the cosine reaches its floor."""
import time
from types import SimpleNamespace

import pytest

from engine import CancelToken, Finished, Preview, Progress, Stage, Started, Warning, run_pretraining
from engine.pretrain import loop as train_module
from tests.engine.run_helpers import tiny_config


@pytest.fixture
def clock(monkeypatch) -> dict:
    """The training loop's monotonic clock, moved by hand: ``clock["now"]`` seconds."""
    now = {"now": 0.0}
    monkeypatch.setattr(train_module, "time", SimpleNamespace(monotonic=lambda: now["now"],
                                                              perf_counter=time.perf_counter))
    return now


def test_slow_first_steps_do_not_cut_the_schedule_short(image_folder, tmp_path, clock):
    events = []

    def step_cost(step: int) -> float:     # steps 1-5 take 3 s each (warm-up), every later step 1 s
        return 3.0 if step <= 5 else 1.0

    def advance(event):
        """The clock moves by the next step's cost; the first preview comes just before step 1."""
        if isinstance(event, Progress) and event.stage is Stage.PRETRAIN:
            clock["now"] += step_cost(event.step + 1)
        elif isinstance(event, Preview) and not any(isinstance(e, Preview) for e in events):
            clock["now"] += step_cost(1)
        events.append(event)

    result = run_pretraining(tiny_config(image_folder, tmp_path, minutes=0.5, epochs=1), on_event=advance)
    # 15 s of warm-up, then 15 steps in the 15 s left; a plan from the warm-up speed alone stops at 10
    assert result.status == "completed" and result.step == 20
    lrs = [e.metrics.lr for e in events if isinstance(e, Progress) and e.stage is Stage.PRETRAIN]
    assert lrs[-1] < 0.05 * max(lrs)


def test_a_budget_that_ends_before_one_pass_says_so_and_still_saves_the_backbone(image_folder, tmp_path, clock):
    events = []

    def advance(event):     # every step takes 10 s: the 30 s budget ends at the first budget check, step 5
        if isinstance(event, (Progress, Preview)) and getattr(event, "stage", Stage.PRETRAIN) is Stage.PRETRAIN:
            clock["now"] += 10.0
        events.append(event)

    result = run_pretraining(tiny_config(image_folder, tmp_path, minutes=0.5, batch_size=2), on_event=advance)
    warnings = [e.message for e in events if isinstance(e, Warning)]
    assert result.status == "completed" and result.step == 5 and result.backbone_path
    assert any("0.5-minute budget ran out after 5 of the 12 steps of one pass" in w and "One pass takes about 2 min"
               in w for w in warnings), warnings


def test_a_budget_of_several_passes_gives_no_such_warning(image_folder, tmp_path):
    events = []
    run_pretraining(tiny_config(image_folder, tmp_path, minutes=0.05, batch_size=12), on_event=events.append)
    assert not [e for e in events if isinstance(e, Warning) and "budget ran out" in e.message]


def test_a_long_cpu_budget_is_advised_against_and_the_run_still_trains(image_folder, tmp_path, monkeypatch):
    from engine.pretrain import auto

    monkeypatch.setattr(auto, "LONG_CPU_MINUTES", 0.01)     # so that a 0.02-minute run counts as long
    events = []
    result = run_pretraining(tiny_config(image_folder, tmp_path, minutes=0.02, backbone="auto"),
                             on_event=events.append)
    assert result.status == "completed" and result.backbone_path
    assert [e.message for e in events if isinstance(e, Warning) and "hours add little" in e.message]


def test_no_event_gives_the_epoch_cap_as_the_total_while_the_speed_is_measured(image_folder, tmp_path, clock):
    events = []

    def advance(event):     # every step takes 1 s (the first preview comes just before step 1): 30 steps in 30 s
        if isinstance(event, Progress) and event.stage is Stage.PRETRAIN or (
                isinstance(event, Preview) and not any(isinstance(e, Preview) for e in events)):
            clock["now"] += 1.0
        events.append(event)

    result = run_pretraining(tiny_config(image_folder, tmp_path, minutes=0.5), on_event=advance)
    assert result.status == "completed" and result.total_steps == result.step == 30
    started = [e.total for e in events if isinstance(e, Started) and e.stage is Stage.PRETRAIN]
    progress = [e for e in events if isinstance(e, Progress) and e.stage is Stage.PRETRAIN]
    measuring = [e.step for e in progress if e.total == 0]
    assert started == [0] and measuring == list(range(1, train_module.MIN_STEPS_BEFORE_BUDGET))
    assert all(e.metrics.eta_s is None for e in progress if e.total == 0)
    assert max(e.total for e in progress) == result.step
    assert [e.info.total_steps for e in events if isinstance(e, Finished) and e.stage is Stage.PRETRAIN] == [30]


def test_a_budget_run_stopped_while_measuring_the_speed_reports_no_total(image_folder, tmp_path):
    cancel = CancelToken()
    events = []

    def stop_at_step_2(event):
        if isinstance(event, Progress) and event.stage is Stage.PRETRAIN and event.step == 2:
            cancel.cancel()
        events.append(event)

    result = run_pretraining(tiny_config(image_folder, tmp_path, minutes=5), on_event=stop_at_step_2,
                             cancel=cancel)
    finished = [e.info for e in events if isinstance(e, Finished) and e.stage is Stage.PRETRAIN]
    assert (result.status, result.step, result.total_steps) == ("cancelled", 2, 0)
    assert [(info.step, info.total_steps) for info in finished] == [(2, 0)]
