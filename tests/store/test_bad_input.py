"""Bad database URLs and unusable databases: a clear StoreError, and existing data untouched."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from spine.core.errors import StoreError
from spine.orchestration import Step, Workflow, WorkflowRunner, WorkflowStatus
from spine.store import open_store

from .helpers import all_rows, raw_engine, store_of

MakeRunner = Callable[..., WorkflowRunner]

SUPPORTED = ("sqlite:///", "postgresql://")


def _workflow() -> Workflow:
    return Workflow("store.bad_input", [Step.lambda_("only", lambda ctx, config: {"x": 1})])


@pytest.mark.parametrize("url", ["mysql://user@host/db", "oracle://x/y", "not a url"])
def test_an_unsupported_url_names_the_supported_schemes(url: str) -> None:
    with pytest.raises(StoreError) as info:
        WorkflowRunner(database_url=url)
    message = str(info.value)
    for scheme in SUPPORTED:
        assert scheme in message
    assert repr(url.split(":")[0]) in message or repr(url) in message


def test_an_unsupported_url_in_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPINE_DATABASE_URL", "mysql://user@host/db")
    with pytest.raises(StoreError, match="'mysql' is not supported"):
        WorkflowRunner()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database_is_refused(url: str) -> None:
    with pytest.raises(StoreError, match="in-memory") as info:
        WorkflowRunner(database_url=url)
    assert "sqlite:///" in str(info.value)


def test_an_unknown_synchronous_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="synchronous") as info:
        WorkflowRunner(database_url=f"sqlite:///{tmp_path / 'h.db'}?synchronous=bogus")
    message = str(info.value)
    assert "'bogus'" in message
    for value in ("off", "normal", "full", "extra"):
        assert value in message
    assert not (tmp_path / "h.db").exists()


def test_a_known_synchronous_setting_is_applied(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}?synchronous=FULL")
    try:
        with store.engine.connect() as conn:
            level = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    finally:
        store.close()
    assert level == 2  # FULL
    assert mode == "wal"


def test_an_unreachable_postgresql_server_gives_a_store_error() -> None:
    # Port 1 on the loopback: nothing listens, the connection is refused at once.
    with pytest.raises(StoreError) as info:
        WorkflowRunner(database_url="postgresql://postgres@127.0.0.1:1/spine_history")
    message = str(info.value)
    assert type(info.value) is StoreError
    assert "PostgreSQL database 'spine_history'" in message
    assert "127.0.0.1" in message
    assert "\n" not in message


def test_a_sqlite_path_whose_directory_cannot_exist_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create the directory") as info:
        WorkflowRunner(database_url=f"sqlite:///{blocker / 'sub' / 'h.db'}")
    assert str(blocker / "sub") in str(info.value)
    assert blocker.read_text() == "not a directory"


def _garbage(path: Path) -> bytes:
    data = random.Random(3).randbytes(16_384)
    assert not data.startswith(b"SQLite format 3")
    path.write_bytes(data)
    return data


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(_garbage, id="random-bytes"),
        pytest.param(
            lambda p: (p.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16), None)[0],
            id="damaged-header",
        ),
        pytest.param(lambda p: p.write_text("id,name\n1,a\n" * 500), id="csv"),
    ],
)
def test_a_corrupt_sqlite_file_is_refused_untouched(
    tmp_path: Path, content: Callable[[Path], object]
) -> None:
    path = tmp_path / "history.db"
    content(path)
    before = path.read_bytes()

    with pytest.raises(StoreError, match="not a usable SQLite database") as info:
        WorkflowRunner(database_url=f"sqlite:///{path}")

    assert str(path) in str(info.value)
    assert path.read_bytes() == before


def _foreign_database(path: Path) -> bytes:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT)")
        conn.execute("INSERT INTO accounts (owner) VALUES ('ada'), ('grace')")
    conn.close()
    return path.read_bytes()


def test_a_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    before = _foreign_database(path)

    with pytest.raises(StoreError, match="spine did not create") as info:
        WorkflowRunner(database_url=f"sqlite:///{path}")

    assert "accounts" in str(info.value)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["app.db"]
    conn = sqlite3.connect(path)
    try:
        owners = conn.execute("SELECT owner FROM accounts ORDER BY id").fetchall()
        mode = conn.execute("PRAGMA journal_mode").fetchone()
    finally:
        conn.close()
    assert owners == [("ada",), ("grace",)]
    assert mode == ("delete",)


def test_a_foreign_table_named_like_spines_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE core_workflow_runs (id INTEGER, label TEXT)")
        conn.execute("INSERT INTO core_workflow_runs VALUES (1, 'theirs')")
    conn.close()
    before = path.read_bytes()

    with pytest.raises(StoreError, match="spine did not create"):
        WorkflowRunner(database_url=f"sqlite:///{path}")

    assert path.read_bytes() == before


def test_postgres_tables_of_other_applications_are_left_alone(
    postgres_url: str, make_runner: MakeRunner
) -> None:
    with raw_engine(postgres_url) as engine, engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE accounts (id INTEGER, owner TEXT)")
        conn.exec_driver_sql("INSERT INTO accounts VALUES (1, 'ada')")

    runner = make_runner(database_url=postgres_url)
    assert runner.execute(_workflow()).status == WorkflowStatus.COMPLETED

    with raw_engine(postgres_url) as engine, engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id, owner FROM accounts").all() == [(1, "ada")]


def test_a_foreign_core_table_on_postgres_is_refused_untouched(postgres_url: str) -> None:
    with raw_engine(postgres_url) as engine, engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE core_workflow_runs (id INTEGER, label TEXT)")
        conn.exec_driver_sql("INSERT INTO core_workflow_runs VALUES (1, 'theirs')")

    with pytest.raises(StoreError, match="spine did not create"):
        WorkflowRunner(database_url=postgres_url)

    with raw_engine(postgres_url) as engine, engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, label FROM core_workflow_runs").all()
        version_table = conn.exec_driver_sql(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_name = 'spine_schema_version' AND table_schema = current_schema()"
        ).scalar()
    assert rows == [(1, "theirs")]
    assert version_table == 0


@contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Make ``path`` unwritable even for root (the immutable attribute), else skip."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make a file read-only for root here: {made.stderr!r}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _open_and_run(url: str) -> None:
    with WorkflowRunner(database_url=url) as runner:
        runner.execute(_workflow())


def test_a_read_only_sqlite_file_gives_a_clear_error_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.db"
    url = f"sqlite:///{path}"
    with WorkflowRunner(database_url=url) as runner:
        first = runner.execute(_workflow())
    with raw_engine(url) as engine:
        before = all_rows(engine)
    content = path.read_bytes()

    with _read_only(path):
        # Refused when the store opens or, at the latest, when the run is recorded.
        with pytest.raises(StoreError, match="read-only") as info:
            _open_and_run(url)
        assert str(path) in str(info.value)
        assert path.read_bytes() == content

    with WorkflowRunner(database_url=url) as runner:
        stored = store_of(runner).load_run(first.run_id)
        assert stored.run.status == "COMPLETED"
        assert all_rows(store_of(runner).engine) == before
