"""The run log: ``.scriptflow/scriptflow.log``, safe for several processes.

concurrent-log-handler lets a run and the commands that read the project
(or two runs waiting on each other) append and rotate the same file.
"""
from __future__ import annotations

import logging
from pathlib import Path

_FORMAT = "%(asctime)s %(process)d %(threadName)s %(levelname)s %(name)s: %(message)s"
_installed: dict[str, logging.Handler] = {}


def setup_logging(path: Path, debug: bool = False) -> None:
    """Send the ``scriptflow`` logger to ``path`` only (never the user's working directory)."""
    from concurrent_log_handler import ConcurrentRotatingFileHandler

    logger = logging.getLogger("scriptflow")
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    key = str(path)
    if key in _installed:
        return
    for old in list(_installed.values()):
        logger.removeHandler(old)
        old.close()
    _installed.clear()
    handler = _quiet(ConcurrentRotatingFileHandler)(key, maxBytes=5 * 1024 * 1024, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    logger.addHandler(handler)
    _installed[key] = handler


def _quiet(base: type) -> type:
    """The handler, minus its habit of printing a traceback to stderr when a record cannot be written.

    A full disk or a read-only folder makes every log line fail; the run
    reports that once, as one line, through the ledger's own error, and the
    log is only a diagnostic aid.
    """

    class QuietHandler(base):  # type: ignore[misc,unused-ignore]
        def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
            pass

    return QuietHandler
