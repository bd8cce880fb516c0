"""One CPU thread for work made of many small operations; each thread gets its own count back."""
from __future__ import annotations

import threading

import pytest
import torch

from engine.core.device import one_cpu_thread
from engine.finetune.probe import fit_linear, knn_graph


def test_one_cpu_thread_sets_one_thread_and_restores_the_count_after_nested_use():
    before = torch.get_num_threads()
    with one_cpu_thread():
        assert torch.get_num_threads() == 1
        with one_cpu_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_overlapping_uses_from_two_threads_restore_each_threads_count():
    """A enters, B enters, A leaves, B leaves: both threads end with the count they began with."""
    torch.set_num_threads(max(2, torch.get_num_threads()))
    before = torch.get_num_threads()
    b_entered, a_left = threading.Event(), threading.Event()
    inside_b: list[int] = []
    after_b: list[int] = []

    def second():
        started_with = torch.get_num_threads()
        with one_cpu_thread():
            b_entered.set()
            a_left.wait(5)
            inside_b.append(torch.get_num_threads())
        after_b.append(torch.get_num_threads() == started_with)

    with one_cpu_thread():
        worker = threading.Thread(target=second)
        worker.start()
        assert b_entered.wait(5)
    a_left.set()
    worker.join(5)
    assert inside_b == [1]
    assert after_b == [True]
    assert torch.get_num_threads() == before


class ThreadSpy(torch.Tensor):
    """A tensor that records torch's thread count at every operation on it."""
    seen: set = set()

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.seen.add(torch.get_num_threads())
        return super().__torch_function__(func, types, args, kwargs or {})


@pytest.mark.parametrize("solve", [lambda x: knn_graph(x, 3), lambda x: fit_linear(x, torch.arange(20) % 2, 2)],
                         ids=["knn_graph", "fit_linear"])
def test_small_tensor_solvers_run_on_one_cpu_thread(solve):
    torch.set_num_threads(2)
    ThreadSpy.seen = set()
    solve(torch.nn.functional.normalize(torch.randn(20, 8), dim=1).as_subclass(ThreadSpy))
    assert ThreadSpy.seen == {1}
    assert torch.get_num_threads() == 2
