"""scriptflow's version, in a module of its own so any layer can read it without importing the API.

Also where scriptflow runs from: a single-file archive (``scriptflow bundle``)
says so, and what it holds, in ``scriptflow --version``.
"""
from __future__ import annotations

from typing import Optional

__version__ = "0.3.0"


def archive_path() -> Optional[str]:
    """The ``scriptflow.pyz`` this scriptflow is imported from (a zip on ``sys.path``), else None."""
    return getattr(globals().get("__loader__"), "archive", None)  # zipimport.zipimporter.archive


def bundle_description() -> Optional[str]:
    """The archive's BUNDLE.txt (when and with what it was built, the bundled versions), else None."""
    archive = archive_path()
    loader = globals().get("__loader__")
    if archive is None or loader is None:
        return None
    try:
        data: bytes = loader.get_data(f"{archive}/BUNDLE.txt")
    except OSError:
        return None
    return data.decode("utf-8", "replace")


def version_text() -> str:
    """What ``scriptflow --version`` prints."""
    text = f"scriptflow, version {__version__}"
    bundle = bundle_description()
    if bundle:
        text += f" ({archive_path()})\n{bundle.rstrip()}"
    return text
