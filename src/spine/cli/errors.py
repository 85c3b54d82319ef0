"""The command's one way of reporting a mistake: one line on stderr, exit code 2."""

from __future__ import annotations

import click


class UsageProblem(click.ClickException):
    exit_code = 2
