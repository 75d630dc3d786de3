"""``sf.bag``: wait for several tasks together, in a plain flow or an ``async`` one."""
from __future__ import annotations

import sys
from typing import Any, Iterable, Union

from .lightfuture import wait_each
from .task import Task


def bag(*tasks: Union[Task, Iterable[Task]]) -> Any:
    """Wait for several tasks together.

    In a plain flow it blocks until all are done and returns them (raising the
    first failure, in order). In an ``async`` flow it returns an awaitable.
    """
    flat: list[Task] = []
    for t in tasks:
        flat.extend(t if not isinstance(t, Task) else [t])
    for t in flat:
        t.start()
    remote = [t for t in flat if t._remote is not None]  # sent to the run from a task's script
    # A running event loop needs asyncio imported: a plain flow does not import it here (an import
    # searches the flow's folder first, and listing a folder of 200,000 files costs 20 MB).
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and _in_event_loop(asyncio):
        return asyncio.gather(*(t if t._remote is not None else asyncio.wrap_future(t) for t in flat))
    if remote:
        remote[0]._remote.wait(remote)  # one request for all of them
    wait_each(flat)  # passes over settled tasks; not ``wait(flat)``: a condition for every pending task at once
    return settled_results(flat)


def settled_results(tasks: list[Task]) -> list[Any]:
    """``[t.result() for t in tasks]`` for tasks known to be settled: the tasks, or the first
    failure in order raised. Read from the futures' final state directly: a no-op's ``sf.bag``
    of 100,000 cached tasks otherwise makes ten calls a task (``result()`` starts the task
    again, takes its condition and checks its state) to return what is already known."""
    for t in tasks:
        if t._exception is not None:
            return [t.result() for t in tasks]  # raises it, as result() does
    return [t._result for t in tasks]


def _in_event_loop(asyncio: Any) -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
