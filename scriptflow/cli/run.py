"""``scriptflow run FLOW``: run a flow."""
from __future__ import annotations

import click

from .options import directory_option, file_option


@click.command("run", short_help="Run a flow.")
@click.argument("flow")
@click.argument("args", nargs=-1)
@click.option("-j", "--jobs", type=click.IntRange(min=1), metavar="N",
              help="Run up to N local tasks at once (executors.local.maxsize; default: CPU count).")
@click.option("-f", "--force", "force", multiple=True, metavar="GLOB",
              help="Rerun tasks whose uid matches GLOB (fnmatch, e.g. 'solve-*') even if up to date. Repeatable.")
@click.option("-F", "--force-all", is_flag=True, help="Rerun every task.")
@click.option("-k", "--keep-going", is_flag=True,
              help="After a failure, keep running every task that does not depend on it.")
@click.option("--name", metavar="NAME",
              help="Name this run (names may be reused; the latest wins; one line of text, no control characters).")
@click.option("--classic/--live", "classic", default=None,
              help="Plain line-per-event output, or the live display (default: live on a terminal).")
@click.option("-n", "--dry-run", is_flag=True,
              help="Run the flow's code but execute no task: list each task, whether it would run, and why.")
@click.option("--no-wait", is_flag=True, help="Fail at once if another run holds this project.")
@click.option("--adopt", is_flag=True,
              help="Take existing results as done: a task never run by scriptflow whose outputs all exist and "
                   "are newer than its inputs is recorded as done (reason 'adopted') instead of run.")
@click.option("-s", "--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Set a configuration value for this run, winning over sf.init and scriptflow.toml, e.g. "
                   "executors.slurm.partition=debug or executor=local. Repeatable.")
@click.option("--notify", "notify", multiple=True, metavar="URL",
              help="POST a JSON document for every run event (run started/finished, task failed/retried, "
                   "sf.notify messages) to URL, in the background. Repeatable. See `notify` in the README.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Pass NAME=VALUE to the flow function as a keyword argument, converted by its type "
                   "annotation (int, float, bool, str, Path, list[...] from 1,2,3). Repeatable; "
                   "`scriptflow list --params` shows each flow's parameters.")
@file_option
@directory_option
def run_command(flow: str, args: tuple[str, ...], params: tuple[str, ...], jobs: int | None,
                force: tuple[str, ...], force_all: bool, keep_going: bool, name: str | None,
                classic: bool | None, dry_run: bool, no_wait: bool, adopt: bool, settings: tuple[str, ...],
                notify: tuple[str, ...], file: str | None, directory: str | None) -> int:
    """Run FLOW (the function flow_FLOW in sflow.py, or the tasks of
    [flow.FLOW] in scriptflow.toml / scriptflow.json; its top-level [[task]]
    tables are the flow `main`; see docs/toml-flows.md).

    ARGS are passed to the flow function: plain words as positional
    arguments, key=value as keyword arguments (like --param key=value); put
    `--` before arguments that start with a dash. Each is converted by the
    flow function's type annotation (or its default's type): int, float,
    bool (true/false/yes/no/1/0), str, Path, and list[...] of those from
    comma-separated text (`--param xs=1,2,3`). An unknown parameter, a
    missing one or a value that does not convert is an error before
    anything runs. The arguments are recorded with the run and reused by
    `scriptflow resume`.

    Tasks whose command, inputs and outputs match a previous successful run
    are skipped ("cached"); see `scriptflow --help` and the README for the
    rules. Exit code: 0 when every task succeeded or was cached, 1 when a
    task or the flow failed, 2 for usage errors, 3 when the project is busy
    (--no-wait, or a process left by a dead run cannot be stopped), 130
    (Ctrl-C), 143 (SIGTERM) or 129 (SIGHUP, e.g. a dropped ssh session) when
    interrupted: running tasks are stopped and the run is recorded
    interrupted.

    Processes a task leaves running when its command exits are killed.
    Before anything is decided, processes left running by a run that died
    (kill -9) are found by the SCRIPTFLOW_RUN variable in their environment
    and killed.

    Tasks run on the executor named by `executor`, else on the first one
    listed under `executors` (sf.init, then scriptflow.toml, then --set);
    the run's first line says which when it is not `local`.

    Ctrl-C or SIGTERM stops the run (a second one kills running tasks at
    once). When stdout goes away (`scriptflow run FLOW | head`), the run
    carries on silently to its end and is recorded as usual.

    With --dry-run nothing is executed or recorded: tasks whose inputs come
    from a task that would run are listed as "would run: upstream will
    change" (their inputs may not exist yet), a task that never ran has its
    inputs checked for existence only (not read), and flow code that reads
    such outputs itself may fail.
    """
    from ..run.earlycheck import begin_ledger_check

    check = begin_ledger_check(file, directory)  # on another core while the runner is imported
    from ..core.params import check_param_option
    from ..core.task import uid_problem
    from ..errors import ScriptflowError
    from ..run.runner import RunRequest, execute

    problem = uid_problem(name) if name is not None else None
    if problem:
        raise ScriptflowError(f"invalid run name {name!r}: {problem}")
    args = tuple(args) + tuple(check_param_option(text) for text in params)
    request = RunRequest(flow=flow, args=args, file=file, directory=directory, jobs=jobs, force=force,
                         force_all=force_all, keep_going=keep_going, name=name, classic=classic,
                         wait_for_lock=not no_wait, dry_run=dry_run, settings=settings,
                         adopt=adopt, notify=notify)
    return execute(request, check=check).exit_code
