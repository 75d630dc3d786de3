"""Dependencies first: the order in which ``Task.start()`` starts a task's not yet started
dependencies, and in which a TOML flow starts its tasks (``run/taskfile.py``).

An iterative depth-first walk: linear in the number of edges, no recursion limit, and a cycle
is reported with its path (``a -> b -> a``) instead of a RecursionError. It knows its items only
through ``deps`` and ``key``.
"""
from __future__ import annotations

from typing import Callable, Hashable, Iterable, Iterator, NoReturn, Optional, TypeVar

from ..errors import TaskDefinitionError

T = TypeVar("T")


def _task_cycle(cycle: list) -> NoReturn:
    names = " -> ".join(t.name for t in cycle)
    raise TaskDefinitionError(f"task {cycle[0].name}: dependency cycle: {names}")


def dependency_order(roots: Iterable[T], deps: Callable[[T], Iterable[T]], key: Callable[[T], Hashable] = id,
                     on_cycle: Optional[Callable[[list[T]], NoReturn]] = None) -> list[T]:
    """Every root and every item reachable from it through ``deps``, each once (``key`` tells
    items apart: ``id`` for tasks), dependencies first, roots in their order. A cycle calls
    ``on_cycle(path)`` (``a, b, a``), which raises; by default a ``TaskDefinitionError``
    naming the tasks (``.name``)."""
    cycle_error = on_cycle or _task_cycle
    order: list[T] = []
    done: set[Hashable] = set()
    for root in roots:
        if key(root) in done:
            continue
        on_path: dict[Hashable, int] = {key(root): 0}  # key -> index in path
        path: list[T] = [root]
        stack: list[Iterator[T]] = [iter(deps(root))]
        while stack:
            for item in stack[-1]:
                k = key(item)
                if k in done:
                    continue
                if k in on_path:
                    cycle_error(path[on_path[k]:] + [item])
                on_path[k] = len(path)
                path.append(item)
                stack.append(iter(deps(item)))
                break
            else:
                stack.pop()
                finished = path.pop()
                del on_path[key(finished)]
                done.add(key(finished))
                order.append(finished)
    return order
