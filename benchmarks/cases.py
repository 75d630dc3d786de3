"""The workloads: what each repetition runs, for each tool, and how its result is checked.

A workload's repetition is a list of steps, one per tool; ``run.py`` runs
the steps in order on even repetitions and in reverse on odd ones, so no
tool always runs on a machine warmed (or loaded) by another. Every step
checks what it timed: scriptflow's ledger must hold N succeeded (or N
cached) tasks of the latest run, the other tools' outputs must all exist
with the right bytes. A broken engine cannot post a fast figure.
"""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from measure import BenchmarkError, Sample, timed
from workloads import (BARE_POOL, BARE_STAT, count_outputs, last_run_counts, last_run_hashing, ledger_bytes,
                       ledger_rows, make_folder)

WORKLOADS = ("fanout", "noop", "dryrun", "noop-big", "help", "ledger-growth")


@dataclass
class Tools:
    scriptflow: list[str]
    jobs: int
    make: Optional[list[str]] = None
    doit: Optional[list[str]] = None


@dataclass
class Result:
    """The samples of one workload at one N: arm label -> samples, plus ledger figures."""

    workload: str
    n: int
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    #: Bytes the ledger grew by, per cached task, for each scriptflow no-op run.
    growth_per_task: list[float] = field(default_factory=list)
    #: Rows added to each ledger table per cached task by one no-op run.
    rows_per_task: dict[str, float] = field(default_factory=dict)
    #: Files each no-op run read to hash them (the rest came from the stat cache).
    files_read: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, arm: str, sample: Sample) -> None:
        self.samples.setdefault(arm, []).append(sample)


Step = Callable[[], None]


def _expect(folder: Path, status: str, n: int, what: str) -> None:
    counts = last_run_counts(folder)
    if counts != {status: n}:
        raise BenchmarkError(f"{what}: the ledger of {folder} should hold {n} {status} tasks, it holds {counts}")


def _expect_outputs(folder: Path, n: int, what: str) -> None:
    good = count_outputs(folder, n)
    if good != n:
        raise BenchmarkError(f"{what}: {good} of {n} outputs in {folder} are right")


def _sf_run(tools: Tools, *extra: str) -> list[str]:
    return [*tools.scriptflow, "run", "bench", "-j", str(tools.jobs), "--classic", *extra]


def build_scriptflow(tools: Tools, folder: Path, n: int) -> Sample:
    """Run the flow once on a fresh project and check that every task succeeded."""
    sample = timed(_sf_run(tools), folder)
    _expect(folder, "succeeded", n, "scriptflow run")
    _expect_outputs(folder, n, "scriptflow run")
    return sample


def sf_noop(tools: Tools, folder: Path, n: int, res: Result, arm: str) -> None:
    """One timed no-op run, checked (N cached), with what it added to the ledger."""
    before_bytes, before_rows = ledger_bytes(folder), ledger_rows(folder)
    res.add(arm, timed(_sf_run(tools), folder))
    _expect(folder, "cached", n, arm)
    res.growth_per_task.append((ledger_bytes(folder) - before_bytes) / n)
    after_rows = ledger_rows(folder)
    res.rows_per_task = {t: (after_rows[t] - before_rows[t]) / n for t in after_rows}
    res.files_read.append(last_run_hashing(folder)[0])


def fanout_steps(tools: Tools, root: Path, n: int, rep: int, res: Result) -> list[Step]:
    """N fresh tasks at once, -j J: scriptflow, a bare thread pool, make -j, doit -n."""
    def scriptflow() -> None:
        folder = make_folder(root, f"sf-{rep}", n, "scriptflow")
        res.add("scriptflow", build_scriptflow(tools, folder, n))

    def bare() -> None:
        folder = make_folder(root, f"bare-{rep}", n, "bare")
        res.add("bare pool", timed([sys.executable, "-c", BARE_POOL, str(n), str(tools.jobs)], folder))
        _expect_outputs(folder, n, "bare pool")

    steps: list[Step] = [scriptflow, bare]
    if tools.make:
        make = tools.make

        def run_make() -> None:
            folder = make_folder(root, f"make-{rep}", n, "make")
            res.add("make", timed([*make, "-r", "-s", "-j", str(tools.jobs)], folder))
            _expect_outputs(folder, n, "make")
        steps.append(run_make)
    if tools.doit:
        doit = tools.doit

        def run_doit() -> None:
            folder = make_folder(root, f"doit-{rep}", n, "doit")
            res.add("doit", timed([*doit, "-n", str(tools.jobs), "-P", "thread"], folder))
            _expect_outputs(folder, n, "doit")
        steps.append(run_doit)
    return steps


def rerun_one(tools: Tools, folder: Path, n: int) -> None:
    """An untimed run of one task again (``-f t0``), checked: 1 succeeded, the others cached."""
    timed(_sf_run(tools, "-f", "t0"), folder)
    counts = last_run_counts(folder)
    if counts != {"succeeded": 1, "cached": n - 1}:
        raise BenchmarkError(f"scriptflow run -f t0: the ledger of {folder} should hold 1 succeeded and "
                             f"{n - 1} cached tasks, it holds {counts}")


