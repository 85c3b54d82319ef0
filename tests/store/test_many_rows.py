"""Many rows in few statements (:mod:`spine.store.many_rows`): on SQLite a batch of map
items goes as one JSON text, and what it stores is what the ``VALUES`` statements store,
value for value and type for type; rows JSON would not carry as they are are bound."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event

from spine.core.records import ItemRecord, RunRecord, StepRecord
from spine.core.status import StepStatus, WorkflowStatus
from spine.store import SqlStore, many_rows
from spine.store.database import Prepared
from spine.store.dialects import SqliteDialect
from spine.store.many_rows import ManyRows, json_pays

T0 = 1_736_143_200.25
TEXT = 'quote " backslash \\ newline\n tab\t é ✓ \u2028 😀 {"not": "json"}'


def _item(index: int) -> ItemRecord:
    run_id = f"map:item:{index}"
    run = RunRecord(
        run_id=run_id, workflow_name=f"etl {TEXT}", status=WorkflowStatus.FAILED,
        started_at=T0 + index / 7, params={"item": [index, 2.5, None, TEXT], "item_index": index},
        partition={"day": "2026-12-06"}, parent_run_id="map", parent_step="fan#0",
        item_index=index, completed_at=T0 + index, outputs={"s": {"x": 0.1 + 0.2, "t": TEXT}},
        error=TEXT, error_category="DATA", error_step="s", completed_steps=0, failed_steps=1,
        total_steps=1, priority=-(2**62), workflow_version=2**40,
    )  # fmt: skip
    step = StepRecord(
        run_id=run_id, step_order=0, attempt=1, step_name="s", step_type="lambda",
        status=StepStatus.FAILED, started_at=T0, completed_at=T0 + 1.5,
        output_json='{"n": 1e300, "t": "\\u00e9"}', error=TEXT,
        context_updates_json="{}", next_step=None, row_count=2**62 + index,
    )  # fmt: skip
    return ItemRecord(run=run, steps=[step], new=True)


def _stored(path: Path, *, as_json: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The rows a batch of items leaves in a fresh SQLite file, and the statements seen."""
    monkeypatch.setattr(SqliteDialect, "rows_as_json", lambda self: as_json)
    statements: list[str] = []
    with SqlStore(f"sqlite:///{path}") as store:
        event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        store.save_items([_item(index) for index in range(5)])
    with sqlite3.connect(path) as conn:
        tables = [
            [
                tuple((value, type(value).__name__) for value in row)
                for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1")
            ]
            for table in ("core_workflow_runs", "core_workflow_steps")
        ]
    return [tables, sum("json_each" in sql for sql in statements)]


@pytest.fixture
def fresh_json_pays() -> Iterator[None]:
    json_pays.cache_clear()
    yield
    json_pays.cache_clear()


@pytest.mark.usefixtures("fresh_json_pays")
def test_json_pays_with_sqlite_json_and_two_cores_not_on_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(many_rows.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert json_pays()  # (Python's SQLite here and in CI has its JSON functions)
    json_pays.cache_clear()
    monkeypatch.setattr(many_rows.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert not json_pays()


def test_a_batch_as_json_stores_what_values_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (as_json, json_statements) = _stored(tmp_path / "j.db", as_json=True, monkeypatch=monkeypatch)
    (as_values, value_statements) = _stored(
        tmp_path / "v.db", as_json=False, monkeypatch=monkeypatch
    )
    assert (json_statements, value_statements) == (2, 0)  # runs, steps: one statement each
    assert len(as_json[0]) == len(as_json[1]) == 5
    assert as_json == as_values
    runs = {row[0][0]: row for row in as_json[0]}
    assert any(value == (TEXT, "str") for value in runs["map:item:1"])
    assert any(value == (2**40, "int") for value in runs["map:item:1"])


@pytest.fixture
def table(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k INTEGER PRIMARY KEY, b TEXT, c REAL)")
    yield engine
    engine.dispose()


def _insert(as_json: bool) -> ManyRows:
    # The statement's parameters in another order than the rows' values: (c, k, b).
    sql = "INSERT INTO t (c, k, b) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
    prepared = Prepared(sql, ("c", "k", "b"), {}, lambda values: ())
    return ManyRows(prepared, ("k", "b", "c"), as_json=as_json)


def _rows_of(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql("SELECT k, b, c FROM t ORDER BY k")]


def _statements(
    engine: Engine, rows: list[tuple[Any, ...]], insert: ManyRows | None = None
) -> tuple[int, int]:
    """How many statements took ``rows`` as JSON, and how many bound them."""
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with engine.begin() as conn:
        (insert or _insert(as_json=True)).run(conn, rows)
    return sum("json_each" in sql for sql in statements), sum(
        " VALUES " in sql for sql in statements
    )


def _json_statements(engine: Engine, rows: list[tuple[Any, ...]]) -> int:
    return _statements(engine, rows)[0]


def test_rows_in_another_order_than_the_statement_and_kept_on_conflict(table: Engine) -> None:
    # (Not -0.0: SQLite keeps no sign of zero, bound or not.)
    floats = [1736143200.123456, 0.1 + 0.2, -1.5e-7, 5e-324, 1.7976931348623157e308, 1e23]
    rows = [(k, "ü" if k else None, value) for k, value in enumerate(floats)]
    assert _json_statements(table, rows) == 1
    assert _json_statements(table, [(1, "changed", 9.0), (len(floats), "d", 4.0)]) == 1
    stored = _rows_of(table)
    assert stored[:-1] == rows
    assert stored[-1] == (len(floats), "d", 4.0)
    # The same doubles, bit for bit.
    assert [repr(row[2]) for row in stored[:-1]] == [repr(value) for value in floats]


def test_an_insert_of_a_literal_binds_its_rows(table: Engine) -> None:
    sql = "INSERT INTO t (k, b, c) VALUES (?, ?, 2.5)"
    insert = ManyRows(Prepared(sql, ("k", "b"), {}, lambda values: ()), ("k", "b"), as_json=True)
    assert _statements(table, [(1, "a"), (2, "b")], insert) == (0, 1)
    assert _rows_of(table) == [(1, "a", 2.5), (2, "b", 2.5)]


def test_a_nul_in_a_text_or_a_float_json_has_not_are_bound(table: Engine) -> None:
    # SQLite's JSON would end the text at its NUL; JSON has no NaN: both bound instead.
    # (A text that holds the escape itself is bound too: no harm.)
    assert _json_statements(table, [(1, "a\x00b", 1.0), (2, "c\\u0000", 2.0)]) == 0
    assert _json_statements(table, [(3, "nan", math.nan), (4, "inf", math.inf)]) == 0
    assert _rows_of(table) == [
        (1, "a\x00b", 1.0), (2, "c\\u0000", 2.0), (3, "nan", None), (4, "inf", math.inf)
    ]  # fmt: skip


def test_a_batch_past_the_bound_is_split_and_a_row_past_it_bound(
    table: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(many_rows, "JSON_AT_ONCE", 64)
    rows = [(k, "x" * 10, float(k)) for k in range(12)] + [(12, "y" * 100, 12.0)]
    json_statements, bound = _statements(table, rows)
    assert json_statements >= 3
    assert bound == 1
    assert _rows_of(table) == rows
