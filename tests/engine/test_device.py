"""One CPU thread for work made of many small operations; each thread gets its own count back."""
from __future__ import annotations

import threading

import torch

from engine.core.device import one_cpu_thread


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
