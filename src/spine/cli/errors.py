"""The command's exit codes, and its one way of reporting a mistake: one line on
stderr, exit code 2."""

from __future__ import annotations

import click

EXIT_FAILED = 1
"""A run that failed (or ended partial), or a request that changed nothing."""


class UsageProblem(click.ClickException):
    exit_code = 2
