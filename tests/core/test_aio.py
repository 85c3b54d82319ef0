"""run_sync: awaiting coroutines from synchronous code."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading

import pytest

from spine.core.aio import run_sync

_var: contextvars.ContextVar[str] = contextvars.ContextVar("test_aio_var", default="unset")


async def _double(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


async def _read_var() -> str:
    await asyncio.sleep(0)
    return _var.get()


def test_runs_a_coroutine_from_sync_code() -> None:
    assert run_sync(_double(21)) == 42


def test_exception_propagates() -> None:
    async def fails() -> None:
        raise LookupError("inside")

    with pytest.raises(LookupError, match="inside"):
        run_sync(fails())


def test_accepts_a_non_coroutine_awaitable() -> None:
    async def main() -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.set_result(7)
        return await future

    assert run_sync(main()) == 7


def test_works_inside_a_running_event_loop() -> None:
    async def outer() -> int:
        # A synchronous call (say, the runner) made from async code.
        return run_sync(_double(5))

    assert asyncio.run(outer()) == 10


def test_context_vars_are_visible_inside_the_coroutine() -> None:
    run_sync(_read_var())  # make sure the thread's loop already exists
    token = _var.set("from-caller")
    try:
        assert run_sync(_read_var()) == "from-caller"
    finally:
        _var.reset(token)
    assert run_sync(_read_var()) == "unset"


def test_context_vars_are_visible_inside_a_running_loop() -> None:
    async def outer() -> str:
        token = _var.set("from-async-caller")
        try:
            return run_sync(_read_var())
        finally:
            _var.reset(token)

    assert asyncio.run(outer()) == "from-async-caller"


def test_repeated_calls_reuse_the_thread_loop() -> None:
    async def loop_id() -> int:
        return id(asyncio.get_running_loop())

    first = run_sync(loop_id())
    ids = {run_sync(loop_id()) for _ in range(50)}
    gc.collect()  # a leaked, unclosed loop would warn (and fail under filterwarnings=error)

    assert ids == {first}


def test_each_thread_gets_its_own_loop() -> None:
    async def loop_id() -> int:
        return id(asyncio.get_running_loop())

    results: list[int] = []

    def worker() -> None:
        results.append(run_sync(loop_id()))
        results.append(run_sync(loop_id()))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    gc.collect()

    assert len(results) == 2
    assert results[0] == results[1]
