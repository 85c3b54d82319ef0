"""Executors: where pipeline steps and map items run.

The workflow's control flow always stays in the runner, which records history; an
executor only runs the work it is handed and gives back its result:

- :class:`InlineExecutor` (the default) runs work in the runner's own thread, and
  map items on the map's own threads, as the spec describes;
- :class:`ThreadExecutor` runs work on one pool of threads shared by every run of
  the runner (a bound on how much runs at once across runs);
- :class:`ProcessExecutor` runs work in a pool of worker processes;
- ``DaskExecutor`` (``spine.execution.dask``, the ``[dask]`` extra) runs work on a
  Dask ``distributed`` cluster.

Each implements :class:`~spine.execution.base.Executor` (importable from here too).
Work bound for another process is pickled with cloudpickle first (so lambdas and
functions of ``__main__`` travel by value); what cannot be pickled is refused
with :class:`~spine.core.errors.NotShippableError` before anything is sent.
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from spine.execution.base import Executor, check_chunk_size
from spine.execution.timeouts import stoppable

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

R = TypeVar("R")


def _done(fn: Callable[..., R], args: tuple[Any, ...]) -> Future[R]:
    """A future already holding ``fn(*args)``'s result (or the exception it raised)."""
    future: Future[R] = Future()
    try:
        future.set_result(fn(*args))
    except Exception as exc:
        future.set_exception(exc)
    return future


class InlineExecutor(Executor):
    """Runs each call at once in the calling thread (the default executor)."""

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Future[R]:
        return _done(fn, args)


class ThreadExecutor(Executor):
    """A pool of ``max_workers`` threads shared by every run of the runner.

    A call made from one of the pool's own threads (a pipeline step inside a map
    item already on the pool) runs at once in that thread: waiting for a free
    thread there could wait forever.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError(f"max_workers must be an integer >= 1, got {max_workers!r}")
        self.max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(
            self.max_workers, thread_name_prefix="spine-executor", initializer=self._mark
        )

    def _mark(self) -> None:
        self._local.inside = True

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Future[R]:
        if getattr(self._local, "inside", False):
            return _done(fn, args)
        # The call sees the caller's context variables, as it would inline.
        return self._pool.submit(contextvars.copy_context().run, fn, *args)

    def describe(self) -> str:
        return f"ThreadExecutor(max_workers={self.max_workers})"

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _process_context() -> Any:
    import multiprocessing

    # forkserver: children start from a clean server process, not a fork of a
    # process that already runs threads (unsafe, and deprecated from Python 3.12).
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _inside_main_script_of_a_worker() -> bool:
    """Whether the caller is a pool worker running the main script again (as
    ``__mp_main__``): a script without the ``__main__`` guard would start pools from
    its workers, and each would run the script's workflows once more."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == "__mp_main__":
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _watch_parent(parent_pid: int) -> None:
    """Worker process start: end when the process that made the pool is gone, and leave
    Ctrl-C to it.

    A runner killed with SIGKILL cannot stop its pool; without this its worker
    processes would live on, idle, for ever. A terminal's Ctrl-C reaches the whole
    process group: the runner's process decides what it means (``spine run`` stops the
    run at a step boundary), so a worker must not die of it mid-item.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                continue  # a pid reused by another user's process: still "there"

    threading.Thread(target=watch, name="spine-parent-watch", daemon=True).start()


class ProcessExecutor(Executor):
    """A pool of ``max_workers`` worker processes (one per CPU by default).

    Worker processes start from a clean server process (``forkserver``) and import
    the script that made the pool, as with any ``multiprocessing`` pool: a script
    creating one needs the ``if __name__ == "__main__":`` guard. A pool whose worker
    died (killed, out of memory) is replaced for the next call.

    A call that outlives a step's ``timeout_seconds`` is stopped for real: a pool
    cannot kill the one process running it, so every worker of the pool is killed and
    the pool replaced; other calls in flight on it at that moment fail with
    ``BrokenProcessPool`` (their steps' retry policies apply).
    """

    remote = True

    def __init__(self, max_workers: int | None = None, *, chunk_size: int | None = None) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError(f"max_workers must be an integer >= 1, got {max_workers!r}")
        if _inside_main_script_of_a_worker():
            raise RuntimeError(
                "a ProcessExecutor was created while a worker process imported the main "
                "script: put the code that runs workflows under "
                '`if __name__ == "__main__":`'
            )
        self.max_workers = max_workers or os.cpu_count() or 1
        self.chunk_size = check_chunk_size(chunk_size)
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        from concurrent.futures import ProcessPoolExecutor  # multiprocessing loads if used

        return ProcessPoolExecutor(
            self.max_workers,
            mp_context=_process_context(),
            initializer=_watch_parent,
            initargs=(os.getpid(),),
        )

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Future[R]:
        from concurrent.futures.process import BrokenProcessPool

        with self._lock:
            pool = self._pool
        try:
            future = pool.submit(fn, *args)
        except BrokenProcessPool:
            # Calls in flight on the broken pool have failed already; later ones get
            # a fresh pool.
            with self._lock:
                if self._pool is pool:
                    pool.shutdown(wait=False)
                    self._pool = self._new_pool()
                pool = self._pool
            future = pool.submit(fn, *args)
        stoppable(partial(self._stop, pool, future))
        return future

    def _stop(self, pool: ProcessPoolExecutor, future: Future[Any]) -> None:
        """Stop a timed-out call: cancelled if it has not started, else its pool's
        workers are killed and the pool replaced for the next calls."""
        if future.cancel() or future.done():
            return
        with self._lock:
            if self._pool is pool:
                self._pool = self._new_pool()
        # No public way to kill a pool's workers before Python 3.14 (kill_workers).
        processes = getattr(pool, "_processes", None) or {}
        for process in list(processes.values()):
            process.kill()
        # (Not cancel_futures: the calls queued behind it would fail as CancelledError;
        # the broken pool fails each with BrokenProcessPool, as the ones running.)
        pool.shutdown(wait=False)

    def describe(self) -> str:
        return f"ProcessExecutor(max_workers={self.max_workers})"

    def close(self) -> None:
        with self._lock:
            self._pool.shutdown(wait=True)


def executor_for(spec: Executor | str | None) -> tuple[Executor, bool]:
    """The executor ``WorkflowRunner(executor=...)`` names, and whether the runner owns it
    (made it from a name, so closes it)."""
    if isinstance(spec, Executor):
        return spec, False
    if spec is None or spec == "inline":
        return InlineExecutor(), True
    if spec == "threads":
        return ThreadExecutor(), True
    if spec == "processes":
        return ProcessExecutor(), True
    if spec == "dask":
        from spine.execution.dask import DaskExecutor

        return DaskExecutor(), True
    raise ValueError(
        f"executor must be an Executor or one of 'inline', 'threads', 'processes', 'dask'; "
        f"got {spec!r}"
    )


__all__ = [
    "Executor",
    "InlineExecutor",
    "ProcessExecutor",
    "ThreadExecutor",
    "executor_for",
]
