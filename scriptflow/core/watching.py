"""Following the stdout of watched attempts and delivering their matches (``t.watch``).

One daemon thread (``sf-watch``, started by the first watched attempt of a
run: unwatched tasks cost nothing) polls the stdout file (and the stderr
file, for ``stream="stderr"``) of every watched attempt in flight every
0.1 s, takes its new complete lines, searches each pattern in each line,
records a ``watch`` event in the ledger and calls the callback. The file is
the attempt's log file wherever the command runs (a local process, a
cluster job on the shared filesystem, a Dask worker, a container), so every
executor whose logs the engine can read is watched the same way. Each poll
opens the file again (on NFS, opening is what shows another host's writes).

When the attempt ends, the engine calls ``finish`` before it records the
outcome: the rest of the file (an unterminated last line too) is read and
delivered on that thread, so every match of an attempt has reached its
callback, and its events the writer, before the task's future resolves.

Each attempt has its own lock, held while its lines are read and delivered:
one attempt's callbacks run one at a time and in the order of the lines;
callbacks of different tasks may run at the same time. A callback that
raises is logged with its traceback, shown once on the console, noted in
that match's event, and otherwise ignored: the task and the run go on.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable, Optional

from ..clock import utc_now
from .lines import LineTail
from .watch import Watch, WatchEvent

log = logging.getLogger("scriptflow.watch")

#: Matches recorded in the ledger per attempt; later ones reach the callback but not the ledger
#: (one ``truncated`` event says how many there were).
MAX_EVENTS = 1000
#: Characters of a line (and of each group) kept in an event's detail.
MAX_TEXT = 1000
_INTERVAL = 0.1

RecordEvent = Callable[[str, dict[str, Any]], None]


class _Watched:
    """One attempt being watched: a reader per log file some watch reads, with its watches."""

    def __init__(self, uid: str, number: int, paths: dict[str, Path], watches: tuple[Watch, ...],
                 task: Any) -> None:
        self.uid, self.number, self.task = uid, number, task
        self.tails = [(LineTail(path), tuple(w for w in watches if w.stream == stream))
                      for stream, path in paths.items() if any(w.stream == stream for w in watches)]
        self.lock = threading.Lock()
        self.matches = 0
        self.finished = False


def _cut(text: Optional[str]) -> Optional[str]:
    return text if text is None or len(text) <= MAX_TEXT else text[:MAX_TEXT]


class Watcher:
    """The run's follower of watched attempts (see the module docstring)."""

    def __init__(self, run_id: int, record: RecordEvent, warn: Optional[Callable[[str], None]] = None) -> None:
        self.run_id, self.record, self.warn = run_id, record, warn
        self._watched: dict[int, _Watched] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._warned: set[int] = set()

    def add(self, attempt_id: int, uid: str, number: int, paths: dict[str, Path], watches: tuple[Watch, ...],
            task: Any) -> None:
        """Follow an attempt's log files (``{"stdout": path, "stderr": path}``) from their first byte
        (they may not exist yet)."""
        with self._lock:
            self._watched[attempt_id] = _Watched(uid, number, paths, watches, task)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="sf-watch", daemon=True)
                self._thread.start()

    def finish(self, attempt_id: int) -> None:
        """The attempt ended: deliver the rest of its output here, then forget it."""
        with self._lock:
            watched = self._watched.pop(attempt_id, None)
        if watched is None:
            return
        with watched.lock:
            self._read(watched, final=True)
            watched.finished = True
            if watched.matches > MAX_EVENTS:
                self._record(watched.uid, {"attempt": watched.number, "truncated": True,
                                           "matches": watched.matches, "recorded": MAX_EVENTS})

    def close(self) -> None:
        """The run is over: stop following (attempts never finished are dropped)."""
        self._stop.set()
        with self._lock:
            self._watched.clear()

    def _loop(self) -> None:
        while not self._stop.wait(_INTERVAL):
            with self._lock:
                current = list(self._watched.values())
            for watched in current:
                try:
                    with watched.lock:
                        if not watched.finished:
                            self._read(watched, final=False)
                except Exception:  # noqa: BLE001 - a bug here must not stop the following of other tasks
                    log.exception("watching %s failed", watched.uid)

    def _read(self, watched: _Watched, final: bool) -> None:
        for tail, watches in watched.tails:
            try:
                lines = tail.read(final)
            except Exception:  # noqa: BLE001 - the watcher observes; it never stops a run
                log.exception("reading %s for watch of %s failed", tail.path, watched.uid)
                continue
            for line in lines:
                for watch in watches:
                    match = watch.pattern.search(line)
                    if match is not None:
                        self._deliver(watched, watch, line, match)

    def _deliver(self, watched: _Watched, watch: Watch, line: str, match: Any) -> None:
        watched.matches += 1
        error = None
        if watch.callback is not None:
            event = WatchEvent(uid=watched.uid, attempt=watched.number, line=line, match=match,
                               pattern=watch.pattern.pattern, at=utc_now(), run_id=self.run_id, task=watched.task,
                               stream=watch.stream)
            try:
                watch.callback(event)
            except BaseException as exc:  # noqa: BLE001 - a callback's error (even sys.exit) is never the run's
                error = f"{type(exc).__name__}: {exc}"
                self._callback_failed(watch, watched.uid, error)
        if watched.matches > MAX_EVENTS:
            return
        detail: dict[str, Any] = {"attempt": watched.number, "pattern": watch.pattern.pattern,
                                  "line": _cut(line), "groups": [_cut(g) for g in match.groups()]}
        if watch.stream != "stdout":
            detail["stream"] = watch.stream
        if match.re.groupindex:
            detail["named"] = {k: _cut(v) for k, v in match.groupdict().items()}
        if error is not None:
            detail["callback_error"] = _cut(error)
        self._record(watched.uid, detail)

    def _callback_failed(self, watch: Watch, uid: str, error: str) -> None:
        name = getattr(watch.callback, "__qualname__", repr(watch.callback))
        log.exception("watch callback %s of %s raised (the run goes on)", name, uid)
        if self.warn is not None and id(watch.callback) not in self._warned:  # once per callback
            self._warned.add(id(watch.callback))
            self.warn(f"warning: watch callback {name} of {uid} raised {error} "
                      "(ignored; details in .scriptflow/scriptflow.log)")

    def _record(self, uid: str, detail: dict[str, Any]) -> None:
        try:
            self.record(uid, detail)
        except Exception:  # noqa: BLE001 - the writer reports its own failures
            log.exception("recording a watch event of %s failed", uid)
