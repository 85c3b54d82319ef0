"""The ``-p key=value`` options, parameter files and durations of the ``spine`` command."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from spine.cli.errors import UsageProblem

TARGETS = "flow.yaml, path/to/file.py[:name] or package.module:name"
"""The ways a command-line target names a workflow."""


_LIKE_JSON = ("[", "{", '"')
"""How a value that is meant as JSON starts (a list, an object, a quoted string)."""


def parse_pairs(pairs: tuple[str, ...], option: str) -> dict[str, Any]:
    """``key=value`` pairs; a value that parses as JSON is taken as JSON, else as text.
    A value that starts like a JSON list, object or string but does not parse is refused:
    the shell has most likely eaten its quotes, and the run would get the wrong text."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageProblem(f"{option} {pair!r}: expected key=value")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError as exc:
            if raw.lstrip().startswith(_LIKE_JSON):
                raise UsageProblem(
                    f"{option} {key}: {raw!r} starts like JSON but is not JSON ({exc.msg} at "
                    f"character {exc.pos + 1}); quote the pair so the shell keeps its double "
                    f'quotes, e.g. {option} \'{key}=["a", "b"]\''
                ) from None
            values[key] = raw
    return values


def read_params_file(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageProblem(f"--params-file {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise UsageProblem(f"--params-file {path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise UsageProblem(f"--params-file {path}: expected a JSON object")
    return data


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, option: str) -> float:
    """``90d``, ``12h``, ``30m``, ``45s`` or ``2w`` in seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if match is None:
        raise UsageProblem(f"{option} {text!r}: use a number and a unit, e.g. 90d, 12h, 30m")
    return float(match.group(1)) * _UNITS[match.group(2)]


def given_params(pairs: tuple[str, ...], params_file: str | None) -> dict[str, Any]:
    """The params of ``--params-file`` with those of ``-p`` over them."""
    values = read_params_file(params_file) if params_file else {}
    values.update(parse_pairs(pairs, "-p"))
    return values


def params_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``-p KEY=VALUE``, ``--params-file`` and ``--partition``: what a run is given."""
    command = click.option("--partition", "partition", multiple=True, metavar="KEY=VALUE")(command)
    return param_options(command)


def param_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``-p KEY=VALUE`` and ``--params-file`` (read with :func:`given_params`)."""
    command = click.option(
        "--params-file", type=click.Path(dir_okay=False), help="A JSON object of params."
    )(command)
    return click.option(
        "-p",
        "--param",
        "params",
        multiple=True,
        metavar="KEY=VALUE",
        help="A run parameter: a JSON value (-p n=3, -p tags='[\"a\"]'), else text (-p "
        'day=monday); a value starting with [, { or " must be JSON.',
    )(command)