def noop_steps(tools: Tools, root: Path, n: int, rep: int, res: Result) -> list[Step]:
    """Everything built (untimed), then nothing to do: the first no-op after the run, the next, and
    the first no-op after an (untimed) run of one task again."""
    def scriptflow() -> None:
        folder = make_folder(root, f"sf-{rep}", n, "scriptflow")
        build_scriptflow(tools, folder, n)
        sf_noop(tools, folder, n, res, "scriptflow first no-op")
        sf_noop(tools, folder, n, res, "scriptflow no-op")
        rerun_one(tools, folder, n)
        sf_noop(tools, folder, n, res, "scriptflow no-op after a rerun")
        shutil.rmtree(folder)

    steps: list[Step] = [scriptflow]
    if tools.make:
        make = tools.make

        def run_make() -> None:
            folder = make_folder(root, f"make-{rep}", n, "make")
            timed([*make, "-r", "-s", "-j", str(tools.jobs)], folder)
            res.add("make", timed([*make, "-r", "-s", "-j", str(tools.jobs)], folder))
            _expect_outputs(folder, n, "make")
            res.add("bare stat", timed([sys.executable, "-c", BARE_STAT, str(n)], folder))
            shutil.rmtree(folder)
        steps.append(run_make)
    if tools.doit:
        doit = tools.doit

        def run_doit() -> None:
            folder = make_folder(root, f"doit-{rep}", n, "doit")
            timed([*doit, "-n", str(tools.jobs), "-P", "thread"], folder)
            res.add("doit", timed([*doit, "-n", str(tools.jobs), "-P", "thread"], folder))
            _expect_outputs(folder, n, "doit")
            shutil.rmtree(folder)
        steps.append(run_doit)
    return steps


def dryrun_steps(tools: Tools, root: Path, n: int, rep: int, res: Result) -> list[Step]:
    """`run --dry-run` on a project that never ran (every task would run) against `make -n`."""
    def scriptflow() -> None:
        folder = root / "sf"
        if not folder.exists():
            make_folder(root, "sf", n, "scriptflow")
        shutil.rmtree(folder / ".scriptflow", ignore_errors=True)
        listing = root / "sf-dry-run.txt"
        res.add("scriptflow -n", timed(_sf_run(tools, "--dry-run"), folder, stdout=listing))
        last = listing.read_text().rstrip().splitlines()[-1]
        if not last.startswith(f"dry run: {n} of {n} tasks would run"):
            raise BenchmarkError(f"scriptflow --dry-run should list {n} tasks that would run; it ends: {last}")

    steps: list[Step] = [scriptflow]
    if tools.make:
        make = tools.make

        def run_make() -> None:
            folder = root / "make"
            if not folder.exists():
                make_folder(root, "make", n, "make")
            listing = root / "make-dry-run.txt"
            res.add("make -n", timed([*make, "-r", "-n"], folder, stdout=listing))
            lines = listing.read_text().count("\n")
            if lines != n:
                raise BenchmarkError(f"make -n should list {n} commands, it listed {lines}")
        steps.append(run_make)
    return steps


def noop_big_steps(tools: Tools, root: Path, n: int, rep: int, res: Result) -> list[Step]:
    """A built project of N tasks (built once, before the first repetition), then no-op runs."""
    def scriptflow() -> None:
        folder = root / "sf"
        if not folder.exists():
            make_folder(root, "sf", n, "scriptflow")
            built = build_scriptflow(tools, folder, n)
            res.notes.append(f"building the {n:,}-task project took {built.seconds:.0f} s, "
                             f"peak RSS {built.rss_mb:.0f} MB")
            sf_noop(tools, folder, n, res, "scriptflow first no-op")
        sf_noop(tools, folder, n, res, "scriptflow no-op")

    steps: list[Step] = [scriptflow]
    if tools.make:
        make = tools.make

        def run_make() -> None:
            folder = root / "make"
            if not folder.exists():
                make_folder(root, "make", n, "make")
                timed([*make, "-r", "-s", "-j", str(tools.jobs)], folder)
                _expect_outputs(folder, n, "make")
            res.add("make", timed([*make, "-r", "-s", "-j", str(tools.jobs)], folder))
        steps.append(run_make)
    return steps


def help_steps(tools: Tools, root: Path, n: int, rep: int, res: Result) -> list[Step]:
    """Start-up: `scriptflow --help` and `--version` against `python -c pass` (this interpreter)."""
    folder = root
    return [
        lambda: res.add("scriptflow --help", timed([*tools.scriptflow, "--help"], folder)),
        lambda: res.add("scriptflow --version", timed([*tools.scriptflow, "--version"], folder)),
        lambda: res.add("python -c pass", timed([sys.executable, "-c", "pass"], folder)),
    ]


def ledger_growth_steps(tools: Tools, root: Path, n: int, rep: int, res: Result) -> list[Step]:
    """Consecutive no-op runs of one built project: bytes and rows each adds to the ledger."""
    def scriptflow() -> None:
        folder = root / "sf"
        if not folder.exists():
            make_folder(root, "sf", n, "scriptflow")
            build_scriptflow(tools, folder, n)
        sf_noop(tools, folder, n, res, "scriptflow no-op")
    return [scriptflow]


STEPS = {
    "fanout": fanout_steps,
    "noop": noop_steps,
    "dryrun": dryrun_steps,
    "noop-big": noop_big_steps,
    "help": help_steps,
    "ledger-growth": ledger_growth_steps,
}

#: The arm every other arm of the workload is compared with (the ratio column).
PRIMARY = {
    "fanout": "scriptflow",
    "noop": "scriptflow first no-op",
    "dryrun": "scriptflow -n",
    "noop-big": "scriptflow no-op",
    "help": "scriptflow --help",
    "ledger-growth": "scriptflow no-op",
}

DEFAULT_N = {"fanout": [10_000], "noop": [10_000], "dryrun": [100_000], "noop-big": [100_000],
             "help": [0], "ledger-growth": [10_000]}
QUICK_N = {"fanout": [500], "noop": [500], "dryrun": [2_000], "noop-big": [2_000], "help": [0],
           "ledger-growth": [500]}
