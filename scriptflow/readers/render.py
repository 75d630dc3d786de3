"""Drawing a lineage: a rich tree for people, a table, Graphviz DOT, and JSON.

Apart from ``report`` so the queries stay testable without any output
library, and so that ``--json`` and ``--dot`` never import rich or tabulate.
"""
from __future__ import annotations

import json
import shlex
from typing import IO, Optional

from ..clock import format_duration, format_timestamp
from .report import FileNode, Lineage, TaskNode

SHORT = 12


def quote(arg: str) -> str:
    """POSIX shell quoting that prefers "..." for arguments holding single quotes (python -c code)."""
    quoted = shlex.quote(arg)
    if quoted == arg or "'" not in arg or any(c in arg for c in '"$`\\!'):
        return quoted
    return f'"{arg}"'


def command_text(node: TaskNode) -> str:
    """The command as one line that pastes back into a shell (argv quoted; shell strings verbatim)."""
    if node.shell or isinstance(node.command, str):
        return str(node.command)
    return " ".join(quote(str(part)) for part in node.command)


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
    if node.origin == "adopted":
        return node.note or "adopted (made outside scriptflow)"
    if node.producer is not None and lineage.task(node.producer.attempt_id) is None:
        return f"made by {node.producer.uid} (run {node.producer.run_id}; beyond --depth)"
    return ""


def task_heading(node: TaskNode) -> str:
    run = f"run {node.run_id}" + (f" ({node.run_name})" if node.run_name else "")
    return f"{node.uid}  {run}, attempt {node.attempt}, exit {node.exit_code}, {format_duration(node.duration_seconds)}"


def task_details(node: TaskNode) -> str:
    where = f"{node.executor}" + (f" job {node.job_id}" if node.job_id else "") + f" on {node.host or '?'}"
    start, end = format_timestamp(node.started_at), format_timestamp(node.ended_at)
    if start[:10] == end[:10]:
        end = end[11:]
    shell = " | through /bin/sh (the command has shell syntax)" if node.shell_auto else ""
    parent = f" | created by task {node.created_by}" if node.created_by else ""
    return f"cwd {node.cwd} | {where} | {start} -> {end} UTC{shell}{container_text(node, ' | ')}{parent}"


def container_text(node: TaskNode, prefix: str = "") -> str:
    """``in podman image ghcr.io/lab/r:4.3 (sha256:1a2b3c4d5e6f)``, or "" without a container."""
    if not node.container_image_id:
        return ""
    return f"{prefix}in {node.container_runtime} image {node.container_image} ({node.container_image_id[:19]})"


# -- tree ------------------------------------------------------------------------------------


Line = list  # [(text, style), ...]: one line of the tree, styled for a terminal
Node = tuple  # (label lines, children): a node of the tree being drawn


def tree_lines(lineage: Lineage) -> list[Line]:
    """The tree as styled lines: the file, its producer, each input and, recursively, its producer.

    The guides are drawn here rather than by rich's Tree, whose cost grows
    with depth times width (a 100-task chain took a second to draw).
    """
    shown: set[int] = set()

    def file_node(node: FileNode, extra: str = "") -> Node:
        label = [(node.path, "bold"), (f"  {short_hash(node.sha256)}  {human_size(node.size)}  ", ""),
                 (state_text(node), "green" if node.state == "unchanged" else "bold red")]
        origin = origin_text(node, lineage)
        if origin:
            label.append((f"  {origin}", "yellow" if node.origin != "task" else "dim"))
        if extra:
            label.append((f"  {extra}", "dim"))
        task = task_node(node.producer.attempt_id) if node.producer is not None else None
        return [label], [task] if task is not None else []

    def task_node(attempt_id: int) -> Optional[Node]:
        node = lineage.task(attempt_id)
        if node is None:
            return None
        if attempt_id in shown:
            return [[(f"{node.uid}  run {node.run_id}, attempt {node.attempt} (shown above)", "dim")]], []
        shown.add(attempt_id)
        label = [[(node.uid, "bold cyan"), (task_heading(node)[len(node.uid):], "")],
                 [(f"$ {command_text(node)}", "")], [(task_details(node), "dim")]]
        children = [file_node(item) for item in node.inputs] or [([[("no inputs", "dim")]], [])]
        return label, children

    out: list[Line] = []

    def draw(node: Node, first: str, rest: str) -> None:
        label, children = node
        out.append([(first, "dim"), *label[0]])
        out.extend([(rest, "dim"), *line] for line in label[1:])
        for i, child in enumerate(children):
            last = i == len(children) - 1
            draw(child, rest + ("└── " if last else "├── "), rest + ("    " if last else "│   "))

    when = f"as of run {lineage.as_of_run}; " if lineage.as_of_run is not None else ""
    draw(file_node(lineage.file, f"({when}recorded by run {lineage.recorded_in_run})"), "", "")
    return out


def render_tree(lineage: Lineage, stream: Optional[IO[str]] = None) -> None:
    """The default output: colours (rich) on a terminal, plain whole lines elsewhere, for grep."""
    import sys

    stream = stream or sys.stdout
    lines = tree_lines(lineage)
    if not (hasattr(stream, "isatty") and stream.isatty()):
        stream.write("".join("".join(text for text, _ in line) + "\n" for line in lines))
        return
    from rich.console import Console
    from rich.segment import Segment, Segments

    console = Console(file=stream, highlight=False)
    styles = {style: console.get_style(style) for line in lines for _, style in line if style}
    segments: list[Segment] = []
    for line in lines:  # segments, not Text: rich's wrapping would cost more than the whole query
        segments.extend(Segment(text, styles.get(style)) for text, style in line)
        segments.append(Segment.line())
    console.print(Segments(segments), end="", soft_wrap=True)


# -- table -----------------------------------------------------------------------------------


def render_table(lineage: Lineage) -> str:
    """One row per task of the lineage, nearest first (tabulate)."""
    from tabulate import tabulate

    rows = []
    for node in lineage.tasks:
        rows.append([node.depth, node.uid, node.run_id, node.attempt, node.exit_code,
                     format_duration(node.duration_seconds), format_timestamp(node.started_at), node.host or "-",
                     node.executor + (f" {node.job_id}" if node.job_id else "") + container_text(node, " "),
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
    """Graphviz DOT: files are notes, tasks are boxes, edges run input -> task -> output."""
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

