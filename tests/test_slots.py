"""The local executor's slot pool: N at a time, and a slot lent while its holder waits.

Real threads and real futures; no executor around them.
"""
from __future__ import annotations

import threading

from scriptflow.executors.slots import SlotPool


def test_at_most_size_calls_hold_a_slot() -> None:
    pool = SlotPool(2, "t")
    running, most, lock = [0], [0], threading.Lock()
    gate = threading.Event()

    def work() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        gate.wait(10)
        with lock:
            running[0] -= 1

    futures = [pool.submit(i, work) for i in range(6)]
    gate.set()
    for f in futures:
        f.result(10)
    pool.shutdown()
    assert most[0] <= 2


def test_a_call_that_lends_its_slot_lets_the_one_it_waits_for_run() -> None:
    """Size 1: the parent waits for a child queued after it; without lending this never ends."""
    pool = SlotPool(1, "t")
    order: list[str] = []

    def child() -> str:
        order.append("child")
        return "done"

    def parent() -> str:
        order.append("parent starts")
        future = pool.submit("child", child)
        pool.lend("parent")
        try:
            value = future.result(10)
        finally:
            pool.reclaim("parent")
        order.append("parent ends")
        return value

    assert pool.submit("parent", parent).result(20) == "done"
    pool.shutdown()
    assert order == ["parent starts", "child", "parent ends"]


def _until(predicate, what: str) -> None:
    import time

    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_a_reclaiming_call_goes_before_the_queue() -> None:
    pool = SlotPool(1, "t")
    release_child = threading.Event()
    events: list[str] = []

    def child() -> None:
        release_child.wait(10)
        events.append("child ends")

    def parent() -> None:
        child_future = pool.submit("child", child)
        pool.lend("parent")
        late = pool.submit("late", lambda: events.append("late runs"))
        _until(lambda: child_future.running(), "the child to start")
        # the child is released only once the parent waits to reclaim a slot
        def release_when_reclaiming() -> None:
            _until(lambda: pool._reclaiming == 1, "the reclaim")
            release_child.set()

        threading.Thread(target=release_when_reclaiming).start()
        pool.reclaim("parent")
        events.append("parent reclaimed")
        assert not late.running() and not late.done()

    pool.submit("parent", parent).result(20)
    pool.shutdown()
    assert events == ["child ends", "parent reclaimed", "late runs"]


def test_shutdown_cancels_what_is_queued_and_waits_for_what_runs() -> None:
    pool = SlotPool(1, "t")
    release = threading.Event()
    running = pool.submit("a", lambda: release.wait(10))
    queued = pool.submit("b", lambda: None)
    stopper = threading.Thread(target=pool.shutdown)
    stopper.start()
    _until(queued.cancelled, "the queued call to be cancelled")
    assert not running.done()
    release.set()
    stopper.join(10)
    assert running.result() is True
