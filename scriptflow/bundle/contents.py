"""What goes into ``scriptflow.pyz``: scriptflow and every runtime requirement, as installed here.

The requirements are followed transitively through ``importlib.metadata``
(``requires()``, evaluated for this interpreter, no extras), and each
distribution's files are taken from its ``RECORD`` (``files()``). scriptflow's
own files are taken from its packages instead, so a development install
(``pip install -e``, whose RECORD lists no source) bundles the same files as
a wheel. Only pure-Python distributions can be imported from a zip: one with
compiled files stops the build with a line naming it.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

from ..errors import BundleError
from ..version import __version__
from .requirements import Requirement, applies, canonical, environment, parse

#: scriptflow's packages; ``scriptflow.schema`` is the ``schema/`` folder of the source tree, which a
#: development install maps apart from the ``scriptflow/`` folder.
PACKAGES = ("scriptflow", "scriptflow.schema")

#: Requirements left out on purpose, and why (shown by ``scriptflow bundle``).
NOT_BUNDLED = {"pip": "sqlite-utils needs it only for its own `sqlite-utils install` command"}

#: Files a zip cannot import from.
COMPILED = re.compile(r"\.(so|pyd|dylib|dll)(\.[0-9.]+)?$", re.IGNORECASE)

#: The oldest Python scriptflow supports, when its metadata does not say (Requires-Python).
OLDEST_PYTHON = "3.10"


@dataclass
class Distribution:
    """One distribution to bundle: its name, version, and (source file, name in the archive) pairs."""

    name: str
    version: str
    files: dict[str, Path] = field(default_factory=dict)
    #: Files written from text rather than copied (scriptflow's own METADATA).
    texts: dict[str, str] = field(default_factory=dict)


@dataclass
class Contents:
    distributions: list[Distribution]
    #: The oldest Python the archive runs on: the highest Requires-Python of what it holds, or this
    #: Python's version ("3.11") when a requirement an older Python needs (tomli) does not apply here.
    needs_python: str
    left_out: dict[str, str]


def collect() -> Contents:
    """Every distribution scriptflow needs at run time, with its files; BundleError if one cannot go."""
    here = environment()
    try:
        own = metadata.distribution("scriptflow")
    except metadata.PackageNotFoundError:
        raise BundleError("scriptflow is not installed as a distribution (pip install it first)") from None
    oldest = environment(_oldest_python(own))
    needs = [_oldest_python(own)]
    found: dict[str, Distribution] = {"scriptflow": _scriptflow()}
    extras_done: dict[str, frozenset[str]] = {"scriptflow": frozenset()}
    queue: list[tuple[metadata.Distribution, frozenset[str]]] = [(own, frozenset())]
    left_out: dict[str, str] = {}
    while queue:
        dist, extras = queue.pop()
        for text in dist.requires or []:
            req = parse(text)
            key = canonical(req.name)
            if not applies(req.marker, here, extras):
                if "python" in (req.marker or "") and applies(req.marker, oldest, extras):
                    needs.append(here["python_version"])
                continue
            if key in NOT_BUNDLED:
                left_out[key] = NOT_BUNDLED[key]
                continue
            if key in extras_done and req.extras <= extras_done[key]:
                continue
            extras_done[key] = extras_done.get(key, frozenset()) | req.extras
            child = _installed(req, dist)
            if key not in found:
                found[key] = _from_record(child)
                needs.append(_oldest_python(child))
            queue.append((child, extras_done[key]))
    needs_python = max(needs, key=lambda v: tuple(int(p) for p in v.split(".")))
    return Contents(sorted(found.values(), key=lambda d: canonical(d.name)), needs_python, left_out)


def _installed(req: Requirement, parent: metadata.Distribution) -> metadata.Distribution:
    for name in (req.name, canonical(req.name), canonical(req.name).replace("-", "_")):
        try:
            return metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
    raise BundleError(f"{parent.metadata['Name']} needs {req.name}, which is not installed here "
                      "(install scriptflow with pip first, then bundle it)")


def _oldest_python(dist: metadata.Distribution) -> str:
    """The X.Y of a distribution's ``Requires-Python: >=X.Y``, else the oldest scriptflow supports."""
    match = re.search(r">=\s*(\d+\.\d+)", " ".join(dist.metadata.get_all("Requires-Python") or []))
    return match.group(1) if match else OLDEST_PYTHON


def _from_record(dist: metadata.Distribution) -> Distribution:
    """A distribution's files as its RECORD lists them (scripts outside site-packages and bytecode left out)."""
    name, version = dist.metadata["Name"], dist.version
    if dist.files is None:
        raise BundleError(f"{name} {version}: its installed files are not listed (no RECORD); "
                          "reinstall it with pip")
    out = Distribution(name, version)
    for entry in dist.files:
        arcname = entry.as_posix()
        if arcname.startswith("..") or "__pycache__" in entry.parts or arcname.endswith((".pyc", ".pth")):
            continue
        if COMPILED.search(arcname):
            raise BundleError(f"{name} {version} has compiled code ({arcname}) and cannot go into a "
                              "single-file archive: only pure-Python requirements can")
        out.files[arcname] = Path(str(entry.locate()))
    if not any(a.endswith(".py") for a in out.files):
        raise BundleError(f"{name} {version} has no Python files where it is installed (installed in "
                          "development mode?); install it normally with pip, then bundle")
    return out


def _scriptflow() -> Distribution:
    """scriptflow's own files, from its package folders (data files such as the schema's SQL included)."""
    out = Distribution("scriptflow", __version__)
    for package in PACKAGES:
        spec = find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise BundleError(f"cannot find the package {package}")
        root = Path(list(spec.submodule_search_locations)[0])
        prefix = package.replace(".", "/")
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            for name in sorted(files):
                if name.endswith((".pyc", ".pyo")) or name.startswith("."):
                    continue
                relative = Path(folder, name).relative_to(root).as_posix()
                out.files[f"{prefix}/{relative}"] = Path(folder, name)
    # importlib.metadata finds distributions inside a zip on sys.path: `version("scriptflow")` works.
    out.texts[f"scriptflow-{__version__}.dist-info/METADATA"] = (
        f"Metadata-Version: 2.1\nName: scriptflow\nVersion: {__version__}\n")
    return out
