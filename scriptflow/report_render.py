"""Drawing a lineage: a rich tree for people, a table, Graphviz DOT, and JSON.

Apart from ``report`` so the queries stay testable without any output
library, and so that ``--json`` and ``--dot`` never import rich or tabulate.
"""
from __future__ import annotations

import json
import shlex
from typing import IO, Optional

from .report import FileNode, Lineage, TaskNode

SHORT = 12


def command_text(node: TaskNode) -> str:
    """The command as one line that pastes back into a shell (argv quoted; shell strings verbatim)."""
    if node.shell or isinstance(node.command, str):
        return str(node.command)
    return shlex.join(str(part) for part in node.command)


def short_hash(sha: Optional[str]) -> str:
    if not sha:
        return "-"
    prefix = "dir:" if sha.startswith("dir:") else ""
    return prefix + sha[len(prefix):][:SHORT]


def human_size(size: Optional[int]) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def human_duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def _when(stamp: Optional[str]) -> str:
    return stamp[:19].replace("T", " ") if stamp else "-"


def state_text(node: FileNode) -> str:
    """What the file on disk is today compared with the recorded bytes."""
    if node.state == "unchanged":
        return "unchanged"
    if node.state == "deleted":
        return "DELETED since"
    return f"MODIFIED since (now {short_hash(node.current_sha256)})"


def origin_text(node: FileNode, lineage: Lineage) -> str:
    if node.origin == "source":
        return "source (no task made it)"
    if node.origin == "edited":
        return "edited outside scriptflow (no task wrote these bytes)"
    if node.producer is not None and lineage.task(node.producer.attempt_id) is None:
        return f"made by {node.producer.uid} (run {node.producer.run_id}; beyond --depth)"
    return ""


def task_heading(node: TaskNode) -> str:
    run = f"run {node.run_id}" + (f" ({node.run_name})" if node.run_name else "")
    return f"{node.uid}  {run}, attempt {node.attempt}, exit {node.exit_code}, {human_duration(node.duration_seconds)}"


def task_details(node: TaskNode) -> str:
    where = f"{node.executor}" + (f" job {node.job_id}" if node.job_id else "") + f" on {node.host or '?'}"
    return f"cwd {node.cwd} · {where} · {_when(node.started_at)} → {_when(node.ended_at)} UTC"


# -- tree ------------------------------------------------------------------------------------


def render_tree(lineage: Lineage, stream: Optional[IO[str]] = None) -> None:
    """The default output: the file, its producer, and recursively each input and its producer."""
    from rich.console import Console
    from rich.text import Text
    from rich.tree import Tree

    console = Console(file=stream, highlight=False, soft_wrap=True)
    shown: set[int] = set()

    def file_label(node: FileNode, extra: str = "") -> Text:
        label = Text()
        label.append(node.path, style="bold")
        label.append(f"  {short_hash(node.sha256)}  {human_size(node.size)}  ")
        label.append(state_text(node), style="green" if node.state == "unchanged" else "bold red")
        origin = origin_text(node, lineage)
        if origin:
            label.append(f"  {origin}", style="yellow" if node.origin != "task" else "dim")
        if extra:
            label.append(f"  {extra}", style="dim")
        return label

    def add_task(parent: Tree, attempt_id: int) -> None:
        node = lineage.task(attempt_id)
        if node is None:
            return
        if attempt_id in shown:
            parent.add(Text(f"{node.uid}  run {node.run_id}, attempt {node.attempt} (shown above)", style="dim"))
            return
        shown.add(attempt_id)
        label = Text()
        label.append(node.uid, style="bold cyan")
        label.append(task_heading(node)[len(node.uid):])
        label.append(f"\n$ {command_text(node)}")
        label.append(f"\n{task_details(node)}", style="dim")
        branch = parent.add(label)
        if not node.inputs:
            branch.add(Text("no inputs", style="dim"))
        for item in node.inputs:
            child = branch.add(file_label(item))
            if item.producer is not None:
                add_task(child, item.producer.attempt_id)

    when = f"as of run {lineage.as_of_run}; " if lineage.as_of_run is not None else ""
    root = Tree(file_label(lineage.file, f"({when}recorded by run {lineage.recorded_in_run})"))
    if lineage.file.producer is not None:
        add_task(root, lineage.file.producer.attempt_id)
    console.print(root)


# -- table -----------------------------------------------------------------------------------


def render_table(lineage: Lineage) -> str:
    """One row per task of the lineage, nearest first (tabulate)."""
    from tabulate import tabulate

    rows = []
    for node in lineage.tasks:
        rows.append([node.depth, node.uid, node.run_id, node.attempt, node.exit_code,
                     human_duration(node.duration_seconds), _when(node.started_at), node.host or "-",
                     node.executor + (f" {node.job_id}" if node.job_id else ""),
                     ", ".join(i.path for i in node.inputs) or "-", command_text(node)])
    headers = ["depth", "task", "run", "attempt", "exit", "duration", "started (UTC)", "host", "executor",
               "inputs", "command"]
    return tabulate(rows, headers=headers, tablefmt="simple")


# -- DOT ----------------------------------------------------------------------------------------


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def file_id(node: FileNode) -> str:
    return f"file:{node.path}@{short_hash(node.sha256)}"


def task_id(attempt_id: int) -> str:
    return f"task:{attempt_id}"


def render_dot(lineage: Lineage) -> str:
    """Graphviz DOT: files are notes, tasks are boxes, edges run input → task → output."""
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    declared: set[str] = set()
    edges: set[str] = set()

    def file_node(node: FileNode) -> str:
        ident = file_id(node)
        if ident not in declared:
            declared.add(ident)
            label = f"{node.path}\n{short_hash(node.sha256)}"
            attrs = ["shape=note"]
            if node.state != "unchanged":
                label += f"\n{node.state} since"
                attrs.append("color=red")
            if node.origin != "task":
                label += f"\n{node.origin}"
                attrs.append("style=dashed")
            lines.append(f"  {_q(ident)} [{', '.join(attrs)}, label={_q(label)}];")
        return ident

    root = file_node(lineage.file)
    for node in lineage.tasks:
        label = f"{node.uid}\nrun {node.run_id}, attempt {node.attempt}\nexit {node.exit_code}"
        lines.append(f"  {_q(task_id(node.attempt_id))} [shape=box, style=rounded, label={_q(label)}];")
    if lineage.file.producer is not None and lineage.task(lineage.file.producer.attempt_id):
        lines.append(f"  {_q(task_id(lineage.file.producer.attempt_id))} -> {_q(root)};")
    for node in lineage.tasks:
        for item in node.inputs:
            ident = file_node(item)
            lines.append(f"  {_q(ident)} -> {_q(task_id(node.attempt_id))};")
            if item.producer is not None and lineage.task(item.producer.attempt_id):
                edge = f"  {_q(task_id(item.producer.attempt_id))} -> {_q(ident)};"
                if edge not in edges:
                    edges.add(edge)
                    lines.append(edge)
    lines.append("}")
    return "\n".join(lines)


def render_json(lineage: Lineage) -> str:
    return json.dumps(lineage.to_json(), indent=2, sort_keys=False)

