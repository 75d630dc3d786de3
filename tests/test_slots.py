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


def test_work_deferred_by_a_callback_runs_on_the_same_thread_inside_the_next_call() -> None:
    """Size 1, two calls queued: what the first call's callback defers runs on that thread when the
    second call asks for it (``run_deferred``), not before; a callback off the pool is refused."""
    pool = SlotPool(1, "t")
    events: list[tuple[str, str]] = []
    gate = threading.Event()

    def first() -> str:
        gate.wait(10)
        return "first"

    def second() -> str:
        events.append(("second starts", threading.current_thread().name))
        pool.run_deferred()
        events.append(("second waits", threading.current_thread().name))
        return "second"

    def deferred() -> None:
        events.append(("deferred", threading.current_thread().name))

    f1 = pool.submit(1, first)
    f1.add_done_callback(lambda f: events.append(("taken", str(pool.defer(deferred)))))
    f2 = pool.submit(2, second)
    gate.set()
    assert f1.result(10) == "first" and f2.result(10) == "second"
    pool.shutdown()
    assert [e[0] for e in events] == ["taken", "second starts", "deferred", "second waits"]
    assert events[0][1] == "True"
    assert len({name for _, name in events[1:]}) == 1  # all on the one slot thread
    assert pool.defer(deferred) is False  # not on a thread of the pool


def test_deferred_work_runs_at_once_when_nothing_is_queued_and_after_a_call_that_never_asks() -> None:
    """Nothing queued: the thread runs what was deferred before it looks for more. A next call that
    never calls ``run_deferred`` (it failed early): the work runs when that call ends."""
    pool = SlotPool(1, "t")
    ran: list[str] = []
    done, start = threading.Event(), threading.Event()
    f = pool.submit(1, lambda: start.wait(10))
    f.add_done_callback(lambda _: pool.defer(lambda: (ran.append("after alone"), done.set())))
    start.set()
    assert done.wait(10) and ran == ["after alone"]

    gate, done2 = threading.Event(), threading.Event()

    def failing() -> None:
        raise RuntimeError("no command")

    f1 = pool.submit(2, lambda: gate.wait(10))
    f1.add_done_callback(lambda _: pool.defer(lambda: (ran.append("after the failed one"), done2.set())))
    f2 = pool.submit(3, failing)
    gate.set()
    assert done2.wait(10)
    assert isinstance(f2.exception(10), RuntimeError)
    pool.shutdown()
    assert ran == ["after alone", "after the failed one"]
