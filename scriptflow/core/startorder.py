"""The order in which ``Task.start()`` starts a task's not yet started dependencies.

An iterative depth-first walk: linear in the number of edges, no recursion limit, and a cycle
is reported with its path (``a -> b -> a``) instead of a RecursionError. Kept apart from
``task.py`` so that the walk reads on its own; it knows tasks only through ``deps``.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from ..errors import TaskDefinitionError


def dependency_order(root: Any, deps: Callable[[Any], Iterable[Any]]) -> list[Any]:
    """``root`` and every task reachable through ``deps`` (its not yet started dependencies),
    dependencies first; raises ``TaskDefinitionError`` naming a cycle's tasks (``.name``)."""
    order: list[Any] = []
    done: set[int] = set()
    on_path: dict[int, int] = {id(root): 0}  # id(task) -> index in path
    path: list[Any] = [root]
    stack: list[tuple[Any, Iterator[Any]]] = [(root, iter(deps(root)))]
    while stack:
        task, pending = stack[-1]
        for item in pending:
            if id(item) in done:
                continue
            if id(item) in on_path:
                cycle = path[on_path[id(item)]:] + [item]
                names = " -> ".join(t.name for t in cycle)
                raise TaskDefinitionError(f"task {cycle[0].name}: dependency cycle: {names}")
            on_path[id(item)] = len(path)
            path.append(item)
            stack.append((item, iter(deps(item))))
            break
        else:
            stack.pop()
            path.pop()
            del on_path[id(task)]
            done.add(id(task))
            order.append(task)
    return order
