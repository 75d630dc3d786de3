"""A task's future makes its condition only when a thread waits (core/lightfuture.py), and still
behaves as a ``concurrent.futures.Future`` for every way a flow waits on it.

These are real futures and real threads; no engine is needed to settle a future.
"""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, InvalidStateError, as_completed, wait

import pytest

from scriptflow.core.lightfuture import SETTLED, LightFuture, wait_each


def test_future_internals_are_those_lightfuture_replaces() -> None:
    """If a Python version changes what Future.__init__ sets, this fails instead of tasks misbehaving."""
    assert set(vars(Future())) == {"_condition", "_state", "_result", "_exception", "_waiters", "_done_callbacks"}
    light = LightFuture()
    assert set(vars(light)) == {"_light_condition", "_state", "_result", "_exception"}
    assert light._waiters == [] and light._done_callbacks == []  # made when first asked for
    assert light._waiters is light._waiters and set(vars(light)) >= {"_light_waiters", "_light_callbacks"}


def test_waiters_and_callbacks_are_made_once_whichever_thread_asks_first() -> None:
    for _ in range(200):
        f = LightFuture()
        seen: list[list] = []
        threads = [threading.Thread(target=lambda f=f, seen=seen: seen.append(f._waiters)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(found is seen[0] for found in seen)


def test_settled_untouched_future_never_made_a_condition() -> None:
    f = LightFuture()
    f.set_result(42)
    assert f._light_condition is None
    assert f._condition is SETTLED
    assert f.done() and f.result() == 42 and f.exception() is None
    with pytest.raises(InvalidStateError):
        f.set_result(1)
    g = LightFuture()
    g.set_exception(ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        g.result()
    with pytest.raises(InvalidStateError):
        g.set_exception(ValueError("again"))


def _settle_later(f: LightFuture, delay: float, value: object = "v", exc: BaseException | None = None) -> None:
    def go() -> None:
        time.sleep(delay)
        if exc is not None:
            f.set_exception(exc)
        else:
            f.set_result(value)
    threading.Thread(target=go).start()


def test_waiters_on_a_pending_future_are_woken() -> None:
    f = LightFuture()
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(f.result(timeout=10))) for _ in range(5)]
    for t in threads:
        t.start()
    _settle_later(f, 0.2)
    for t in threads:
        t.join(10)
    assert results == ["v"] * 5
    assert f._light_condition is None  # dropped once settled
    assert f.result() == "v"


def test_wait_as_completed_and_callbacks() -> None:
    fs = [LightFuture() for _ in range(20)]
    fs[0].set_result(0)  # one settled before anyone looked
    for i, f in enumerate(fs[1:], 1):
        _settle_later(f, 0.01 * i, i)
    done, _ = wait(fs, timeout=10, return_when=FIRST_COMPLETED)
    assert fs[0] in done
    assert sorted(f.result() for f in as_completed(fs, timeout=10)) == list(range(20))
    done, pending = wait(fs, timeout=10)
    assert not pending and len(done) == 20
    seen: list[object] = []
    late = LightFuture()
    late.add_done_callback(lambda f: seen.append(("pending", f.result())))
    late.set_result("x")
    late.add_done_callback(lambda f: seen.append(("settled", f.result())))
    assert seen == [("pending", "x"), ("settled", "x")]


def test_exception_reaches_a_waiting_thread_and_asyncio() -> None:
    f = LightFuture()
    _settle_later(f, 0.1, exc=RuntimeError("late"))
    with pytest.raises(RuntimeError, match="late"):
        f.result(timeout=10)

    async def main() -> object:
        g = LightFuture()
        _settle_later(g, 0.1, "async")
        return await asyncio.wrap_future(g)

    assert asyncio.run(main()) == "async"


def test_timeout_on_a_pending_future() -> None:
    from concurrent.futures import TimeoutError as FutureTimeout
    f = LightFuture()
    with pytest.raises(FutureTimeout):
        f.result(timeout=0.05)
    f.set_result(1)
    assert f.result(timeout=0) == 1


def test_many_threads_race_settling_and_waiting() -> None:
    """Settling while threads start waiting: every waiter returns, none hangs."""
    for _ in range(200):
        f = LightFuture()
        out: list[object] = []
        waiters = [threading.Thread(target=lambda f=f, out=out: out.append(f.result(timeout=10)))
                   for _ in range(3)]
        for t in waiters:
            t.start()
        f.set_result("r")
        for t in waiters:
            t.join(10)
            assert not t.is_alive()
        assert out == ["r"] * 3


def test_wait_each_makes_one_condition_at_a_time_and_returns_when_all_are_done() -> None:
    """``sf.bag`` waits with ``wait_each``: at most the future being waited for has a condition
    (``concurrent.futures.wait`` took all of them at once), and it returns only after the last."""
    futures = [LightFuture() for _ in range(200)]
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (wait_each(futures), done.set()))
    waiter.start()
    # Waited for from the last one: that one makes its condition.
    deadline = time.monotonic() + 10
    while futures[-1]._light_condition is None and time.monotonic() < deadline:
        time.sleep(0.001)
    for i, future in enumerate(futures):  # settled in order, as tasks mostly end
        made = sum(f._light_condition is not None for f in futures)
        assert made <= 1, f"{made} conditions while {i} of {len(futures)} futures were settled"
        assert not done.is_set()
        future.set_result(i) if i % 3 else future.set_exception(ValueError(i))
    waiter.join(10)
    assert done.is_set() and not waiter.is_alive()
    assert all(f._light_condition is None for f in futures)


def test_wait_each_takes_settled_cancelled_and_plain_futures() -> None:
    plain, cancelled, settled = Future(), Future(), LightFuture()
    cancelled.cancel()
    settled.set_result(1)
    threading.Timer(0.05, plain.set_result, (2,)).start()
    wait_each([plain, cancelled, settled])
    assert plain.result() == 2 and cancelled.cancelled() and settled.result() == 1
