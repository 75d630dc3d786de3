"""The ``scriptflow`` command: a click group with one small module per command.

Commands are thin shells over library calls and import their heavy parts
lazily, so ``scriptflow --help`` and read-only commands start fast.
"""
from __future__ import annotations

import errno
import sys
from typing import Optional, Sequence

import click

from ..version import version_text
from .bundle import bundle_command
from .clean import clean_command
from .doctor import doctor_command
from .executors import executors_command
from .flows import list_command
from .history import logs_command, runs_command, show_command
from .report import report_command
from .resume import resume_command
from .run import run_command
from .serve import serve_command
from .sql import sql_command
from .why import why_command


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(version_text())
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_show_version,
              help="Show the version (and, in a single-file scriptflow.pyz, what it holds) and exit.")
def cli() -> None:
    """scriptflow: Make where the dependencies are Python code.

    Write flows as `def flow_NAME():` (or `async def`, or any function
    marked `@sf.flow`) in sflow.py, creating
    tasks with declared inputs and outputs; `scriptflow run NAME` runs them in
    parallel, skips what is up to date and records everything in
    .scriptflow/ledger.db (an SQLite file you can query). Fixed lists of
    tasks may instead be written as [[task]] tables in scriptflow.toml
    (docs/toml-flows.md).
    """


cli.add_command(run_command)
cli.add_command(resume_command)
cli.add_command(list_command)
cli.add_command(report_command)
cli.add_command(clean_command)
cli.add_command(runs_command)
cli.add_command(show_command)
cli.add_command(logs_command)
cli.add_command(why_command)
cli.add_command(executors_command)
cli.add_command(sql_command)
cli.add_command(doctor_command)
cli.add_command(serve_command)
cli.add_command(bundle_command)


def _printable_output() -> None:
    """Text we print is valid UTF-8 whatever a name or command holds: a character the
    terminal's encoding lacks, or an undecodable byte of a file name, is written as a
    backslash escape (``\\udcff``) instead of raising or emitting raw bytes."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a stream replaced by an embedding program
                pass


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point: one-line errors and meaningful exit codes, never a traceback for user mistakes."""
    import sqlite3

    from ..errors import ScriptflowError

    _printable_output()
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="scriptflow",
                        standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("scriptflow: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ScriptflowError as exc:
        click.echo(f"scriptflow: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("scriptflow: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:  # our reader went away (`scriptflow ... 2>&1 | head`): end like any Unix tool
        _silence_closed_pipes()
        sys.exit(1)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # damage met after opening: one line, no traceback
        from ..ledger.sqlerrors import sqlite_error_message

        click.echo(f"scriptflow: error: {sqlite_error_message(exc)}", err=True)
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in _DISK_ERRNOS:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(f"scriptflow: error: {exc.strerror or exc}{where}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


#: Errors of the disk itself (full, over quota, read-only, failing): one line, never a traceback.
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}


def _silence_closed_pipes() -> None:
    """Point stdout and stderr at the null device so the interpreter's last flush cannot fail."""
    import os

    null = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(null, stream.fileno())
        except (OSError, ValueError, AttributeError):
            pass
    os.close(null)
