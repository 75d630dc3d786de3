"""Checking a flow file (TOML or JSON) against ``scriptflow.schema/flow.schema.json``.

The schema file is the one definition of what a flow file may hold: editors
and CI can check files against it with any JSON Schema tool, and scriptflow
checks them with the small validator below, driven by that same file, so the
two cannot disagree. The validator knows only the keywords the schema uses
(``KEYWORDS``) and refuses a schema using any other, rather than ignoring
it: a keyword added to the schema without teaching it here fails every run
and the test suite at once. No runtime dependency (``jsonschema``) needed.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Iterator, Mapping

from ..errors import ScriptflowError

SCHEMA_FILE = "flow.schema.json"

#: Keywords that constrain (the validator implements each).
KEYWORDS = {"type", "enum", "minimum", "minLength", "minItems", "pattern", "required", "properties",
            "additionalProperties", "propertyNames", "items", "anyOf", "oneOf", "$ref"}
#: Keywords that only annotate.
ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description", "$comment", "default", "examples"}

Path = tuple[Any, ...]  # keys and list indexes from the document's root


@dataclass(frozen=True)
class Problem:
    """One way the document breaks the schema: where (``path``) and what."""

    path: Path
    message: str
    #: the unknown key itself, for "unknown key" problems (its line is the one to show)
    unknown_key: bool = False


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The flow file schema, read from the installed package (``scriptflow.schema``)."""
    text = resources.files("scriptflow.schema").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    loaded = json.loads(text)
    check_keywords(loaded)
    return loaded


def check_keywords(node: Any, where: str = "#") -> None:
    """Refuse a schema using a keyword this validator does not implement."""
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        if key not in KEYWORDS and key not in ANNOTATIONS:
            raise ScriptflowError(f"{SCHEMA_FILE}: {where}: keyword {key!r} is not supported by scriptflow's "
                                  "flow file validator")
        if key in ("properties", "$defs"):
            for name, sub in value.items():
                check_keywords(sub, f"{where}/{key}/{name}")
        elif key in ("items", "additionalProperties", "propertyNames"):
            check_keywords(value, f"{where}/{key}")
        elif key in ("anyOf", "oneOf"):
            for i, sub in enumerate(value):
                check_keywords(sub, f"{where}/{key}/{i}")


def problems(document: Any, root: Mapping[str, Any] | None = None) -> list[Problem]:
    """Every problem of ``document`` against the schema (``root``: another schema, for tests)."""
    root = root if root is not None else schema()
    return list(_check(document, root, root, ()))


_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or isinstance(v, float) and v.is_integer(),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ScriptflowError(f"{SCHEMA_FILE}: only local references are supported, got {ref!r}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _check(value: Any, node: Mapping[str, Any], root: Mapping[str, Any], path: Path) -> Iterator[Problem]:
    node = _resolve(node, root)
    for keyword in ("anyOf", "oneOf"):
        if keyword in node:
            matching = [b for b in node[keyword] if not list(_check(value, b, root, path))]
            if not matching or (keyword == "oneOf" and len(matching) > 1):
                yield Problem(path, f"must be {describe(node, root)}, got {shown(value)}")
                return
    if "type" in node and not _TYPES[node["type"]](value):
        yield Problem(path, f"must be {describe(node, root)}, got {shown(value)}")
        return
    if "enum" in node and not any(value == e and type(value) is type(e) for e in node["enum"]):
        yield Problem(path, f"must be {describe(node, root)}, got {shown(value)}")
        return
    if "minimum" in node and isinstance(value, (int, float)) and value < node["minimum"]:
        yield Problem(path, f"must be at least {node['minimum']}, got {shown(value)}")
    if "minLength" in node and isinstance(value, str) and len(value) < node["minLength"]:
        yield Problem(path, "must not be empty" if node["minLength"] == 1
                      else f"must be at least {node['minLength']} characters long")
    if "pattern" in node and isinstance(value, str) and not re.search(node["pattern"], value):
        yield Problem(path, f"must match {node['pattern']}")
    if isinstance(value, list):
        if "minItems" in node and len(value) < node["minItems"]:
            yield Problem(path, "must not be empty" if node["minItems"] == 1
                          else f"must have at least {node['minItems']} items")
        if "items" in node:
            for i, item in enumerate(value):
                yield from _check(item, node["items"], root, path + (i,))
    if isinstance(value, Mapping):
        yield from _check_object(value, node, root, path)


def _check_object(value: Mapping[str, Any], node: Mapping[str, Any], root: Mapping[str, Any],
                  path: Path) -> Iterator[Problem]:
    properties = node.get("properties", {})
    for key in value:  # a misspelt key first: it explains the missing one
        if key not in properties and node.get("additionalProperties", True) is False:
            close = difflib.get_close_matches(key, list(properties), n=1, cutoff=0.6)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            yield Problem(path + (key,), f'unknown key "{key}"{hint}', unknown_key=True)
    for key in node.get("required", ()):
        if key not in value:
            yield Problem(path, f'missing key "{key}"')
    for key, item in value.items():
        if "propertyNames" in node:
            for problem in _check(key, node["propertyNames"], root, path + (key,)):
                yield Problem(path + (key,), f'invalid name "{key}": {problem.message}', unknown_key=True)
        if key in properties:
            yield from _check(item, properties[key], root, path + (key,))
            continue
        extra = node.get("additionalProperties", True)
        if isinstance(extra, Mapping):
            yield from _check(item, extra, root, path + (key,))


def describe(node: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    """What a value must be, in words: 'a string or a list of strings'."""
    node = _resolve(node, root)
    for keyword in ("anyOf", "oneOf"):
        if keyword in node:
            return " or ".join(describe(b, root) for b in node[keyword])
    if "enum" in node:
        return "one of " + ", ".join(shown(e) for e in node["enum"])
    kind = node.get("type")
    if kind == "array":
        items = _resolve(node.get("items", {}), root)
        inner = _PLURAL.get(items.get("type", ""), "values")
        return f"a list of {inner}"
    return _SINGULAR.get(kind or "", "a value")


_SINGULAR = {"object": "a table", "array": "a list", "string": "a string", "boolean": "true or false",
             "integer": "an integer", "number": "a number", "null": "null"}
_PLURAL = {"object": "tables", "string": "strings", "integer": "integers", "number": "numbers",
           "boolean": "booleans"}


def shown(value: Any) -> str:
    """A value as the user wrote it (TOML/JSON spelling), shortened."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a table"
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
