"""At most N attempts at a time, with slots an attempt can lend while it waits.

A thread pool of N threads would do for "N at a time", but a task whose
script creates tasks of the run and waits for them (README, "Tasks that
create tasks") must not hold its slot meanwhile: at ``-j 1`` its children
would never start. So the limit is a counter apart from the threads: each
attempt runs on a thread of its own once it holds a slot (a thread that
finishes an attempt runs the next queued one, so a fan-out starts few threads), ``lend(key)``
gives its slot back while it waits and ``reclaim(key)`` takes one again
(ahead of attempts still queued) before it carries on.
"""
from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future
from typing import Any, Callable, Hashable, Optional

#: A queued call: its key, its future, the function and its arguments.
_Job = tuple[Hashable, Future, Callable[..., Any], tuple[Any, ...]]


class SlotPool:
    """Runs ``fn(*args)`` calls on threads of their own, at most ``size`` of them holding a slot;
    a thread whose call ended runs the next queued one."""

    def __init__(self, size: int, thread_name: str) -> None:
        self._size = size
        self._name = thread_name
        self._cond = threading.Condition()
        self._free = size
        self._queue: deque[_Job] = deque()
        #: key -> 1 while its call holds a slot, 0 while it lends it
        self._held: dict[Hashable, int] = {}
        #: key -> how many waits of its call are in progress (a script may wait from several threads)
        self._waits: dict[Hashable, int] = {}
        self._reclaiming = 0
        self._threads: set[threading.Thread] = set()
        self._closed = False
        self._count = 0

    def submit(self, key: Hashable, fn: Callable[..., Any], *args: Any) -> "Future[Any]":
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._queue.append((key, future, fn, args))
            self._dispatch()
        return future

    def _take(self) -> "Optional[_Job]":
        """The next queued call that may start now (a reclaiming waiter goes first), its slot
        taken; None if none may. Lock held."""
        while self._queue and self._free > self._reclaiming:
            job = self._queue.popleft()
            if not job[1].set_running_or_notify_cancel():
                continue
            self._free -= 1
            self._held[job[0]] = 1
            return job
        return None

    def _dispatch(self) -> None:
        """Start queued calls on new threads while slots are free. Lock held."""
        while (job := self._take()) is not None:
            self._count += 1
            thread = threading.Thread(target=self._work, args=(job,), name=f"{self._name}_{self._count}",
                                      daemon=True)
            self._threads.add(thread)
            thread.start()

    def _work(self, job: "Optional[_Job]") -> None:
        """Run calls until none may start: a thread that ends a call takes the next queued one
        itself (starting a thread per call cost about a tenth of a fan-out's time)."""
        while job is not None:
            key, future, fn, args = job
            try:
                try:
                    result = fn(*args)
                except BaseException as exc:  # noqa: BLE001 - handed to the future, as a thread pool does
                    future.set_exception(exc)
                else:
                    future.set_result(result)  # callbacks run first: they may stop the run before the next starts
            finally:
                with self._cond:
                    if self._held.pop(key, 0):
                        self._free += 1
                    self._waits.pop(key, None)
                    job = self._take()
                    if job is None:
                        self._threads.discard(threading.current_thread())
                    self._dispatch()
                    self._cond.notify_all()

    def lend(self, key: Hashable) -> None:
        """The call ``key`` waits for others: its slot is free until ``reclaim(key)``."""
        with self._cond:
            if key not in self._held:
                return
            waits = self._waits.get(key, 0)
            self._waits[key] = waits + 1
            if waits == 0 and self._held[key] == 1:
                self._held[key] = 0
                self._free += 1
                self._dispatch()
                self._cond.notify_all()

    def reclaim(self, key: Hashable) -> None:
        """The wait of ``key`` is over: block until it holds a slot again (or has ended)."""
        with self._cond:
            if key not in self._held or key not in self._waits:
                return
            self._waits[key] -= 1
            if self._waits[key] > 0 or self._held[key] == 1:
                return
            self._reclaiming += 1
            try:
                self._cond.wait_for(lambda: self._free > 0 or key not in self._held)
            finally:
                self._reclaiming -= 1
            if key in self._held:
                self._free -= 1
                self._held[key] = 1
            self._dispatch()

    def shutdown(self) -> None:
        """Cancel what is queued and wait for what runs."""
        with self._cond:
            self._closed = True
            while self._queue:
                self._queue.popleft()[1].cancel()
            threads = list(self._threads)
        for thread in threads:
            thread.join()
