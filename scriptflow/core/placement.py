"""Where a ready task is decided: on the thread that released it, or in the prepare pool.

Deciding a task whose files the stat cache vouches for is about 50 µs of
Python; handing it to a pool thread costs more than that in hand-offs, locks
and GIL switches (on 2 cores, 1 to 19 context switches per task). So a task
is decided where it became ready (the flow thread that started it, or the
thread that finished its last dependency) when every file it must look at is
vouched for by the stat cache or small; a task with big or unknown files
(a directory) goes to the pool, where hashing runs beside other work.
"""
from __future__ import annotations

import threading
from typing import Callable, Generic, Optional, TypeVar

from .fingerprint import FileHasher
from .spec import TaskSpec

#: A ready task whose files need at most this many bytes read is decided where it was released.
INLINE_READ_BYTES = 1 << 20

T = TypeVar("T")


def cheap_to_decide(hasher: FileHasher, spec: TaskSpec) -> bool:
    """Whether deciding ``spec`` reads at most ``INLINE_READ_BYTES`` and no directory."""
    budget = INLINE_READ_BYTES
    for path in (*spec.input_abs.values(), *spec.output_abs.values()):
        cost = hasher.unread_bytes(path)
        if cost < 0:
            return False
        budget -= cost
        if budget < 0:
            return False
    return True


class RunHere(Generic[T]):
    """Runs ``fn(item)`` on the calling thread; an item handed in while this thread is already
    inside ``fn`` waits in that thread's queue until it returns, so a long chain of tasks, each
    releasing the next, is a loop rather than a recursion that would overflow the stack."""

    def __init__(self, fn: Callable[[T], None]) -> None:
        self._fn = fn
        self._local = threading.local()

    def __call__(self, item: T) -> None:
        queue: Optional[list[T]] = getattr(self._local, "queue", None)
        if queue is not None:
            queue.append(item)
            return
        queue = self._local.queue = [item]
        try:
            while queue:
                self._fn(queue.pop())
        finally:
            self._local.queue = None
