"""The benchmark's tables: medians, paired ratios, peak memory, ledger growth and the targets.

Paired ratio: in each repetition, scriptflow's primary arm divided by the
other arm of the same repetition; the table gives the median of those
ratios, which cancels most of the load other users put on the machine.
"""
from __future__ import annotations

import statistics
from typing import Optional

from cases import PRIMARY, Result

Row = list[str]


def _paired(res: Result, arm: str) -> Optional[float]:
    primary = res.samples.get(PRIMARY[res.workload], [])
    other = res.samples.get(arm, [])
    ratios = [p.seconds / o.seconds for p, o in zip(primary, other) if o.seconds > 0]
    return statistics.median(ratios) if ratios else None


def timing_rows(results: list[Result]) -> tuple[Row, list[Row]]:
    head = ["workload", "N", "arm", "median s", "min-max s", "ms/task", "primary / arm", "peak RSS MB", "runs"]
    rows = []
    for res in results:
        for arm, samples in res.samples.items():
            secs = [s.seconds for s in samples]
            med = statistics.median(secs)
            ratio = _paired(res, arm)
            rows.append([
                res.workload, f"{res.n:,}" if res.n else "-", arm, f"{med:.3f}", f"{min(secs):.2f}-{max(secs):.2f}",
                f"{med / res.n * 1000:.3f}" if res.n else "-",
                "-" if arm == PRIMARY[res.workload] or ratio is None else f"{ratio:.2f}",
                f"{max(s.rss_mb for s in samples):.0f}", str(len(samples)),
            ])
    return head, rows


def ledger_rows_table(results: list[Result]) -> tuple[Row, list[Row]]:
    head = ["workload", "N", "ledger bytes per cached task, each no-op run", "rows added per cached task",
            "files read (not from the stat cache), each no-op run"]
    rows = []
    for res in results:
        if not res.growth_per_task:
            continue
        rows_text = ", ".join(f"{t} {v:g}" for t, v in res.rows_per_task.items() if v)
        rows.append([res.workload, f"{res.n:,}", ", ".join(f"{g:.0f}" for g in res.growth_per_task),
                     rows_text or "none", ", ".join(f"{k:,}" for k in res.files_read)])
    return head, rows


def _median(res: Result, arm: str) -> Optional[float]:
    samples = res.samples.get(arm)
    return statistics.median(s.seconds for s in samples) if samples else None


def target_rows(results: list[Result]) -> tuple[Row, list[Row]]:
    """The speed targets, checked where this invocation measured them (at the N they name)."""
    head = ["target", "measured", "met"]
    rows: list[Row] = []

    def check(label: str, value: Optional[float], limit: float, fmt: str) -> None:
        if value is not None:
            rows.append([label, fmt.format(value), "yes" if value <= limit else "NO"])

    for res in results:
        if res.workload == "fanout" and res.n == 10_000:
            check("fan-out 10k: scriptflow / bare pool <= 1.3", _paired(res, "bare pool"), 1.3, "{:.2f}")
            check("fan-out 10k: scriptflow / doit < 1", _paired(res, "doit"), 0.999, "{:.2f}")
        if res.workload == "noop" and res.n == 10_000:
            check("no-op 10k, first after the run: <= 0.5 s", _median(res, "scriptflow first no-op"), 0.5, "{:.2f} s")
            check("no-op 10k, next: <= 0.5 s", _median(res, "scriptflow no-op"), 0.5, "{:.2f} s")
            check("no-op 10k, first after a run of one task: <= 0.5 s",
                  _median(res, "scriptflow no-op after a rerun"), 0.5, "{:.2f} s")
            check("no-op 10k, first: scriptflow / doit <= 0.5", _paired(res, "doit"), 0.5, "{:.2f}")
        if res.workload == "dryrun" and res.n == 100_000:
            check("dry run 100k, fresh project: <= 10 s", _median(res, "scriptflow -n"), 10, "{:.1f} s")
            peak = max(s.rss_mb for s in res.samples["scriptflow -n"])
            check("dry run 100k: peak RSS <= 400 MB", peak, 400, "{:.0f} MB")
        if res.workload == "noop-big" and res.n == 100_000:
            check("no-op 100k: <= 8 s", _median(res, "scriptflow no-op"), 8, "{:.1f} s")
            peak = max(s.rss_mb for arm, ss in res.samples.items() if arm.startswith("scriptflow") for s in ss)
            check("no-op 100k: peak RSS <= 400 MB", peak, 400, "{:.0f} MB")
        if res.growth_per_task:
            check(f"{res.workload} {res.n:,}: ledger growth <= 100 B per cached task (worst no-op)",
                  max(res.growth_per_task), 100, "{:.0f} B")
        if res.workload == "help":
            check("scriptflow --help <= 5 x python -c pass", _paired(res, "python -c pass"), 5, "{:.2f} x")
    return head, rows


def _text(head: Row, rows: list[Row]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _markdown(head: Row, rows: list[Row]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _sections(results: list[Result]) -> list[tuple[str, Row, list[Row]]]:
    found = [("Times (primary = scriptflow's first arm of the workload)", *timing_rows(results))]
    head, rows = ledger_rows_table(results)
    if rows:
        found.append(("Ledger growth per scriptflow no-op run", head, rows))
    head, rows = target_rows(results)
    if rows:
        found.append(("Targets", head, rows))
    return found


def _notes(results: list[Result]) -> list[str]:
    return [f"{res.workload} N={res.n:,}: {note}" for res in results for note in res.notes]


def render_text(results: list[Result], header: dict[str, str], partial: bool = False) -> str:
    """The tables as text; ``partial``: one workload's, printed as soon as it is measured."""
    out = [] if partial else [f"{header['command']}", f"{header['date']}; {header['machine']}",
                              f"{header['repeat']} interleaved repetitions, -j {header['jobs']}"]
    for title, head, rows in _sections(results):
        out += ["", title, _text(head, rows)]
    out += [""] + _notes(results) if _notes(results) else []
    return "\n".join(out)


def render_markdown(results: list[Result], header: dict[str, str]) -> str:
    out = [f"Command: `{header['command']}`  ", f"Date: {header['date']}  ",
           f"Machine: {header['machine']}  ", f"{header['repeat']} interleaved repetitions, -j {header['jobs']}"]
    for title, head, rows in _sections(results):
        out += ["", f"**{title}**", "", _markdown(head, rows)]
    notes = _notes(results)
    if notes:
        out += [""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"
