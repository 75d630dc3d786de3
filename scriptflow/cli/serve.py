"""``scriptflow serve``: a read-only web page over the ledger (runs, tasks, timelines, lineage)."""
from __future__ import annotations

import click

from .options import directory_option


@click.command("serve", short_help="Browse runs and lineage in a local web page (read-only).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Only this machine can connect unless you give another address; "
                   "the pages show commands, paths and logs, so think before you do.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port; the address is printed).")
@directory_option
def serve_command(host: str, port: int, directory: str | None) -> int:
    """Serve a read-only web app over this project's ledger: the runs (filter
    by flow, status, name), each run's tasks with their attempts, durations,
    reasons and logs, a timeline of its attempts, and each file's lineage
    (what `scriptflow report` shows) drawn as a graph. Pages of a live run
    update by themselves while `scriptflow run` works in another terminal.

    It opens the ledger read-only (like `scriptflow runs`), needs no project
    lock, and fetches nothing from the network; it may be started before the
    first run. Stop it with Ctrl-C.
    """
    from ..errors import ScriptflowError
    from ..readers.runs import connect, find_project

    try:
        from ..web.server import make_server
    except ImportError as exc:  # pragma: no cover - only when a dependency of the web app is missing
        raise ScriptflowError(f"scriptflow serve needs the web extra: pip install 'scriptflow[web]' ({exc})") from None
    project = find_project(None, directory)
    if project.ledger_path.exists():
        connect(project).close()  # a damaged or newer ledger: one line now rather than on every page
    try:
        server = make_server(project, host, port)
    except OSError as exc:
        raise ScriptflowError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    click.echo(f"scriptflow serve: http://{bound_host}:{bound_port}/ (project {project.dir}; Ctrl-C to stop)")
    if not project.ledger_path.exists():
        click.echo("nothing has run in this project yet: the pages fill in once `scriptflow run` starts")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
