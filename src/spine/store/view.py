"""``StoreView``: a part of spine's database (schedules, alert deliveries) on an open
:class:`~spine.store.database.Database`, its own or one it shares."""

from __future__ import annotations

from typing import Protocol

from spine.store.database import Closing, Database


class HasDatabase(Protocol):
    """Anything that keeps an open database: an ``SqlStore``, another view."""

    @property
    def database(self) -> Database: ...


class StoreView(Closing):
    """Schedules or alert deliveries, kept in the runs' database and reached through one
    :class:`~spine.store.database.Database` (one engine, one migration, one
    transaction path).

    ``source``: the database, or a store that keeps one (``SqlStore``), to share.
    ``close_database``: closing the view closes the database too (the view opened it).
    """

    def __init__(self, source: Database | HasDatabase, *, close_database: bool = False) -> None:
        self.database = source if isinstance(source, Database) else source.database
        self.where = self.database.where
        self._close_database = close_database

    def close(self) -> None:
        if self._close_database:
            self.database.close()
