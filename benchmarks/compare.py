#!/usr/bin/env python
"""Two versions of scriptflow against the bare thread pool on the fan-out, interleaved.

``run.py`` compares scriptflow with other tools; this compares scriptflow with
itself: the installed one ("after") and an older checkout put first on
``PYTHONPATH`` ("before", e.g. ``git archive OLD scriptflow | tar -x -C
/tmp/old``), each repetition running the three arms (in reverse order on odd
repetitions) on fresh folders of N ``cp`` tasks at ``-j J``. Every scriptflow
run must leave N succeeded tasks. It prints each repetition and the medians
of the paired ratios, which cancel most of the load of a shared machine.

    python benchmarks/compare.py --before /tmp/old --n 10000 --repeat 3
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import timed  # noqa: E402
from workloads import BARE_POOL, last_run_counts, make_folder  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="a folder holding the older scriptflow package")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    run = ["-m", "scriptflow", "run", "bench", "-j", str(args.jobs), "--classic"]
    arms = {"before": ["env", f"PYTHONPATH={Path(args.before).resolve()}", sys.executable, *run],
            "after": [sys.executable, *run],
            "bare": [sys.executable, "bare.py", str(args.n), str(args.jobs)]}
    root = Path(tempfile.mkdtemp(prefix="scriptflow-compare-"))
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    try:
        for r in range(args.repeat):
            for arm in (list(arms) if r % 2 == 0 else list(reversed(arms))):
                folder = make_folder(root, f"{arm}{r}", args.n, "scriptflow")
                (folder / "bare.py").write_text(BARE_POOL)
                times[arm].append(timed(arms[arm], folder).seconds)
                if arm != "bare" and last_run_counts(folder) != {"succeeded": args.n}:
                    sys.exit(f"compare: {arm} left {last_run_counts(folder)}, not {args.n} succeeded tasks")
                shutil.rmtree(folder)
            print(f"repetition {r + 1}: " + ", ".join(f"{a} {t[-1]:.2f} s" for a, t in times.items()), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def paired(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(times[a], times[b]))
    print(f"medians of the paired ratios: before / bare {paired('before', 'bare'):.2f}, "
          f"after / bare {paired('after', 'bare'):.2f}, after / before {paired('after', 'before'):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
