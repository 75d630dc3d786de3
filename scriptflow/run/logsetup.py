"""The run log: ``.scriptflow/scriptflow.log``, safe for several processes.

A run (and a dry run beside it, or a run waiting for the project) appends
each record with one ``write`` to the file opened in append mode, so lines of
several processes never mix. Once the file reaches ``MAX_BYTES``,
concurrent-log-handler takes over: it rotates the file (keeping ``BACKUPS``
old ones) under its own lock, shared by every process. It is imported only
then: with ``portalocker`` and ``importlib.metadata`` under it, it would
otherwise cost every run's start more than most of scriptflow does.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

_FORMAT = "%(asctime)s %(process)d %(threadName)s %(levelname)s %(name)s: %(message)s"
#: The size at which the log is rotated, and how many rotated files are kept.
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 3
_installed: dict[str, logging.Handler] = {}


def setup_logging(path: Path, debug: bool = False) -> None:
    """Send the ``scriptflow`` logger to ``path`` only (never the user's working directory)."""
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
    handler = AppendingHandler(key)
    handler.setFormatter(logging.Formatter(_FORMAT))
    logger.addHandler(handler)
    _installed[key] = handler


class AppendingHandler(logging.Handler):
    """Appends records to ``path`` until it is full, then hands them to a rotating handler.

    It never prints a traceback to stderr when a record cannot be written: a
    full disk or a read-only folder makes every log line fail; the run
    reports that once, as one line, through the ledger's own error, and the
    log is only a diagnostic aid.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._fd: Optional[int] = None
        self._rotating: Optional[logging.Handler] = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._rotating is None:
                data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
                if os.fstat(self._fd).st_size + len(data) <= MAX_BYTES:
                    while data:
                        data = data[os.write(self._fd, data):]
                    return
                self._rotate()
            assert self._rotating is not None
            self._rotating.handle(record)
        except Exception:  # noqa: BLE001 - see the class docstring
            self.handleError(record)

    def _rotate(self) -> None:
        from concurrent_log_handler import ConcurrentRotatingFileHandler

        self._close_fd()
        rotating = _quiet(ConcurrentRotatingFileHandler)(self.path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                         encoding="utf-8")
        rotating.setFormatter(self.formatter)
        self._rotating = rotating

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass

    def _close_fd(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError:
                pass

    def close(self) -> None:
        self._close_fd()
        if self._rotating is not None:
            self._rotating.close()
        super().close()


def _quiet(base: type) -> type:
    """The rotating handler, minus its habit of printing a traceback when a record cannot be written."""

    class QuietHandler(base):  # type: ignore[misc,unused-ignore]
        def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
            pass

    return QuietHandler
