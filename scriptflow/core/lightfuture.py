"""A ``concurrent.futures.Future`` that makes its ``threading.Condition`` only when a thread waits.

A task is a ``Future`` (``wait``, ``as_completed``, ``asyncio.wrap_future`` and
``result()`` all work on it), and ``Future.__init__`` builds a
``threading.Condition`` for every instance: an RLock, a deque and five bound
methods, about 1.2 KB and a few microseconds each, the largest object of a task
(120 MB for a flow of 100,000 tasks). Most tasks are never waited on while
they are pending: a cached task is settled inside its own ``start()``, and
flows wait for them afterwards, when their state is final.

So the condition is made on first use while the task is pending (under one
module lock, so every thread gets the same one), and dropped once the task
is settled. A settled future's state never changes again: the lock only
guarded reads of final values, and nothing waits on it, so a finished task
hands out ``SETTLED``, a condition that never blocks. Settling a task nobody
ever looked at takes the module lock, sets the state and returns: nothing to
notify, no callback (adding a waiter or a callback goes through the condition,
which would then exist).

This relies on ``Future``'s attributes (``_condition``, ``_state``,
``_result``, ``_exception``, ``_waiters``, ``_done_callbacks``), the same from
Python 3.8 to 3.13; ``tests/test_lightfuture.py`` checks them.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, InvalidStateError
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, PENDING
from typing import Any, Iterable, Optional

#: Makes conditions and settles untouched futures, so that both see one consistent state.
_MAKING = threading.Lock()


class _Settled:
    """The condition of a finished future: its state is final, nothing to wait for or guard."""

    def __enter__(self) -> bool:
        return True

    def __exit__(self, *exc: Any) -> None:
        return None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return True

    def release(self) -> None:
        pass

    def wait(self, timeout: Optional[float] = None) -> bool:
        return True

    def wait_for(self, predicate: Any, timeout: Optional[float] = None) -> Any:
        return predicate()

    def notify(self, n: int = 1) -> None:
        pass

    def notify_all(self) -> None:
        pass


SETTLED = _Settled()


class LightFuture(Future):
    """``Future`` whose condition exists only while a thread may wait on it (module docstring)."""

    def __init__(self) -> None:  # Future.__init__ without its Condition
        self._light_condition: Optional[threading.Condition] = None
        self._state = PENDING
        self._result = None
        self._exception: Optional[BaseException] = None

    # ``Future``'s list of waiters (``wait``, ``as_completed``) and of done-callbacks, each made on
    # first use too: a settled task nobody waited on never needs them (112 bytes a task).
    _light_waiters: Optional[list[Any]] = None
    _light_callbacks: Optional[list[Any]] = None

    def _made(self, name: str) -> list[Any]:
        """The list kept in attribute ``name``, made under the module lock on first use."""
        found = getattr(self, name)
        if found is None:
            with _MAKING:
                found = getattr(self, name)
                if found is None:
                    found = []
                    setattr(self, name, found)
        return found

    _waiters = property(lambda self: self._made("_light_waiters"),
                        lambda self, value: setattr(self, "_light_waiters", value))
    _done_callbacks = property(lambda self: self._made("_light_callbacks"),
                               lambda self, value: setattr(self, "_light_callbacks", value))

    @property
    def _condition(self) -> Any:
        found = self._light_condition
        if found is not None:
            return found
        if self._state == FINISHED:  # final: no lock needed to hand out SETTLED (``wait`` asks every future)
            return SETTLED
        with _MAKING:
            found = self._light_condition
            if found is None:
                if self._state == FINISHED:
                    return SETTLED
                found = self._light_condition = threading.Condition()
            return found

    @_condition.setter
    def _condition(self, value: Any) -> None:  # Future's own code never sets it after __init__
        self._light_condition = value

    def _settle_untouched(self, result: Any, exception: Optional[BaseException]) -> bool:
        """Settle at once if no thread ever took the condition (so none waits, no callback)."""
        with _MAKING:
            if self._light_condition is not None:
                return False
            state = self._state
            if state == PENDING:
                self._result, self._exception = result, exception
                self._state = FINISHED
                return True
        raise InvalidStateError(f"{state}: {self!r}")  # outside the lock: repr() takes the condition

    def set_result(self, result: Any) -> None:
        if not self._settle_untouched(result, None):
            super().set_result(result)
            self._light_condition = None  # settled: SETTLED from now on

    def set_exception(self, exception: Optional[BaseException]) -> None:
        if not self._settle_untouched(None, exception):
            super().set_exception(exception)
            self._light_condition = None


#: A future's states once nothing changes it any more.
_DONE = (FINISHED, CANCELLED, CANCELLED_AND_NOTIFIED)


def wait_each(futures: Iterable[Future]) -> None:
    """Return once every one of ``futures`` is done, waiting for them one after the other.

    ``concurrent.futures.wait(futures)`` takes the condition of every pending future at once and
    adds a waiter to each, so a flow that waits for all its tasks (``sf.bag``) made every pending
    task build its condition (about 1.2 KB) and its waiter list (which also grows the task's
    ``__dict__``) while the fan-out ran. Waiting in turn makes one condition at a time; the wait
    ends when the last future is done, as before, and a future settled meanwhile costs nothing.
    They are waited for from the last one: tasks mostly end in the order they were started, so
    the waiting thread usually wakes once or a few times, not once per task.
    """
    for future in reversed(list(futures)):
        if future._state in _DONE:
            continue
        condition = future._condition  # SETTLED once it is done: then wait_for returns at once
        with condition:
            condition.wait_for(lambda: future._state in _DONE)  # noqa: B023 - used before the next turn
