"""The ``spine`` command driven in-process with click's runner, as a user types it."""

from __future__ import annotations

import click
from click.testing import CliRunner

from spine.cli.main import cli


def spine(db: str, *args: str, columns: int = 200) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``spine --db DB ARGS`` in a terminal ``columns``
    wide; an exception that is not an exit is raised as it is."""
    result = CliRunner(env={"COLUMNS": str(columns)}).invoke(cli, ["--db", db, *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def every_command() -> list[tuple[str, click.Command]]:
    """``("spine", cli)``, ``("spine run", run)``, ``("spine schedule add", add)``..."""
    found: list[tuple[str, click.Command]] = []

    def visit(command: click.Command, path: str) -> None:
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            visit(sub, f"{path} {name}")

    visit(cli, "spine")
    return found
