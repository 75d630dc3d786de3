#!/usr/bin/env python
"""Two versions of scriptflow on one workload, interleaved: what a change bought.

``run.py`` compares scriptflow with other tools; this compares scriptflow with
itself: the installed one ("after") and an older version ("before": a commit
of this repository, ``--before-rev``, or a folder holding an older
``scriptflow`` package with its ``schema`` folder inside, ``--before``). The
older one is imported from that folder even when the installed one is an
editable install (whose import hook would otherwise win over ``PYTHONPATH``);
the run fails if it is not.

Workloads (N ``cp`` tasks, as in ``run.py``):

* ``fanout``: a fresh folder per arm and repetition, ``-j J``, with the bare
  thread pool as a third arm; each scriptflow run must leave N succeeded tasks;
* ``noop``: per arm, one folder built once by that arm and run once more
  (both untimed: the ledger and the files it keeps are that version's own),
  then no-op runs, each of which must find N cached tasks;
* ``first-noop``: as ``noop``, but each timed no-op follows an untimed run
  that ran one task again (``-f t0``): the first no-op after a run that
  changed the ledger (the run that reads the ledger, unless that run kept
  the quick lane's snapshot for it);
* ``rerun``: as ``noop``, but each timed run reruns one task (``-f t0``),
  followed by an untimed no-op: what a run that changed the ledger costs,
  the reading it may do for the next run included;
* ``dryrun``: ``run --dry-run`` of one folder per arm that never ran.

Each repetition runs the arms in another order: the order turns by one place
per repetition, so that each arm runs in each place in turn (with the bare
pool as a third arm, reversing the order every other repetition left
"after" always in the middle, right after another arm's folder of N
inputs, outputs and logs was deleted, which slows creating files on a file
system without a journal). It prints
each repetition and, per arm, the medians of wall time, CPU time (user +
system of the whole process tree) and peak RSS, then the medians of the paired
ratios, which cancel most of the load of a shared machine.

    python benchmarks/compare.py --before-rev 6fbb478 --workload noop --n 10000 --repeat 5
    python benchmarks/compare.py --before /tmp/old --workload fanout --n 3000 --repeat 3
    python benchmarks/compare.py --before-rev HEAD --workload first-noop --n 10000 --repeat 10
    python benchmarks/compare.py --before-rev HEAD --workload rerun --n 10000 --repeat 10
    python benchmarks/compare.py --before-rev HEAD --workload noop --executor dask --n 3000 --repeat 8

``--executor dask`` runs the scriptflow arms' tasks on a Dask LocalCluster
started by the run (``LOCAL_CLUSTER``: 2 workers of 1 thread), which needs
``pip install '.[dask]'``; the bare pool of ``fanout`` stays as it is. The
workers, which Dask starts as new processes, import the installed
scriptflow in both arms: the older version's own code runs only in the
``scriptflow`` process.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import Sample, timed  # noqa: E402
from workloads import BARE_POOL, last_run_counts, make_folder  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
#: Runs the scriptflow command of the folder argv[1] (argv[2:] are its arguments), never an installed
#: one, as ``python -m scriptflow`` runs it (the "after" arm): through the package's own
#: ``__main__``, so that what its entry point does around the CLI counts in both arms (the freeze
#: before exit, ``scriptflow.entry``: calling ``scriptflow.cli.main`` instead left the older arm's
#: last garbage collection in, about 7 % of a no-op of 10,000). A package without ``__main__``
#: (before it existed) runs its CLI directly.
BOOT = ("import importlib.util, runpy, sys; folder = sys.argv.pop(1); "
        "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "
        "sys.path.insert(0, folder); import scriptflow; "
        "assert scriptflow.__file__.startswith(folder), scriptflow.__file__; sys.argv[0] = 'scriptflow'; "
        "runpy.run_module('scriptflow', run_name='__main__', alter_sys=True) "
        "if importlib.util.find_spec('scriptflow.__main__') else __import__('scriptflow.cli').cli.main()")


def older_version(rev: str, into: Path) -> Path:
    """Commit ``rev`` of this repository's package, as a folder ``--before`` would take."""
    found = subprocess.run(["git", "-C", str(REPO), "archive", rev, "scriptflow", "schema"], capture_output=True)
    if found.returncode != 0:
        said = " ".join(found.stderr.decode(errors="replace").split())
        raise SystemExit(f"{Path(sys.argv[0]).name}: {rev!r} is not a commit of this repository with a "
                         f"scriptflow package (git: {said})")
    archive = found.stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    shutil.move(str(into / "schema"), str(into / "scriptflow" / "schema"))  # where an install puts it
    return into


#: The status every task of a workload's run must end in (a dry run records none).
EXPECTED = {"fanout": "succeeded", "noop": "cached", "first-noop": "cached"}
#: What ``--executor dask`` puts at the top of each scriptflow folder's sflow.py.
LOCAL_CLUSTER = ('sf.init({"executor": "dask", "executors": {"dask": {"n_workers": 2, '
                 '"threads_per_worker": 1}}})\n')


