"""``scriptflow resume [RUN]``: run a recorded run's flow again, redoing only what is not done."""
from __future__ import annotations

import json

import click

from .options import directory_option


@click.command("resume", short_help="Rerun a run, redoing only what is not done.")
@click.argument("run", required=False)
@click.option("--force", is_flag=True, help="Resume even a run that succeeded (its tasks are still cached).")
@click.option("--classic/--live", "classic", default=None, help="Plain line-per-event output, or the live display.")
@click.option("--no-wait", is_flag=True, help="Fail at once if another run holds this project.")
@click.option("--notify", "notify", multiple=True, metavar="URL",
              help="POST run events to URL, as `scriptflow run --notify` (not replayed from RUN). Repeatable.")
@directory_option
def resume_command(run: str | None, force: bool, classic: bool | None, no_wait: bool, notify: tuple[str, ...],
                   directory: str | None) -> int:
    """Resume RUN (an id or a name; default: the latest run that did not
    succeed and was not resumed already).

    Starts a new run of the same flow file, flow, arguments and configuration
    in this project (the current folder, or DIR with -C), recording RUN as its
    parent. A moved or copied project resumes in its new place and never
    touches the folder where RUN was recorded. Tasks that succeeded and
    whose outputs are unchanged are cached; failed, interrupted and lost ones
    run again; cluster jobs a killed run left queued or running are re-attached
    instead of submitted again. Local processes a killed run left running are
    killed first (found by SCRIPTFLOW_RUN in their environment); exit codes
    as for `scriptflow run`. Notify targets are read from the configuration
    again (the ledger keeps them redacted), plus any --notify URL.
    """
    from ..run.runner import RunRequest, execute
    from ..project import path_from_ledger
    from ..readers.runs import connect, find_project, latest_unfinished_run, live_status, resolve_run

    project = find_project(None, directory)
    conn = connect(project)
    row = resolve_run(conn, run) if run else latest_unfinished_run(conn)
    status = live_status(row)
    if status == "succeeded" and not force:
        click.echo(f"run {row['id']} succeeded: nothing to resume (use --force to run its flow again)")
        return 0
    if status == "running":
        click.echo(f"run {row['id']} is still running (pid {row['pid']} on {row['host']}); "
                   "resume will wait for it to end")
    options = json.loads(row["options"])
    config = dict(options.get("config") or {})
    if classic is not None:
        config.pop("classic_terminal", None)
    # The ledger holds notify targets redacted: they come from sf.init/scriptflow.toml (or --notify) again.
    config.pop("notify", None)
    conn.close()
    request = RunRequest(
        flow=row["flow"], args=json.loads(row["flow_args"]), file=path_from_ledger(row["flow_file"]),
        directory=str(project.dir),
        jobs=options.get("jobs"), keep_going=bool(options.get("keep_going")), name=row["name"], classic=classic,
        wait_for_lock=not no_wait, parent_run_id=row["id"], config_override=config,
        notify=notify,
    )
    return execute(request).exit_code
