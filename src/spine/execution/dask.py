"""``DaskExecutor``: steps and map items on a Dask ``distributed`` cluster (``[dask]`` extra)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from spine.core.errors import describe_exception
from spine.execution.base import Executor, check_chunk_size
from spine.execution.timeouts import stoppable

if TYPE_CHECKING:
    from distributed import Client

R = TypeVar("R")

log = logging.getLogger("spine.timeouts")


def _client_class() -> type[Client]:
    try:
        from distributed import Client
    except ImportError as exc:
        raise ImportError(
            "DaskExecutor needs Dask distributed: pip install 'spine-orchestration[dask]'"
        ) from exc
    return Client


def _restart(client: Client, workers: list[str]) -> None:
    try:
        client.restart_workers(workers, raise_for_error=False)
    except Exception as exc:  # the cluster closed meanwhile: nothing left to stop
        log.warning("restarting Dask workers %s failed: %s", workers, describe_exception(exc))


class DaskExecutor(Executor):
    """Runs work on a Dask cluster.

    ``client`` is a ``distributed.Client`` (left open on :meth:`close`: it is the
    caller's), a scheduler address such as ``"tcp://10.0.0.5:8786"``, or ``None``
    for a new local cluster; ``client_options`` go to ``Client(...)`` then.

    A worker lost while it runs work is Dask's to handle: the scheduler runs that
    work again on another worker, and spine records each map item once, from the
    result that arrives. Work that keeps killing workers fails with Dask's
    ``KilledWorker`` (after ``distributed.scheduler.allowed-failures`` attempts).

    Work that outlives a step's ``timeout_seconds`` is cancelled, and a worker already
    running it is restarted by its nanny (a Dask worker cannot interrupt a running
    task otherwise; other tasks on that worker are then run again elsewhere). A
    cluster without nannies (``processes=False``) cannot restart it: the task is
    cancelled and runs on there until it returns.
    """

    remote = True

    def __init__(
        self,
        client: Client | str | None = None,
        *,
        chunk_size: int | None = None,
        **client_options: Any,
    ) -> None:
        client_class = _client_class()
        self.chunk_size = check_chunk_size(chunk_size)
        if isinstance(client, client_class):
            if client_options:
                raise ValueError(
                    f"DaskExecutor: {', '.join(sorted(client_options))} configure a new "
                    "Client; the Client given is used as it is"
                )
            self.client, self._owned = client, False
        else:
            self.client, self._owned = client_class(client, **client_options), True
        # A Dask future whose last reference goes is cancelled: hold each until done.
        self._running: set[Any] = set()
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Future[R]:
        bridge: Future[R] = Future()
        task = self.client.submit(fn, *args, pure=False)
        with self._lock:
            self._running.add(task)

        def settle(done: Any) -> None:
            with self._lock:
                self._running.discard(done)
            try:
                bridge.set_result(done.result())
            except BaseException as exc:
                bridge.set_exception(exc)

        task.add_done_callback(settle)  # type: ignore[no-untyped-call]
        stoppable(lambda: self._stop(task))
        return bridge

    def _stop(self, task: Any) -> None:
        """Cancel a timed-out task, and restart the workers running it."""
        client = self.client
        key = task.key
        processing = client.processing()  # type: ignore[no-untyped-call]
        running = [w for w, keys in processing.items() if key in keys]
        client.cancel(task, force=True)  # type: ignore[no-untyped-call]
        if running:
            # A restart takes seconds: the run that timed out does not wait for it.
            threading.Thread(
                target=_restart, args=(client, running), name="spine-dask-restart", daemon=True
            ).start()

    def share(self, blob: bytes) -> Any:
        # Scattered once to every worker: each task then carries a key, not the bytes.
        return self.client.scatter(blob, broadcast=True, hash=False)  # type: ignore[no-untyped-call]

    def describe(self) -> str:
        return f"DaskExecutor({self.client.scheduler.address if self.client.scheduler else '?'})"

    def close(self) -> None:
        if self._owned:
            self.client.close()  # type: ignore[no-untyped-call]


__all__ = ["DaskExecutor"]
