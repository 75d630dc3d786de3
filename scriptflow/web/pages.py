"""The three pages (runs, a run, a file), rendered from the dicts of ``data``. Every value is escaped."""
from __future__ import annotations

import json
from typing import Any, Optional

from ..clock import utc_now
from .html import badge, duration, esc, file_link, run_link, table, url
from .svg import lineage_graph, timeline


def runs_page(d: dict[str, Any]) -> str:
    f = d["filters"]

    def options(values: list[str], chosen: str, every: str) -> str:
        opts = [f'<option value="">{esc(every)}</option>']
        opts += [f'<option value="{esc(v)}"{" selected" if v == chosen else ""}>{esc(v)}</option>' for v in values]
        return "".join(opts)

    form = ('<form class="filters" method="get" action="/">'
            f'<label>flow <select name="flow">{options(d["flows"], f["flow"], "any flow")}</select></label>'
            f'<label>status <select name="status">{options(d["statuses"], f["status"], "any status")}'
            '</select></label>'
            f'<label>name <input name="name" value="{esc(f["name"])}" placeholder="run name"></label>'
            '<button type="submit">filter</button></form>')
    rows = [(run_link(r["id"], str(r["id"])), esc(r["name"] or ""), esc(r["flow"]), badge(r["status"]),
             esc(_when(r["started_at"])), duration(r["duration_seconds"]),
             esc(f'{r["tasks"]} tasks: {r["ran"]} ran, {r["cached"]} cached')
             + (f', <b class="bad">{r["failed"]} failed</b>' if r["failed"] else "")
             + (esc(f', {r["not_run"]} not run') if r["not_run"] else ""))
            for r in d["runs"]]
    body = (f'<h1>Runs</h1>{form}' + (table(["run", "name", "flow", "status", "started", "took", "tasks"], rows,
                                            "runs") if rows else '<p class="muted">no run matches</p>'))
    return body


def run_page(d: dict[str, Any], lineage: Optional[dict[str, Any]] = None, lineage_error: str = "") -> str:
    r = d["run"]
    facts = [("status", badge(r["status"])), ("flow", esc(r["flow"])), ("name", esc(r["name"] or "")),
             ("arguments", esc(" ".join(map(str, r["args"])))), ("started", esc(_when(r["started_at"]))),
             ("took", duration(r["duration_seconds"])), ("exit code", esc(r["exit_code"])),
             ("host", esc(r["host"]))]
    if r["parent_run_id"]:
        facts.append(("resumes", run_link(r["parent_run_id"])))
    if r["error"]:
        facts.append(("error", f'<span class="bad">{esc(r["error"])}</span>'))
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in facts if v)
    tasks = [(f'<span class="uid">{esc(t["uid"])}</span>', badge(t["status"]), esc(t["attempts"]),
              duration(t["duration_seconds"]), esc(t["reason"] or ""), esc(t["executor"]),
              esc(t["exit_code"]), _log_links(t)) for t in d["tasks"]]
    body = [f'<h1>Run {esc(r["id"])} <small>{esc(r["flow"])}</small></h1><dl class="facts">{dl}</dl>',
            "<h2>Tasks</h2>",
            table(["task", "status", "attempts", "took", "reason", "executor", "exit", "logs"], tasks, "tasks")
            if tasks else '<p class="muted">no tasks yet</p>']
    live = [t for t in d["tasks"] if t.get("live_tail") is not None]
    if live:
        body.append("<h2>Running now</h2>")
        for t in live:
            tail = t["live_tail"]
            body.append(f'<section class="tail"><h3>{esc(t["uid"])}</h3>'
                        f'<pre class="log" data-stream="stdout">{esc(chr(10).join(tail["stdout"]))}</pre>'
                        + (f'<pre class="log err" data-stream="stderr">{esc(chr(10).join(tail["stderr"]))}</pre>'
                           if tail["stderr"] else "") + "</section>")
    body.append(f'<h2>Timeline</h2>{timeline(d["attempts"], utc_now())}')
    if d["outputs"]:
        here = f"/runs/{r['id']}"
        items = "".join(f'<li>{file_link(o["path"])} <a class="small" href="'
                        f'{url(here, lineage=o["path"])}#lineage">graph</a> '
                        f'<span class="muted">from {esc(o["uid"])}</span></li>' for o in d["outputs"])
        body.append(f'<h2>Outputs</h2><ul class="outputs">{items}</ul>')
    if lineage is not None or lineage_error:
        body.append('<h2 id="lineage">Lineage</h2>' + (
            f'<p class="bad">{esc(lineage_error)}</p>' if lineage_error else _graph_block(lineage or {})))
    return "".join(body)


def file_page(path: str, lineage: Optional[dict[str, Any]], error: str = "") -> str:
    head = f'<h1>File <span class="path">{esc(path)}</span></h1>'
    if lineage is None:
        return head + f'<p class="bad">{esc(error)}</p>'
    f = lineage["file"]
    facts = [("state", esc(f["state"])), ("origin", esc(f["origin"])), ("sha256", esc(f["sha256"])),
             ("size", esc(f["size"])), ("recorded in", run_link(f["recorded_in_run"])),
             ("note", esc(f.get("note") or ""))]
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in facts if v)
    parts = [head, f'<dl class="facts">{dl}</dl>', "<h2>Lineage</h2>", _graph_block(lineage), "<h2>Tasks</h2>"]
    for t in lineage["tasks"]:
        command = t["command"] if isinstance(t["command"], str) else json.dumps(t["command"])
        inputs = "".join(f'<li>{file_link(i["path"])} <span class="muted">{esc(i["origin"])}, {esc(i["state"])}'
                         f'</span></li>' for i in t["inputs"]) or '<li class="muted">no inputs</li>'
        parts.append(
            f'<section class="task"><h3>{esc(t["uid"])} <small>{run_link(t["run_id"])}, attempt '
            f'{esc(t["attempt"])}, depth {esc(t["depth"])}</small></h3>'
            f'<pre class="command">{esc(command)}</pre><dl class="facts"><dt>cwd</dt><dd>{esc(t["cwd"])}</dd>'
            f'<dt>executor</dt><dd>{esc(t["executor"])}</dd><dt>took</dt><dd>{duration(t["duration_seconds"])}</dd>'
            f'<dt>logs</dt><dd>{_log_links({"attempt_id": t["attempt_id"]})}</dd></dl>'
            f'<h4>inputs</h4><ul>{inputs}</ul></section>')
    parts.append(f'<p><a href="{url("/api/file", path=path)}">this lineage as JSON</a> '
                 '(the structure of <code>scriptflow report --json</code>)</p>')
    return "".join(parts)


def _graph_block(lineage: dict[str, Any]) -> str:
    return f'<div class="graph">{lineage_graph(lineage)}</div>'


def _log_links(t: dict[str, Any]) -> str:
    if not t.get("attempt_id"):
        return ""
    attempt = t["attempt_id"]
    return " ".join(f'<a href="{url(f"/logs/{attempt}/{s}")}">{s}</a>' for s in ("stdout", "stderr"))


def _when(stamp: Optional[str]) -> str:
    """``2024-05-01T10:20:30.123456Z`` as ``2024-05-01 10:20:30`` (UTC)."""
    return (stamp or "")[:19].replace("T", " ")


def not_found(message: str) -> str:
    return f'<h1>Not found</h1><p class="bad">{esc(message)}</p><p><a href="/">all runs</a></p>'
