"""The :class:`Executor` contract and its ``chunk_size`` check.

They sit apart from the executors so that ``spine.execution.dask`` can build on
them while :func:`~spine.execution.executors.executor_for` names ``DaskExecutor``:
the imports then point one way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, ClassVar, TypeVar

from spine.core.errors import NotShippableError, describe_exception

R = TypeVar("R")


class Executor(ABC):
    """Runs calls somewhere and hands back a :class:`concurrent.futures.Future`."""

    remote: ClassVar[bool] = False
    """Work crosses a process boundary, so what it needs must be pickled (see :meth:`ship`)."""

    chunk_size: int | None = None
    """Map items sent to another process per call (``None``: chosen per map). Only
    remote executors group items; each item is still recorded on its own."""

    @abstractmethod
    def submit(self, fn: Callable[..., R], /, *args: Any) -> Future[R]:
        """Start ``fn(*args)``; its result or exception arrives through the future."""

    def ship(self, value: object, what: str) -> bytes:
        """``value`` pickled for another process, or :class:`NotShippableError`
        naming ``what`` (the workflow and step it belongs to)."""
        import cloudpickle  # only work that leaves the process needs it

        try:
            return cloudpickle.dumps(value)  # type: ignore[no-any-return]
        except Exception as exc:
            raise NotShippableError(
                f"{what} cannot be sent to {self.describe()}: {describe_exception(exc)}. "
                "Work that runs in another process must be picklable: define the function "
                "at module level, or keep locks, open files and connections out of its closure"
            ) from exc

    def share(self, blob: bytes) -> Any:
        """What to pass to :meth:`submit` in place of ``blob`` when many calls take the
        same bytes (a cluster sends them to each worker once); ``blob`` itself here."""
        return blob

    def describe(self) -> str:
        """How the executor names itself in messages."""
        return type(self).__name__

    def close(self) -> None:  # noqa: B027 - an executor holding nothing has nothing to do
        """Release the executor's threads, processes or cluster connection."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def check_chunk_size(chunk_size: int | None) -> int | None:
    """``chunk_size`` if it is one an executor can use; ``ValueError`` if not."""
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be an integer >= 1 or None, got {chunk_size!r}")
    return chunk_size


__all__ = ["Executor", "check_chunk_size"]
