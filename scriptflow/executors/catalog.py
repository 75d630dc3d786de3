"""Every executor with its settings, as data: what ``scriptflow executors`` prints and
``docs/executors.md`` holds.

Built from the settings dataclasses themselves, so the listing cannot drift
from what the configuration accepts. Listing imports each plug-in (that is
the only way to read its settings); one that cannot be loaded is listed with
its error instead of stopping the listing.
"""
from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

from ..errors import ConfigError
from .registry import ExecutorSource, executor_class, sources
from .settings import SettingDoc, common_settings


@dataclass
class ExecutorDoc:
    """One executor: where it comes from, its summary line, and its settings (or why it failed to load)."""

    name: str
    origin: str
    target: str
    package: Optional[str] = None
    summary: str = ""
    settings: list[SettingDoc] = field(default_factory=list)
    error: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe(source: ExecutorSource) -> ExecutorDoc:
    doc = ExecutorDoc(source.name, source.origin, source.target, source.package)
    try:
        cls = executor_class(source.name)
    except ConfigError as exc:
        doc.error = str(exc)
        return doc
    own = inspect.cleandoc(cls.__dict__.get("__doc__") or "")  # not a base class's docstring
    doc.summary = " ".join(own.split("\n\n")[0].split()).replace("``", "`")
    doc.settings = cls.settings_class.describe()
    return doc


def catalog(names: Sequence[str] = (), builtin_only: bool = False) -> list[ExecutorDoc]:
    """The executors called ``names`` (all when empty), sorted by name; ConfigError for a name
    no executor has."""
    known = {s.name: s for s in sources() if not builtin_only or s.origin == "built-in"}
    for name in names:
        if name not in known:
            raise ConfigError(f"unknown executor {name!r} (available: {', '.join(sorted(known))})")
    wanted = names or sorted(known)
    return [describe(known[name]) for name in wanted]


def _table(settings: Sequence[SettingDoc]) -> list[str]:
    out = ["| setting | type | default | unit | meaning |", "|---|---|---|---|---|"]
    for s in settings:
        cells = [f"`{s.name}`", s.type, s.default, s.unit or "", s.help]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return out


def common_markdown() -> str:
    """The settings every executor (built in or installed) accepts besides its own."""
    return "\n".join(["### Settings every executor has", "",
                      "Each overrides the top-level key of the same name for the tasks of that executor "
                      "(docs/containers.md).", ""] + _table(common_settings()) + [""])


def markdown(docs: Sequence[ExecutorDoc]) -> str:
    """One section per executor, each with its settings table (``docs/executors.md``)."""
    out: list[str] = []
    for doc in docs:
        origin = doc.origin + (f", {doc.package}" if doc.package else "")
        out += [f"### `{doc.name}` ({origin})", ""]
        if doc.error:
            out += [f"Cannot be loaded: {doc.error}", ""]
            continue
        if doc.summary:
            out += [doc.summary, ""]
        if not doc.settings:
            out += ["No settings.", ""]
            continue
        out += _table(doc.settings) + [""]
    return "\n".join(out)
