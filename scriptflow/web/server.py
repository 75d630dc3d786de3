"""``scriptflow serve``: the standard library's threading HTTP server over the ledger, read-only.

Routes (GET only; everything else is 405):
``/`` runs (``?flow=&status=&name=``), ``/runs/ID`` a run (``?lineage=PATH`` adds an output's graph),
``/file?path=P`` a file's lineage (``&run=ID``: as of that run), ``/logs/ATTEMPT/stdout|stderr``,
``/api/runs``, ``/api/runs/ID``, ``/api/file?path=P`` (the ``report --json`` structure), ``/static/...``.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from ..errors import LedgerError, ScriptflowError
from ..project import Project
from ..readers import runs
from . import data, pages, static
from .html import page

log = logging.getLogger("scriptflow.web")

#: Sent with every answer: no script or style but ours, no framing, no sniffing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class NotFound(Exception):
    pass


class App:
    """Turns a GET request into (status, content type, body); one read-only connection per request."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def handle(self, target: str) -> tuple[int, str, str]:
        parts = urlsplit(target)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if path == "/static/style.css":
            return 200, "text/css; charset=utf-8", static.CSS
        if path == "/static/live.js":
            return 200, "text/javascript; charset=utf-8", static.JS
        if path == "/favicon.ico":
            return 204, "image/x-icon", ""
        try:
            conn = _connect(self.project)
        except ScriptflowError as exc:
            return 503, "text/html; charset=utf-8", self._page("No ledger", pages.not_found(str(exc)))
        try:
            return self._route(conn, path, query)
        except (NotFound, ScriptflowError) as exc:
            if path.startswith("/api/"):
                return 404, "application/json", json.dumps({"error": str(exc)})
            return 404, "text/html; charset=utf-8", self._page("Not found", pages.not_found(str(exc)))
        finally:
            conn.close()

    def _route(self, conn: sqlite3.Connection, path: str, q: dict[str, str]) -> tuple[int, str, str]:
        segments = [s for s in path.split("/") if s]

        def html_ok(body: str) -> tuple[int, str, str]:
            return 200, "text/html; charset=utf-8", body

        if not segments:
            d = data.runs_list(conn, q.get("flow", ""), q.get("status", ""), q.get("name", ""))
            chosen = {k: q[k] for k in ("flow", "status", "name") if q.get(k)}
            poll = "/api/runs" + ("?" + urlencode(chosen) if chosen else "")
            return html_ok(self._page("Runs", pages.runs_page(d), poll=poll, live=d["live"], keep=True))
        if segments[0] == "runs" and len(segments) == 2:
            d = data.run_detail(conn, self.project, segments[1])
            lineage, error = self._lineage(conn, q.get("lineage"))
            body = pages.run_page(d, lineage, error)
            return html_ok(self._page(f"Run {d['run']['id']}", body, poll=f"/api/runs/{d['run']['id']}",
                                      live=d["live"]))
        if segments == ["file"]:
            path_q = q.get("path", "")
            lineage, error = self._lineage(conn, path_q, q.get("run"))
            return html_ok(self._page(path_q or "File", pages.file_page(path_q, lineage, error)))
        if segments[0] == "logs" and len(segments) == 3 and segments[1].isdigit():
            text = data.attempt_log(conn, self.project, int(segments[1]), segments[2])
            if text is None:
                raise NotFound(f"no {segments[2]} log for attempt {segments[1]}")
            return 200, "text/plain; charset=utf-8", text
        if segments[0] == "api":
            return 200, "application/json", json.dumps(self._api(conn, segments[1:], q), default=str)
        raise NotFound(f"no page at {path}")

    def _api(self, conn: sqlite3.Connection, segments: list[str], q: dict[str, str]) -> Any:
        if segments == ["runs"]:
            return data.runs_list(conn, q.get("flow", ""), q.get("status", ""), q.get("name", ""))
        if len(segments) == 2 and segments[0] == "runs":
            return data.run_detail(conn, self.project, segments[1])
        if segments == ["file"]:
            if not q.get("path"):
                raise NotFound("give the file as ?path=PATH")
            return data.file_lineage(conn, self.project, q["path"], q.get("run"))
        raise NotFound(f"no endpoint /api/{'/'.join(segments)}")

    def _lineage(self, conn: sqlite3.Connection, path: Optional[str],
                 run: Optional[str] = None) -> tuple[Optional[dict[str, Any]], str]:
        if path is None:
            return None, ""
        if not path:
            return None, "give the file as ?path=PATH"
        try:
            return data.file_lineage(conn, self.project, path, run), ""
        except ScriptflowError as exc:
            return None, str(exc)

    def _page(self, title: str, body: str, **kw: Any) -> str:
        return page(title, body, self.project.dir.name, **kw)


def _connect(project: Project) -> sqlite3.Connection:
    """A read-only connection, but never to a ledger a first run is still creating (schema version 0):
    opening that for reading would migrate it, racing the run's own migration."""
    path = project.ledger_path
    if path.exists():
        probe = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            version = probe.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError:
            version = -1  # damaged: open_for_reading says so in one line
        finally:
            probe.close()
        if version == 0:
            raise LedgerError(f"no ledger at {path} yet: the first run is creating it")
    return runs.connect(project)


def make_server(project: Project, host: str, port: int) -> ThreadingHTTPServer:
    """A server bound to ``host:port`` (port 0: any free one); ``serve_forever`` runs it."""
    app = App(project)

    class Handler(BaseHTTPRequestHandler):
        server_version = "scriptflow"
        sys_version = ""

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            try:
                status, kind, body = app.handle(self.path)
            except Exception:  # noqa: BLE001 - one bad page must not stop the server
                log.exception("serve: %s failed", self.path)
                status, kind = 500, "text/plain; charset=utf-8"
                body = "internal error: this page could not be drawn (details where scriptflow serve runs)"
            payload = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _refuse(self) -> None:
            self.send_error(405, "scriptflow serve is read-only")

        do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            log.debug("serve: " + format, *args)

    ThreadingHTTPServer.daemon_threads = True
    return ThreadingHTTPServer((host, port), Handler)
