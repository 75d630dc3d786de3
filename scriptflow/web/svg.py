"""Pictures drawn on the server as SVG (no script, nothing fetched): a run's timeline and a file's lineage.

All text goes through ``esc``; links are ordinary ``<a href>`` inside the SVG.
"""
from __future__ import annotations

from typing import Any, Optional

from ..clock import format_duration, parse_time
from .html import esc, url

ROW, LABEL, WIDTH = 22, 220, 900


def timeline(attempts: list[dict[str, Any]], now: str) -> str:
    """A Gantt chart: one bar per attempt from its start to its end (or now, while it runs)."""
    spans = []
    for a in attempts:
        start = parse_time(a["started_at"]) or parse_time(a["queued_at"])
        end = parse_time(a["ended_at"]) or parse_time(now)
        if start is not None and end is not None:
            spans.append((a, start, max(end, start)))
    if not spans:
        return '<p class="muted">no attempt has started yet</p>'
    t0 = min(s for _, s, _ in spans)
    total = max((e - t0).total_seconds() for _, _, e in spans) or 1.0
    scale = (WIDTH - LABEL - 20) / total
    height = ROW * len(spans) + 30
    parts = [f'<svg class="gantt" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
             f'aria-label="timeline of attempts" xmlns="http://www.w3.org/2000/svg">']
    for i, (a, start, end) in enumerate(spans):
        y = i * ROW + 4
        x = LABEL + (start - t0).total_seconds() * scale
        w = max(2.0, (end - start).total_seconds() * scale)
        label = f"{a['uid']} #{a['number']}" if a["number"] > 1 else a["uid"]
        title = f"{a['uid']} attempt {a['number']}: {a['status']}, {format_duration(a.get('duration_seconds'))}"
        parts.append(f'<text x="{LABEL - 8}" y="{y + 13}" text-anchor="end" class="lbl">{esc(_short(label, 30))}'
                     f'</text><rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 8}" rx="3" '
                     f'class="bar s-{esc(a["status"])}"><title>{esc(title)}</title></rect>')
    axis_y = ROW * len(spans) + 20
    parts.append(f'<text x="{LABEL}" y="{axis_y}" class="axis">0s</text>'
                 f'<text x="{WIDTH - 20}" y="{axis_y}" text-anchor="end" class="axis">'
                 f'{esc(format_duration(total))}</text></svg>')
    return "".join(parts)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else "…" + text[-(n - 1):]


BOX_W, BOX_H, COL_GAP, ROW_GAP = 190, 34, 70, 14


def lineage_graph(report: dict[str, Any]) -> str:
    """The ``report --json`` lineage as columns: sources on the left, the file on the right.

    Column 0 is the file; a task at depth d sits in column 2d-1 and its inputs in
    column 2d (a file read at several depths goes to the deepest).
    """
    columns: dict[str, int] = {f"f:{report['path']}": 0}
    labels: dict[str, tuple[str, str, str]] = {
        f"f:{report['path']}": (report["path"], url("/file", path=report["path"]), f"file {report['file']['origin']}")}
    edges: list[tuple[str, str]] = []
    by_attempt = {t["attempt_id"]: t for t in report["tasks"]}
    for t in report["tasks"]:
        key = f"t:{t['attempt_id']}"
        columns[key] = max(columns.get(key, 0), 2 * t["depth"] - 1)
        labels[key] = (t["uid"], url(f"/runs/{t['run_id']}"), "task")
    for t in report["tasks"]:
        key = f"t:{t['attempt_id']}"
        for item in t["inputs"]:
            fkey = f"f:{item['path']}"
            columns[fkey] = max(columns.get(fkey, 0), columns[key] + 1)
            labels[fkey] = (item["path"], url("/file", path=item["path"]), f"file {item['origin']}")
            edges.append((fkey, key))
            producer: Optional[dict[str, Any]] = item.get("producer")
            if producer and producer["attempt_id"] in by_attempt:
                edges.append((f"t:{producer['attempt_id']}", fkey))
    root = report["file"].get("producer")
    if root and root["attempt_id"] in by_attempt:
        edges.append((f"t:{root['attempt_id']}", f"f:{report['path']}"))
    deepest = max(columns.values())
    rows: dict[int, int] = {}
    pos: dict[str, tuple[float, float]] = {}
    for key in sorted(columns, key=lambda k: (columns[k], k)):
        col = columns[key]
        row = rows.get(col, 0)
        rows[col] = row + 1
        pos[key] = ((deepest - col) * (BOX_W + COL_GAP) + 10, row * (BOX_H + ROW_GAP) + 10)
    width = (deepest + 1) * (BOX_W + COL_GAP) - COL_GAP + 20
    height = max(rows.values()) * (BOX_H + ROW_GAP) + 10
    out = [f'<svg class="lineage" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="lineage of {esc(report["path"])}" xmlns="http://www.w3.org/2000/svg">']
    for a, b in dict.fromkeys(edges):
        (x1, y1), (x2, y2) = pos[a], pos[b]
        out.append(f'<path class="edge" d="M{x1 + BOX_W},{y1 + BOX_H / 2} C{x1 + BOX_W + COL_GAP / 2},'
                   f'{y1 + BOX_H / 2} {x2 - COL_GAP / 2},{y2 + BOX_H / 2} {x2},{y2 + BOX_H / 2}"/>')
    for key, (x, y) in pos.items():
        text, href, kind = labels[key]
        cls = "node-task" if key.startswith("t:") else "node-file"
        if key == f"f:{report['path']}":
            cls += " node-target"
        out.append(f'<a href="{href}"><g class="{cls}"><title>{esc(kind)}: {esc(text)}</title>'
                   f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="{12 if cls == "node-task" else 3}"/>'
                   f'<text x="{x + BOX_W / 2}" y="{y + BOX_H / 2 + 4}" text-anchor="middle">'
                   f'{esc(_short(text, 26))}</text></g></a>')
    out.append("</svg>")
    return "".join(out)
