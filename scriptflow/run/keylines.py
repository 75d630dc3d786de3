"""The line of each key of a TOML or JSON document, so an error can say ``scriptflow.toml:7``.

``tomllib`` and ``json`` return plain values without positions. Rather than
write two full parsers, the text (already known to parse) is scanned once:
for TOML, table headers (``[[task]]`` counted per array, so the third
``[[task]]`` is ``task[2]``) and ``key = value`` lines; for JSON, a walk
over the document that notes where each key starts. Paths are tuples of
keys and list indexes from the root, as ``flowschema.Problem`` has them.
An error whose exact key is not found (an inline table, say) names the line
of the nearest enclosing key or table instead.
"""
from __future__ import annotations

import bisect
import json
import re
from typing import Any, Optional

Path = tuple[Any, ...]

_PART = re.compile(r'\s*([A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')\s*')
_KEY_START = re.compile(r'\s*(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')')


class KeyLines:
    """Lines of the keys and tables of one document (1-based)."""

    def __init__(self, lines: dict[Path, int]) -> None:
        self.lines = lines

    def line(self, path: Path) -> Optional[int]:
        """The line of ``path``, else of its nearest ancestor found, else None."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None


def _dotted(text: str) -> tuple[list[str], int]:
    """The parts of a dotted key at the start of ``text`` and where the key ends."""
    parts: list[str] = []
    pos = 0
    while True:
        m = _PART.match(text, pos)
        if not m:
            return parts, pos
        raw = m.group(1)
        if raw.startswith('"'):
            raw = json.loads(raw)
        elif raw.startswith("'"):
            raw = raw[1:-1]
        parts.append(raw)
        pos = m.end()
        if not text.startswith(".", pos):
            return parts, pos
        pos += 1


def _depth_change(text: str) -> int:
    """Open minus closed brackets and braces outside strings and comments (for values over lines)."""
    depth, i, quote = 0, 0, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "#":
            break
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        i += 1
    return depth


def toml_lines(text: str) -> KeyLines:
    """Scan TOML text (that parses) for the lines of its tables and keys."""
    lines: dict[Path, int] = {}
    arrays: dict[Path, int] = {}
    current: Path = ()
    depth = 0
    multiline = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        if multiline:  # inside a multi-line string: nothing here is a key
            if raw.count(multiline) % 2 == 1:
                multiline = ""
            continue
        if depth > 0:  # inside a value spanning lines (an array, say)
            depth += _depth_change(raw)
            continue
        stripped = raw.strip()
        if stripped.startswith("["):
            double = stripped.startswith("[[")
            parts, _ = _dotted(stripped[2 if double else 1:])
            resolved: list[Any] = []
            for i, part in enumerate(parts):
                resolved.append(part)
                key = tuple(resolved)
                if double and i == len(parts) - 1:
                    arrays[key] = arrays.get(key, -1) + 1
                    resolved.append(arrays[key])
                elif key in arrays:
                    resolved.append(arrays[key])
            current = tuple(resolved)
            lines.setdefault(current, number)
            continue
        if not _KEY_START.match(raw):
            continue
        parts, end = _dotted(raw)
        if not parts or not raw[end:].startswith("="):
            continue
        lines.setdefault(current + tuple(parts), number)
        value = raw[end + 1:]
        for quotes in ('"""', "'''"):
            if value.count(quotes) % 2 == 1:
                multiline = quotes
                break
        else:
            depth = max(0, _depth_change(value))
    return KeyLines(lines)


_WS = re.compile(r"[ \t\n\r]*")


def json_lines(text: str) -> KeyLines:
    """Walk JSON text (that parses) noting the line where each key (and list item) starts."""
    starts = [i for i, c in enumerate(text) if c == "\n"]
    lines: dict[Path, int] = {}
    decoder = json.JSONDecoder()

    def line(pos: int) -> int:
        return bisect.bisect_left(starts, pos) + 1

    def skip(pos: int) -> int:
        m = _WS.match(text, pos)
        return m.end() if m else pos

    def value(pos: int, path: Path) -> int:
        pos = skip(pos)
        lines.setdefault(path, line(pos))
        opening = text[pos:pos + 1]
        if opening not in ("{", "["):
            return decoder.raw_decode(text, pos)[1]
        closing = "}" if opening == "{" else "]"
        pos = skip(pos + 1)
        index = 0
        while text[pos:pos + 1] != closing:
            if opening == "{":
                key, end = decoder.raw_decode(text, pos)
                lines.setdefault(path + (key,), line(pos))
                pos = value(skip(end) + 1, path + (key,))   # past the colon
            else:
                pos = value(pos, path + (index,))
                index += 1
            pos = skip(pos)
            if text[pos:pos + 1] == ",":
                pos = skip(pos + 1)
        return pos + 1

    value(0, ())
    return KeyLines(lines)
