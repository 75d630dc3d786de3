"""What a run shows in the terminal: live progress on a TTY, plain lines otherwise.

The engine calls the ``Listener`` hooks from its worker threads; both
displays only count and print, so they never slow dispatch down.
"""
from __future__ import annotations

import errno
import logging
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO, Optional

from ..clock import format_duration
from ..core.runstate import Listener, TaskRecord
from ..executors.base import Attempt, Outcome
from .follow import LogFollower

log = logging.getLogger("scriptflow.console")

STDERR_LINES = 10
FAILED_STATES = ("failed",)
BLOCKED_STATES = ("upstream-failed", "not-started", "interrupted")


def tail(path: Path, lines: int = STDERR_LINES) -> list[str]:
    """The last lines of a log file (reads at most the last 64 KiB)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 65536))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.rstrip("\n").splitlines()[-lines:]


class RunConsole(Listener):
    """Counts task states and prints events; subclasses decide how they look."""

    def __init__(self, project_dir: Path, stream: Optional[IO[str]] = None) -> None:
        self.project_dir = project_dir
        self.stream = stream or sys.stdout
        self.started = time.monotonic()
        self.counts: Counter[str] = Counter()
        self.running: dict[str, float] = {}
        self.failures: list[TaskRecord] = []
        self.blocked: list[TaskRecord] = []
        self._lock = threading.Lock()
        self.run_label = ""
        self.follower = LogFollower(self.print)
        #: True once the stream is gone (``scriptflow run | head``): the run goes on, silently.
        self.gone = False
        self._write_failed = False

    # lifecycle
    def begin(self, run_id: int, flow: str) -> None:
        self.run_label = f"run {run_id} ({flow})"
        self.started = time.monotonic()  # not counting a wait for the project lock

    def end(self) -> None:
        pass

    def print(self, text: str = "", flush: bool = True) -> None:
        """``flush=False``: the line may wait in the stream's buffer for the next flushed line (a
        no-op's thousands of "cached" lines, one ``write`` per buffer instead of one per line)."""
        with self._lock:
            self._write_locked(text, flush)

    def _write_locked(self, text: str, flush: bool) -> None:
        """``print``'s work, under ``_lock``."""
        if self.gone:
            return
        try:
            self.write(text, flush)
        except Exception as exc:  # the console is an observer: it never stops a run
            if isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
                self.stream_gone()
            elif not self._write_failed:
                self._write_failed = True
                log.exception("the console could not write a line (further errors are not logged)")

    def write(self, text: str, flush: bool = True) -> None:
        self.stream.write(text + "\n")
        if flush:
            self.stream.flush()

    def stream_gone(self) -> None:
        """The reader of our output went away (a closed pipe): stop writing, keep running.

        A closed pipe is not a request to stop hours of computation (Ctrl-C and SIGTERM are),
        so the run finishes and is recorded as usual. The stream's file descriptor is pointed
        at the null device so that nothing, down to the interpreter's final flush, writes to
        the dead pipe again.
        """
        self.gone = True
        log.warning("stdout closed (a pipe whose reader exited): the run continues without console output")
        try:
            fd = self.stream.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
        except (OSError, ValueError, AttributeError):  # no file descriptor (a StringIO...): nothing to do
            pass

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    # listener hooks
    def task_submitted(self, record: TaskRecord) -> None:
        with self._lock:
            self.counts["queued"] += 1

    def attempt_started(self, record: TaskRecord, attempt: Attempt) -> None:
        with self._lock:
            if attempt.number == 1:
                self.counts["queued"] -= 1
            self.running[record.spec.uid] = time.monotonic()
        if record.spec.show_output:
            self.follower.follow(record.spec.uid, attempt.stdout_path, attempt.stderr_path)

    def attempt_failed(self, record: TaskRecord, attempt: Attempt, outcome: Outcome, will_retry: bool) -> None:
        if will_retry:
            self.print(f"retry   {record.spec.uid}: attempt {attempt.number} failed ({record.error}), "
                       f"trying again ({attempt.number + 1} of {record.spec.retry + 1})")

    def task_finished(self, record: TaskRecord) -> None:
        uid = record.spec.uid
        self.follower.finish(uid)
        with self._lock:
            if self.running.pop(uid, None) is None:
                self.counts["queued"] -= 1
            self.counts[record.status] += 1
            if record.status in FAILED_STATES:
                self.failures.append(record)
            elif record.status in BLOCKED_STATES:
                self.blocked.append(record)
        if record.status == "failed":
            self.print_failure(record)

    def task_reused(self, record: TaskRecord) -> None:
        """Never queued, never running: counted as cached, and its ``cached_line`` written
        (not flushed on its own), under one lock in one call: a no-op makes one per task."""
        line = self.cached_line(record)
        with self._lock:
            self.counts["cached"] += 1
            if line is not None:
                self._write_locked(line, False)

    def cached_line(self, record: TaskRecord) -> Optional[str]:
        """The line a cached task shows, or None (this display shows none)."""
        return None

    # reports
    def failure_lines(self, record: TaskRecord) -> list[str]:
        spec = record.spec
        tries = f", attempt {record.attempts} of {spec.retry + 1}" if record.attempts else ""
        lines = [f"FAILED  {spec.uid}: {record.error or record.reason}{tries}"]
        if record.stderr_path and record.attempts:
            log = self.project_dir / record.stderr_path
            last = tail(log)
            if last:
                lines.append(f"        last lines of stderr ({record.stderr_path}):")
                lines.extend(f"        | {line}" for line in last)
            else:
                lines.append(f"        stderr was empty ({record.stderr_path})")
        return lines

    def print_failure(self, record: TaskRecord) -> None:
        self.print("\n".join(self.failure_lines(record)))

    def summary(self, status: str, exit_code: int, stats: str) -> None:
        c = self.counts
        total = sum(c[s] for s in ("succeeded", "cached", "failed", "upstream-failed", "not-started", "interrupted"))
        parts = [f"{c['succeeded']} ran", f"{c['cached']} cached"]
        for label in ("failed", "upstream-failed", "not-started", "interrupted"):
            if c[label]:
                parts.append(f"{c[label]} {label}")
        lines = []
        upstream = [r for r in self.blocked if r.status == "upstream-failed"]
        if upstream:
            names = ", ".join(r.spec.uid for r in upstream[:10]) + (" ..." if len(upstream) > 10 else "")
            lines.append(f"upstream failed (not run): {names}")
        if total and c["cached"] == total:
            lines.append(f"all {total} tasks up to date")
        lines.append(f"{self.run_label} {status} in {format_duration(self.elapsed())}: "
                     f"{total} tasks: {', '.join(parts)}; {stats}")
        self.print("\n".join(lines))


