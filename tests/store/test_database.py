"""``Database``: the dialect chosen from the URL, transactions and one-statement blocks
that commit or roll back, the fast path, and errors that name the action and database."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, bindparam, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from spine.core.errors import StoreError
from spine.store import Database, SqlScheduleStore, open_store
from spine.store.dialects import PostgresDialect, SqliteDialect
from spine.store.schema import schedule_fires


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    with Database(database_url) as opened:
        yield opened


def _fire_row(due_at: str) -> dict[str, str]:
    return {"schedule_name": "daily", "due_at": due_at, "outcome": "missed",
            "recorded_at": due_at}  # fmt: skip


def _fires(database: Database) -> int:
    with database.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schedule_fires)).scalar_one())


def test_the_dialect_is_chosen_from_the_url(sqlite_url: str, postgres_url: str) -> None:
    with Database(sqlite_url) as sqlite, Database(postgres_url) as postgres:
        assert type(sqlite.dialect) is SqliteDialect
        assert type(postgres.dialect) is PostgresDialect
        # A SQLite file is spine's alone; a server database may hold other tables.
        assert (sqlite.dialect.own_database, postgres.dialect.own_database) == (True, False)
        assert sqlite.where.startswith("SQLite file ")
        assert postgres.where.startswith("PostgreSQL database ")


@pytest.mark.parametrize("block", ["transaction", "statement"])
def test_a_failing_block_raises_a_store_error_naming_the_action_and_the_database(
    database: Database, block: str
) -> None:
    with pytest.raises(StoreError, match=r"^cannot count widgets in ") as raised:
        getattr(database, block)(
            "count widgets", lambda conn: conn.execute(text("SELECT count(*) FROM widgets"))
        )
    assert database.where in str(raised.value)
    assert isinstance(raised.value.__cause__, SQLAlchemyError)


def test_a_transaction_commits_at_the_end_or_not_at_all(database: Database) -> None:
    database.transaction(
        "record two due times",
        lambda conn: conn.execute(insert(schedule_fires), [_fire_row("a"), _fire_row("b")]),
    )

    def new_then_taken(conn: Connection) -> None:
        conn.execute(insert(schedule_fires).values(**_fire_row("c")))
        conn.execute(insert(schedule_fires).values(**_fire_row("a")))  # the key is taken

    with pytest.raises(StoreError, match="cannot record a taken due time"):
        database.transaction("record a taken due time", new_then_taken)
    assert _fires(database) == 2


def test_a_block_returns_what_its_function_returns(database: Database) -> None:
    count = select(func.count()).select_from(schedule_fires)
    assert database.transaction("count due times", lambda c: c.execute(count).scalar()) == 0
    assert database.statement("count due times", lambda c: c.execute(count).scalar()) == 0


def test_a_statement_block_commits_by_itself(database: Database) -> None:
    database.statement(
        "record a due time",
        lambda conn: conn.execute(insert(schedule_fires).values(**_fire_row("a"))),
    )
    assert _fires(database) == 1  # seen from another connection


def test_a_prepared_statement_runs_on_the_fast_path(database: Database) -> None:
    record = database.prepare(insert(schedule_fires))
    count = database.prepare(
        select(func.count().label("n"))
        .select_from(schedule_fires)
        .where(schedule_fires.c.schedule_name == bindparam("name"))
    )
    database.execute("record a due time", record, _fire_row("a"))
    assert database.execute("count due times", count, {"name": "daily"}, fetch=True)[0].n == 1
    assert database.execute("record a due time", record, _fire_row("b"), fetch=False) == 1

    with pytest.raises(StoreError, match=r"^cannot record a due time again in ") as raised:
        database.execute("record a due time again", record, _fire_row("a"))
    assert database.where in str(raised.value)
    # The failed statement rolled back alone, and the thread's next one works.
    assert database.execute("count due times", count, {"name": "daily"}, fetch=True)[0].n == 2


def test_a_kept_connection_the_server_dropped_is_replaced(postgres_url: str) -> None:
    with Database(postgres_url) as database:
        backend = database.prepare(select(func.pg_backend_pid().label("pid")))
        [first] = database.execute("read the backend", backend, {}, fetch=True)
        with database.engine.connect() as conn:
            conn.execute(select(func.pg_terminate_backend(first.pid)))

        [second] = database.execute("read the backend", backend, {}, fetch=True)

        assert second.pid != first.pid


def test_a_kept_connection_sorts_nothing_and_goes_back_to_the_pool_as_it_came(
    postgres_url: str,
) -> None:
    """The fast path runs with sorts off (no claim may sort the backlog), and a thread's
    kept connection reaches the pool with the planner as other queries expect it."""
    with Database(postgres_url) as database:
        setting = database.prepare(select(func.current_setting("enable_sort").label("on")))
        seen = []

        def thread_work() -> None:
            seen.extend(database.execute("read a setting", setting, {}, fetch=True))

        worker = threading.Thread(target=thread_work)
        worker.start()
        worker.join()
        gc.collect()  # (the thread's kept connection goes back when its holder is freed)
        idle = database.engine.pool.checkedin()  # type: ignore[attr-defined]
        pooled = [database.engine.raw_connection() for _ in range(idle)]
        try:
            settings = [p.driver_connection.execute("SHOW enable_sort").fetchone()[0]
                        for p in pooled]  # type: ignore[union-attr]  # fmt: skip
        finally:
            for connection in pooled:
                connection.close()

    assert [row.on for row in seen] == ["off"]
    assert idle >= 1
    assert settings == ["on"] * idle


def test_the_statements_of_the_fast_path_stay_under_psycopgs_cache_limit(
    postgres_url: str,
) -> None:
    """psycopg parses a statement longer than 4,096 characters again at every execution."""
    with open_store(postgres_url) as store:
        dialect = store.database.dialect
        assert isinstance(dialect, PostgresDialect)
        statements = dialect._statements
        prepared = [*statements.finish.values(), dialect._read_flags,
                    statements.claimed_before, statements.claim(1), statements.claim(16),
                    *(statements.finish_claiming(key, limit)
                      for key in statements.finish for limit in (1, 16)),
                    store._recoverable, SqlScheduleStore(store)._due]  # fmt: skip
        lengths = [len(p.sql) for p in prepared]
    assert max(lengths) <= 4096, lengths


def test_stores_share_one_database_and_a_borrowed_one_stays_open(sqlite_url: str) -> None:
    with open_store(sqlite_url) as store:
        schedules = SqlScheduleStore(store)
        log = store.delivery_log()
        assert schedules.database is store.database
        assert getattr(log, "database", None) is store.database

        schedules.close()

        assert schedules.list_schedules() == []  # still open: the store owns it


def test_importing_the_store_loads_no_engine_cli_or_web_module() -> None:
    code = "import json, sys\nimport spine.store\nprint(json.dumps(sorted(sys.modules)))\n"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    above = ("spine.orchestration", "spine.cli", "spine.web")
    loaded = [m for m in json.loads(completed.stdout) if m.startswith(above)]
    assert loaded == []


def test_postgresql_connections_keep_alive_unless_the_url_says_otherwise(
    postgres_url: str,
) -> None:
    """TCP keepalives on every connection (a worker's LISTEN connection only waits: a
    connection dropped without a word must fail, not wait for ever); the URL's win."""
    for url, idle in ((postgres_url, "30"), (f"{postgres_url}&keepalives_idle=5", "5")):
        database = Database(url)
        try:
            raw = database.engine.raw_connection()
            try:
                settings = raw.driver_connection.info.get_parameters()  # type: ignore[union-attr]
            finally:
                raw.close()
        finally:
            database.close()
        assert (settings["keepalives"], settings["keepalives_idle"]) == ("1", idle)
        assert (settings["keepalives_interval"], settings["keepalives_count"]) == ("10", "3")
