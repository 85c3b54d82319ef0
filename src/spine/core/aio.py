"""Running ``async def`` steps and pipelines from the synchronous runner.

Each thread keeps one event loop (created on first use, closed when the thread
ends or the interpreter exits), so awaiting many small coroutines does not pay
for a new loop each time. When the caller's thread already runs a loop (the
runner was called from async code), the coroutine runs to completion on a
short-lived helper thread instead, since a running loop cannot be re-entered.
"""

from __future__ import annotations

import contextvars
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from types import CoroutineType
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

if TYPE_CHECKING:
    import asyncio

# asyncio is imported on first use: most workflows never await anything, and it
# would double the import time of spine.orchestration.

T = TypeVar("T")


def is_awaitable(value: object) -> TypeGuard[Awaitable[Any]]:
    """Like ``inspect.isawaitable`` for the values steps return, without importing inspect."""
    return hasattr(type(value), "__await__")


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    if not loop.is_closed():
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class _ThreadLoop:
    """This thread's private event loop; never installed as the thread's current loop."""

    __slots__ = ("__weakref__", "loop")

    def __init__(self) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        weakref.finalize(self, _close_loop, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], on_start: OnStart | None = None) -> T:
        import asyncio

        loop = self.loop
        # The task copies the caller's context, so ContextVars set around the call
        # (the step's lineage) are visible inside the coroutine.
        task = loop.create_task(coro, context=contextvars.copy_context())
        if on_start is not None:
            on_start(lambda: loop.call_soon_threadsafe(task.cancel))
        try:
            return loop.run_until_complete(task)
        finally:
            # Like asyncio.run: tasks the coroutine started and left behind are
            # cancelled now, not resumed by some later step of another run.
            leftovers = asyncio.all_tasks(loop)
            for leftover in leftovers:
                leftover.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))


OnStart = Callable[[Callable[[], object]], None]
"""Given, once the coroutine started, a function that cancels it from any thread."""

_local = threading.local()


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _as_coroutine(awaitable: Awaitable[T]) -> Coroutine[Any, Any, T]:
    if isinstance(awaitable, CoroutineType):
        return awaitable
    return _await(awaitable)


def run_sync(awaitable: Awaitable[T], on_start: OnStart | None = None) -> T:
    """Run ``awaitable`` to completion and return its result, from synchronous code.

    ``on_start`` receives a canceller (a step's time limit uses it), except when the
    caller's thread runs a loop already: the helper thread's loop is not reachable.
    """
    import asyncio

    coro = _as_coroutine(awaitable)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        from concurrent.futures import ThreadPoolExecutor

        context = contextvars.copy_context()
        with ThreadPoolExecutor(1, thread_name_prefix="spine-async") as pool:
            return pool.submit(context.run, asyncio.run, coro).result()
    loop = getattr(_local, "loop", None)
    if loop is None:
        loop = _local.loop = _ThreadLoop()
    return loop.run(coro, on_start)
