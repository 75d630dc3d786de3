"""Small HTML helpers: everything user-supplied goes through ``esc`` (commands and paths are user data)."""
from __future__ import annotations

import html
from typing import Any, Iterable, Optional
from urllib.parse import quote, urlencode

from ..clock import format_duration


def esc(value: Any) -> str:
    """Text for HTML content or a quoted attribute (quotes escaped too)."""
    return html.escape("" if value is None else str(value), quote=True)


def url(route: str, **query: Any) -> str:
    """A link: path segments quoted, query encoded, the whole escaped for an attribute."""
    clean = {k: v for k, v in query.items() if v not in (None, "")}
    return esc(quote(route, safe="/") + ("?" + urlencode(clean) if clean else ""))


def file_link(path: str, label: Optional[str] = None) -> str:
    return f'<a class="path" href="{url("/file", path=path)}">{esc(label or path)}</a>'


def run_link(run_id: Any, label: Optional[str] = None) -> str:
    return f'<a href="{url(f"/runs/{run_id}")}">{esc(label or f"run {run_id}")}</a>'


def badge(status: Optional[str]) -> str:
    return f'<span class="badge s-{esc(status)}">{esc(status)}</span>'


def duration(seconds: Optional[float]) -> str:
    return esc(format_duration(seconds)) if seconds is not None else ""


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """Cells are already HTML (callers escape what they put in)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def page(title: str, body: str, project_name: str, poll: Optional[str] = None, live: bool = False,
         keep: bool = False) -> str:
    """The whole document. ``poll``: a JSON endpoint the page watches (while ``live``, or always with
    ``keep``); when its answer changes, ``<main>`` is redrawn from the server."""
    poll_attr = f' data-poll="{esc(poll)}"' if poll else ""
    poll_attr += (' data-live="1"' if live else "") + (' data-keep="1"' if keep else "")
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)} · scriptflow</title><link rel=\"stylesheet\" href=\"/static/style.css\">"
        "<script src=\"/static/live.js\" defer></script></head>"
        f"<body{poll_attr}><header><a class=\"brand\" href=\"/\">scriptflow</a>"
        f"<span class=\"project\">{esc(project_name)}</span><nav><a href=\"/\">runs</a></nav></header>"
        f"<main id=\"main\">{body}</main></body></html>"
    )