def scriptflow_arms(before: Path, workload: str, jobs: int) -> dict[str, list[str]]:
    """The two versions' ``scriptflow run`` commands for ``workload``: the older package's through
    ``BOOT``, the installed one's as ``python -m scriptflow``."""
    run = ["run", "bench", "-j", str(jobs), "--classic", *(["--dry-run"] if workload == "dryrun" else [])]
    return {"before": [sys.executable, "-c", BOOT, str(before), *run],
            "after": [sys.executable, "-m", "scriptflow", *run]}


def add_older_arguments(parser: argparse.ArgumentParser) -> None:
    """``--before FOLDER`` or ``--before-rev REV``: the older version (``older_package``)."""
    older = parser.add_mutually_exclusive_group(required=True)
    older.add_argument("--before", help="a folder holding an older scriptflow package (schema/ inside it)")
    older.add_argument("--before-rev", help="a commit of this repository to compare with")


def older_package(args: argparse.Namespace, root: Path) -> Path:
    """The folder holding the older package: ``--before``, or ``--before-rev`` unpacked under ``root``."""
    return Path(args.before).resolve() if args.before else older_version(args.before_rev, root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_older_arguments(parser)
    parser.add_argument("--workload", choices=["fanout", "noop", "first-noop", "rerun", "dryrun"], default="fanout")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--executor", choices=["local", "dask"], default="local",
                        help="where the scriptflow arms run their tasks (dask: a LocalCluster of the run)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="scriptflow-compare-"))
    try:
        return compare(args, older_package(args, root), root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def scriptflow_folder(root: Path, name: str, n: int, executor: str) -> Path:
    """``make_folder`` for scriptflow, its flow's tasks on ``executor``."""
    folder = make_folder(root, name, n, "scriptflow")
    if executor == "dask":
        flow = folder / "sflow.py"
        text = flow.read_text()
        flow.write_text(text.replace("import scriptflow as sf\n", "import scriptflow as sf\n" + LOCAL_CLUSTER, 1))
    return folder


def compare(args: argparse.Namespace, before: Path, root: Path) -> int:
    arms = scriptflow_arms(before, args.workload, args.jobs)
    if args.workload == "fanout":
        arms["bare"] = [sys.executable, "bare.py", str(args.n), str(args.jobs)]
    expected = EXPECTED.get(args.workload)
    kept: dict[str, Path] = {}  # noop, dryrun: one folder per arm, each ledger written by its own version
    if args.workload != "fanout":
        for arm in arms:
            kept[arm] = scriptflow_folder(root, f"project-{arm}", args.n, args.executor)
            if args.workload in ("noop", "first-noop", "rerun"):
                print(f"building {args.n} tasks with {arm} (untimed) ...", flush=True)
                timed(arms[arm], kept[arm])
                timed(arms[arm], kept[arm])  # and a first no-op: what the timed ones repeat
    samples: dict[str, list[Sample]] = {arm: [] for arm in arms}
    for r in range(args.repeat):
        for arm in [*list(arms)[r % len(arms):], *list(arms)[:r % len(arms)]]:
            folder = kept.get(arm) or scriptflow_folder(root, f"{arm}{r}", args.n, args.executor)
            (folder / "bare.py").write_text(BARE_POOL)
            if args.workload == "first-noop":  # one task run again: the ledger changed since the last read
                timed([*arms[arm], "-f", "t0"], folder, stdout=folder / "listing.txt")
            rerun = args.workload == "rerun"
            samples[arm].append(timed([*arms[arm], *(["-f", "t0"] if rerun else [])], folder,
                                      stdout=folder / "listing.txt"))
            want = {"succeeded": 1, "cached": args.n - 1} if rerun else {expected: args.n} if expected else {}
            if want and arm != "bare" and last_run_counts(folder) != want:
                sys.exit(f"compare: {arm} left {last_run_counts(folder)}, not {want}")
            if rerun:  # then the next run, a no-op, untimed: what the rerun may have read for it
                timed(arms[arm], folder, stdout=folder / "listing.txt")
            if not kept:
                shutil.rmtree(folder)
        print(f"repetition {r + 1}: " + ", ".join(f"{a} {s[-1].seconds:.2f} s" for a, s in samples.items()),
              flush=True)
    on = "" if args.executor == "local" else f", on {args.executor}"
    print(f"{args.workload}, N={args.n:,}, -j {args.jobs}{on}, {args.repeat} repetitions (medians):")
    for arm, got in samples.items():
        print(f"  {arm:7s} wall {statistics.median(s.seconds for s in got):7.2f} s   "
              f"cpu {statistics.median(s.cpu_s for s in got):7.2f} s   "
              f"peak RSS {statistics.median(s.rss_mb for s in got):6.0f} MB")

    def paired(a: str, b: str, what: str) -> float:
        return statistics.median(getattr(x, what) / getattr(y, what) for x, y in zip(samples[a], samples[b]))
    ratios = [f"after / before: wall {paired('after', 'before', 'seconds'):.2f}, "
              f"cpu {paired('after', 'before', 'cpu_s'):.2f}"]
    if "bare" in arms:
        ratios.append(f"before / bare {paired('before', 'bare', 'seconds'):.2f}, "
                      f"after / bare {paired('after', 'bare', 'seconds'):.2f} (wall)")
    print("medians of the paired ratios: " + "; ".join(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
