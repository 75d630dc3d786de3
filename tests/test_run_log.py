"""The run log (``.scriptflow/scriptflow.log``): whole lines from several processes, rotated when full."""
from __future__ import annotations

import logging
import subprocess
import sys

from scriptflow.run import logsetup

WRITER = """
import logging, sys
from pathlib import Path
from scriptflow.run.logsetup import setup_logging
setup_logging(Path(sys.argv[1]))
log = logging.getLogger("scriptflow.test")
for i in range(300):
    log.info("%s line %d %s", sys.argv[2], i, "x" * 200)
"""


def test_processes_appending_at_once_never_mix_their_lines(tmp_path):
    path = tmp_path / "scriptflow.log"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name]) for name in ("alpha", "beta", "gamma")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    lines = path.read_text().splitlines()
    assert len(lines) == 900
    for name in ("alpha", "beta", "gamma"):
        mine = [line for line in lines if f" {name} line " in line]
        assert [int(line.split(" line ")[1].split()[0]) for line in mine] == list(range(300))
        assert all(line.endswith("x" * 200) and " INFO scriptflow.test: " in line for line in mine)


def test_a_full_log_is_rotated_and_writing_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(logsetup, "MAX_BYTES", 4000)
    path = tmp_path / "scriptflow.log"
    handler = logsetup.AppendingHandler(str(path))
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("scriptflow.test-rotation")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        for i in range(200):
            log.info("record %03d %s", i, "y" * 100)
    finally:
        log.removeHandler(handler)
        handler.close()
    rotated = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("scriptflow.log."))
    assert rotated == ["scriptflow.log.1", "scriptflow.log.2", "scriptflow.log.3"]  # BACKUPS kept, no more
    assert path.stat().st_size <= 4000 + 200
    last = path.read_text().splitlines()
    assert last[-1].startswith("record 199 ")
