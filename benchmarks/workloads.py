"""The benchmark's projects: one task graph written for every tool that runs it.

Every workload is the same graph of N independent tasks: task I copies
``in_I.txt`` (2-7 bytes, written here) to ``out_I.txt`` with ``cp`` (one
real process, no shell), declaring the input and the output. The same graph
is written as a scriptflow ``sflow.py`` (flow ``bench``), a GNU ``Makefile``
(one pattern rule, as a Make user would write it), a doit ``dodo.py``
(``file_dep`` and ``targets``) and a bare Python script (a
``ThreadPoolExecutor`` running ``subprocess.run``, or stat-ing every file for
the no-op floor). Each tool gets its own folder, so no tool sees another's
state.

This module only writes files and checks results; ``run.py`` times them.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

SFLOW = '''\
import scriptflow as sf

N = {n}


def flow_bench():
    """N independent tasks: cp in_I.txt out_I.txt."""
    sf.bag(*[sf.Task(["cp", f"in_{{i}}.txt", f"out_{{i}}.txt"], inputs=f"in_{{i}}.txt", outputs=f"out_{{i}}.txt",
                     name=f"t{{i}}").start()
             for i in range(N)])
'''

MAKEFILE = '''\
N := {n}
OUTS := $(addprefix out_,$(addsuffix .txt,$(shell seq 0 $$(( $(N) - 1 )))))

.PHONY: all
all: $(OUTS)

out_%.txt: in_%.txt
\tcp $< $@
'''

DODO = '''\
N = {n}
DOIT_CONFIG = {{"verbosity": 0, "dep_file": ".doit.db"}}


def task_t():
    for i in range(N):
        yield {{"name": str(i), "actions": [["cp", f"in_{{i}}.txt", f"out_{{i}}.txt"]],
               "file_dep": [f"in_{{i}}.txt"], "targets": [f"out_{{i}}.txt"]}}
'''

BARE_POOL = '''\
import subprocess, sys
from concurrent.futures import ThreadPoolExecutor

n, j = int(sys.argv[1]), int(sys.argv[2])


def one(i):
    return subprocess.run(["cp", f"in_{i}.txt", f"out_{i}.txt"], stdin=subprocess.DEVNULL).returncode


with ThreadPoolExecutor(j) as pool:
    codes = list(pool.map(one, range(n)))
sys.exit(1 if any(codes) else 0)
'''

#: The no-op floor of a tool written in Python: start, stat every input and output, compare.
BARE_STAT = '''\
import os, sys

n = int(sys.argv[1])
stale = 0
for i in range(n):
    if os.stat(f"in_{i}.txt").st_mtime_ns > os.stat(f"out_{i}.txt").st_mtime_ns:
        stale += 1
sys.exit(1 if stale else 0)
'''


def write_inputs(folder: Path, n: int) -> None:
    for i in range(n):
        (folder / f"in_{i}.txt").write_text(f"{i}\n")


def make_folder(root: Path, name: str, n: int, tool: str) -> Path:
    """A fresh folder for one tool: the inputs and that tool's description of the graph."""
    folder = root / name
    folder.mkdir(parents=True)
    write_inputs(folder, n)
    if tool == "scriptflow":
        (folder / "sflow.py").write_text(SFLOW.format(n=n))
    elif tool == "make":
        (folder / "Makefile").write_text(MAKEFILE.format(n=n))
    elif tool == "doit":
        (folder / "dodo.py").write_text(DODO.format(n=n))
    return folder


def count_outputs(folder: Path, n: int) -> int:
    """How many of the N outputs exist with the right content (a benchmark must not be fast by doing nothing)."""
    good = 0
    for i in range(n):
        try:
            if (folder / f"out_{i}.txt").read_text() == f"{i}\n":
                good += 1
        except FileNotFoundError:
            pass
    return good


def ledger_path(folder: Path) -> Path:
    return folder / ".scriptflow" / "ledger.db"


def ledger_bytes(folder: Path) -> int:
    """Bytes the ledger takes on disk: the database file and its write-ahead log."""
    db = ledger_path(folder)
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def _read(folder: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{ledger_path(folder)}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def last_run_counts(folder: Path) -> dict[str, int]:
    """Task statuses of the latest run in the folder's ledger."""
    rows = _read(folder, "SELECT status, count(*) FROM run_tasks WHERE run_id = (SELECT max(id) FROM runs) "
                         "GROUP BY status")  # run_tasks: the cached tasks recorded as reuses included
    return {status: count for status, count in rows}


def last_run_hashing(folder: Path) -> tuple[int, int]:
    """(files read to hash them, hashes taken from the stat cache) by the latest run."""
    return _read(folder, "SELECT files_hashed, files_from_stat_cache FROM runs ORDER BY id DESC LIMIT 1")[0]


LEDGER_TABLES = ("runs", "tasks", "reuses", "attempts", "files", "stat_cache", "events")


def ledger_rows(folder: Path) -> dict[str, int]:
    """Row count of every ledger table (what a run added is the difference of two calls)."""
    return {t: _read(folder, f"SELECT count(*) FROM {t}")[0][0] for t in LEDGER_TABLES}