class PlainConsole(RunConsole):
    """One line per event: for logs, pipes and ``classic_terminal``."""

    def stamp(self) -> str:
        return f"[{self.elapsed():8.2f}s]"

    def begin(self, run_id: int, flow: str) -> None:
        super().begin(run_id, flow)
        self.print(f"{self.stamp()} {self.run_label} started")

    def attempt_started(self, record: TaskRecord, attempt: Attempt) -> None:
        super().attempt_started(record, attempt)
        if not record.spec.quiet:
            self.print(f"{self.stamp()} start   {record.spec.uid}")

    def task_finished(self, record: TaskRecord) -> None:
        started = self.running.get(record.spec.uid)
        super().task_finished(record)
        if record.spec.quiet or record.status == "failed":
            return
        if record.status == "succeeded":
            took = f" ({format_duration(time.monotonic() - started)})" if started else ""
            self.print(f"{self.stamp()} done    {record.spec.uid}{took}")
        elif record.status == "cached":
            self._print_cached(record)
        elif record.status == "upstream-failed":
            self.print(f"{self.stamp()} skipped {record.spec.uid}: {record.error}")

    def cached_line(self, record: TaskRecord) -> Optional[str]:
        return None if record.spec.quiet else f"{self.stamp()} cached  {record.spec.uid}"

    def _print_cached(self, record: TaskRecord) -> None:
        """Not flushed on its own: the next flushed line (at the latest the summary) writes it."""
        line = self.cached_line(record)
        if line is not None:
            self.print(line, flush=False)

    def print_failure(self, record: TaskRecord) -> None:
        lines = self.failure_lines(record)
        lines[0] = f"{self.stamp()} {lines[0]}"
        self.print("\n".join(lines))


class LiveConsole(RunConsole):
    """A rich live panel: counts, elapsed time and the tasks running now."""

    MAX_SHOWN = 8

    def __init__(self, project_dir: Path, stream: Optional[IO[str]] = None) -> None:
        super().__init__(project_dir, stream)
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=self.stream)
        self.live = Live(console=self.console, refresh_per_second=8, transient=True,
                         get_renderable=self.render, redirect_stdout=False, redirect_stderr=False)

    def begin(self, run_id: int, flow: str) -> None:
        super().begin(run_id, flow)
        self.live.start()

    def end(self) -> None:
        self.live.stop()

    def write(self, text: str, flush: bool = True) -> None:
        from rich.text import Text

        self.console.print(Text(text))

    def render(self):
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            c = dict(self.counts)
            running = sorted(self.running.items(), key=lambda kv: kv[1])
        now = time.monotonic()
        head = Text.assemble(
            (f"{self.run_label}  ", "bold"), (format_duration(self.elapsed()), "cyan"), "  ",
            (f"queued {c.get('queued', 0)}", "white"), "  ",
            (f"running {len(running)}", "yellow"), "  ",
            (f"done {c.get('succeeded', 0)}", "green"), "  ",
            (f"cached {c.get('cached', 0)}", "blue"), "  ",
            (f"failed {c.get('failed', 0) + c.get('upstream-failed', 0)}", "red"),
        )
        table = Table.grid(padding=(0, 2))
        table.add_row(head)
        for uid, since in running[: self.MAX_SHOWN]:
            table.add_row(Text(f"  {format_duration(now - since):>7}  {uid}", "yellow"))
        if len(running) > self.MAX_SHOWN:
            table.add_row(Text(f"  ... and {len(running) - self.MAX_SHOWN} more running", "yellow"))
        return table


class QuietConsole(RunConsole):
    """Counts only (``--dry-run`` prints its table at the end)."""

    def print_failure(self, record: TaskRecord) -> None:
        pass


def make_console(project_dir: Path, classic: bool, stream: Optional[IO[str]] = None,
                 quiet: bool = False) -> RunConsole:
    stream = stream or sys.stdout
    if quiet:
        return QuietConsole(project_dir, stream)
    if classic or not stream.isatty():
        return PlainConsole(project_dir, stream)
    return LiveConsole(project_dir, stream)
