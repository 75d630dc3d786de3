"""Writing ``scriptflow.pyz``: the collected files, a ``__main__.py`` and ``BUNDLE.txt``, as a zip app.

The archive is made by the standard library's ``zipapp`` (a ``#!`` line, then
a zip file), so any Python 3 runs it: ``python3 scriptflow.pyz run NAME``.
Its ``__main__.py`` refuses a Python older than the bundle needs, puts the
archive first on ``PYTHONPATH`` so that the processes of tasks
(``sf.call``, ``python -c "import sflow"``) import the same scriptflow, and
calls the ``scriptflow`` command. It is written to a temporary file next to
the target and renamed, so a failed build leaves no half archive.
"""
from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
import zipapp
from dataclasses import dataclass
from pathlib import Path

from ..errors import BundleError
from ..version import archive_path
from .contents import Contents, collect

#: The name ``scriptflow --version`` reads the bundled versions from, at the archive's root.
BUNDLE_TXT = "BUNDLE.txt"
DEFAULT_INTERPRETER = "/usr/bin/env python3"

MAIN = '''\
"""scriptflow as one file: `python3 scriptflow.pyz COMMAND ...` is `scriptflow COMMAND ...` ({BUNDLE_TXT})."""
import os
import sys

if sys.version_info < {needs!r}:
    sys.stderr.write("scriptflow: error: this single-file scriptflow needs Python {needs_text} or newer "
                     "(it was built with Python {built}); this is Python %s\\n" % sys.version.split()[0])
    sys.exit(2)
ARCHIVE = os.path.dirname(os.path.abspath(__file__))
sys.path[0] = ARCHIVE  # absolute, whatever directory the run later works in
# The processes of tasks (sf.call, `python -c "import sflow"`) import this scriptflow too.
_old = os.environ.get("PYTHONPATH")
if not _old or _old.split(os.pathsep)[0] != ARCHIVE:
    os.environ["PYTHONPATH"] = ARCHIVE + (os.pathsep + _old if _old else "")

from scriptflow.entry import main  # noqa: E402

main()
'''


@dataclass
class Built:
    path: Path
    contents: Contents
    size: int


def build(target: Path, interpreter: str = DEFAULT_INTERPRETER) -> Built:
    """Write the archive to ``target`` (replacing it); BundleError if it cannot be built or written."""
    if archive_path():
        raise BundleError(f"this scriptflow is already a single-file archive ({archive_path()}): copy that file")
    if target.is_dir():
        raise BundleError(f"{target} is a directory: give the archive's file name (e.g. {target}/scriptflow.pyz)")
    contents = collect()
    partial: Path | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="scriptflow-bundle-") as staging:
            root = Path(staging, "app")
            _stage(root, contents)
            # Written next to the target and renamed: a reader never sees half an archive.
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
            partial = Path(name)
            with os.fdopen(fd, "wb") as out:
                zipapp.create_archive(root, out, interpreter=interpreter, compressed=True)
            partial.chmod(0o755 & ~_umask())
            os.replace(partial, target)
            partial = None
    except OSError as exc:
        raise BundleError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
    return Built(target, contents, target.stat().st_size)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _stage(root: Path, contents: Contents) -> None:
    for dist in contents.distributions:
        for arcname, source in dist.files.items():
            dest = root / arcname
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
        for arcname, text in dist.texts.items():
            dest = root / arcname
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, encoding="utf-8")
    built = platform.python_version()
    needs = tuple(int(p) for p in contents.needs_python.split("."))
    (root / "__main__.py").write_text(MAIN.format(BUNDLE_TXT=BUNDLE_TXT, needs=needs, needs_text=contents.needs_python,
                                                  built=built), encoding="utf-8")
    (root / BUNDLE_TXT).write_text(describe(contents), encoding="utf-8")


def describe(contents: Contents) -> str:
    """BUNDLE.txt: when and with what Python the archive was built, and each distribution's version."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lines = [f"single-file scriptflow, built {when} with Python {platform.python_version()} "
             f"on {platform.system()} {platform.machine()}; needs Python {contents.needs_python} or newer"]
    lines += [f"  {d.name} {d.version}" for d in contents.distributions]
    lines += [f"  (not bundled: {name}: {why})" for name, why in sorted(contents.left_out.items())]
    return "\n".join(lines) + "\n"
