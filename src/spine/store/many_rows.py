"""Many rows into one table in few statements: the batches a map's items are stored in.

On SQLite with its JSON functions (built in since 3.38), in a process that may use more
than one core, a batch goes as one JSON text that the statement unpacks (``json_each``):
one statement instead of one per :data:`ROWS_AT_ONCE` rows, and one value to bind
instead of one for each column of each row. A map's writer thread must take Python's
lock back after each statement (and after each step inside the driver), behind the
map's item threads: with fewer statements it waits less. Unpacking the JSON costs
SQLite more CPU than binding costs Python (about 0.6 µs a column, outside Python's lock):
a good trade while another core has time for it, a bad one on a single core.

Elsewhere (PostgreSQL, an SQLite without JSON, one core), and for rows a JSON text would
not carry as they are (a NUL in a text: SQLite's JSON ends a string there; a float that
is not finite), an INSERT with one ``VALUES`` group per row.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

if TYPE_CHECKING:
    from spine.store.database import Prepared

ROWS_AT_ONCE = 128
"""Rows an INSERT of ``VALUES`` groups takes at most: well within every backend's bound
on parameters."""

JSON_AT_ONCE = 1 << 25
"""Characters of JSON text one statement takes at most (SQLite refuses a value of more
than 10⁹ bytes): a larger batch is split, a larger row bound value by value."""

_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":")
).encode
"""A batch as compact JSON: texts as they are (escaping them would only cost), no
``NaN`` (not JSON), no cycle check (rows are tuples of plain values)."""


@lru_cache(maxsize=1)
def json_pays() -> bool:
    """Whether batches go to SQLite as JSON here: the SQLite that Python's ``sqlite3``
    links has its JSON functions, and this process may run on more than one core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if (cores or 1) < 2:
        return False
    try:
        with closing(sqlite3.connect(":memory:")) as probe:
            probe.execute("SELECT value FROM json_each('[1]')").fetchall()
    except sqlite3.Error:
        return False
    return True


class ManyRows:
    """A statement of one row's values (``columns``, in that order) prepared for many rows
    at once: as one JSON text (``as_json``: an SQLite ``INSERT``), else one ``VALUES``
    group per row, :data:`ROWS_AT_ONCE` or a power of two fewer (so that few statements
    of different lengths are compiled: each one the driver caches is large)."""

    def __init__(self, prepared: Prepared, columns: tuple[str, ...], *, as_json: bool) -> None:
        self.sql = prepared.sql
        order = [columns.index(name) for name in prepared.positions]
        self.reorder: Callable[[tuple[Any, ...]], Any] = (
            _as_is if order == list(range(len(columns))) else itemgetter(*order)
        )
        self._many: dict[int, str] = {}
        self._from_json = _from_json(prepared.sql, order) if as_json else None
        """The statement that takes the rows as JSON (``None``: they are bound)."""

    def run(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows``."""
        if self._from_json is None:
            self._run_values(conn, rows)
            return
        if not rows:
            return
        try:
            text = _encode(rows)
        except (ValueError, TypeError):  # a float that is not finite, a value JSON has not
            self._run_values(conn, rows)
            return
        if "\\u0000" in text or (len(text) > JSON_AT_ONCE and len(rows) == 1):
            # (Also when a stored JSON text holds the escape itself: bound, it is kept.)
            self._run_values(conn, rows)
        elif len(text) > JSON_AT_ONCE:
            half = len(rows) // 2
            self.run(conn, rows[:half])
            self.run(conn, rows[half:])
        else:
            conn.exec_driver_sql(self._from_json, (text,))

    def _run_values(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        reorder, start, size = self.reorder, 0, ROWS_AT_ONCE
        while start < len(rows):
            while start + size > len(rows):
                size //= 2
            params = tuple(chain.from_iterable(map(reorder, rows[start : start + size])))
            conn.exec_driver_sql(self._sql_for(size), params)
            start += size

    def _sql_for(self, count: int) -> str:
        sql = self._many.get(count)
        if sql is None:
            head, group, tail = _parts(self.sql)
            sql = self._many[count] = f"{head} VALUES {', '.join([group] * count)}{tail}"
        return sql


def _parts(sql: str) -> tuple[str, str, str]:
    """An ``INSERT ... VALUES (...) ...`` as what comes before ``VALUES``, its group, and
    what follows the group."""
    head, _, rest = sql.partition(" VALUES ")
    depth = 0
    for position, char in enumerate(rest):
        depth += (char == "(") - (char == ")")
        if depth == 0:
            return head, rest[: position + 1], rest[position + 1 :]
    raise ValueError(f"no VALUES group closes in {sql!r}")


def _from_json(sql: str, order: list[int]) -> str | None:
    """The INSERT ``sql`` taking its rows from one JSON array of rows, each row's values
    in the order ``order`` picks for the statement's; ``None`` unless ``sql`` binds every
    value it inserts (then its rows are bound)."""
    head, group, tail = _parts(sql)
    if group != f"({', '.join('?' * len(order))})":
        return None
    picks = ", ".join(f"json_extract(value, '$[{index}]')" for index in order)
    # (WHERE true: SQLite would read ON CONFLICT as the SELECT's join otherwise.)
    return f"{head} SELECT {picks} FROM json_each(?) WHERE true{tail}"


def _as_is(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row
