"""Garbage made in worker threads is collected in the GUI thread, never in the worker."""
from __future__ import annotations

import gc
import threading
import weakref

from desktop.shell.gui_thread_gc import GuiThreadGarbageCollector


class Node:
    """One half of a reference cycle."""

    def __init__(self) -> None:
        self.other = None


def make_cycles(count: int, keep: list) -> None:
    """``count`` two-node cycles nobody references; a weak reference to the last is kept."""
    for _ in range(count):
        a, b = Node(), Node()
        a.other, b.other = b, a
    keep.append(weakref.ref(a))


def test_cycles_made_in_a_worker_are_collected_in_the_gui_thread(qtbot, gui_thread_gc):
    collecting_threads = []

    def record(phase, _info):
        if phase == "start":
            collecting_threads.append(threading.current_thread())

    gc.callbacks.append(record)
    try:
        assert not gc.isenabled()
        survivors: list = []
        worker = threading.Thread(target=make_cycles, args=(50 * gc.get_threshold()[0], survivors))
        worker.start()
        worker.join()
        assert survivors[0]() is not None and worker not in collecting_threads
        qtbot.waitUntil(lambda: survivors[0]() is None, timeout=5_000)
    finally:
        gc.callbacks.remove(record)
    assert set(collecting_threads) == {threading.main_thread()}


def test_a_full_collection_waits_for_its_interval(qtbot, monkeypatch):
    collector = GuiThreadGarbageCollector(interval_ms=60_000)
    try:
        generations = []
        monkeypatch.setattr(gc, "collect", lambda generation=2: generations.append(generation) or 0)
        monkeypatch.setattr(gc, "get_count", lambda: (800, 11, 11))
        collector.collect_due()
        assert generations == [1]                   # a full one was due, but the last was just now
        monkeypatch.setattr("desktop.shell.gui_thread_gc.FULL_EVERY_S", 0.0)
        collector.collect_due()
        assert generations == [1, 2]
    finally:
        collector.stop()
        collector.deleteLater()


def test_stopping_turns_automatic_collection_back_on_as_it_was():
    gc.enable()
    try:
        collector = GuiThreadGarbageCollector()
        assert not gc.isenabled()
        inner = GuiThreadGarbageCollector()
        inner.stop()
        assert not gc.isenabled()        # the outer collector still collects
        collector.stop()
        assert gc.isenabled()
    finally:
        gc.disable()                     # as this test package's collector left it
