"""``StoreView``: a part of the history database on an open ``SqlStore``'s connections."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from spine.store.sql_store import SqlStore


class StoreView:
    """Schedules or alert deliveries, kept in the runs' database and reached through its
    ``SqlStore`` (one engine, one migration, one transaction path).

    ``close_store``: closing the view closes ``store`` too (the view opened it).
    """

    def __init__(self, store: SqlStore, *, close_store: bool = False) -> None:
        self.store = store
        self.where = store.where
        self._close_store = close_store

    def close(self) -> None:
        if self._close_store:
            self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
