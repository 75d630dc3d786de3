"""Reading a growing log file line by line, as ``tail -f`` does.

A task's output goes to its log files (locally, on a cluster's shared
filesystem, from a Dask worker); whoever wants it while the task runs (the
console for ``quiet=False``, the watcher for ``t.watch``) polls the file and
takes the new complete lines. This is that one reader: it keeps its offset
and the incomplete last line between reads, so a line written in two pieces
is seen once, whole.
"""
from __future__ import annotations

from pathlib import Path

#: An incomplete line longer than this is taken as a line (a progress bar that never writes "\n"
#: must not grow the buffer without end).
MAX_PARTIAL = 1 << 20


class LineTail:
    """The new lines of one file since the last ``read``."""

    __slots__ = ("path", "offset", "partial")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def read(self, final: bool = False) -> list[str]:
        """The complete lines written since the last call, without their line ends (``\\r\\n`` too);
        ``final``: the command has ended, so an unterminated last line counts as well.
        A file that does not exist yet has no lines; bytes that are not UTF-8 read as U+FFFD."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            data = b""
        self.offset += len(data)
        text = self.partial + data
        *lines, rest = text.split(b"\n")
        if rest and (final or len(rest) > MAX_PARTIAL):
            lines.append(rest)
            rest = b""
        self.partial = rest
        return [line.decode("utf-8", errors="replace").removesuffix("\r") for line in lines]
