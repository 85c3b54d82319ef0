"""Calls with a time limit: the helper threads they run on, and how work that outlives
its limit is stopped (or, where Python cannot stop it, abandoned and counted).

A step with ``timeout_seconds`` runs on one of a few shared daemon threads while the
runner waits for it with the limit. When the limit passes, the runner moves on at once
and calls :meth:`Watch.stop`: whatever the call registered with :func:`stoppable` while
it ran is stopped (a coroutine is cancelled, a process pool's workers are killed, Dask
futures are cancelled). A call that registered nothing is plain Python code on a thread,
which nothing can stop: it is *abandoned* (logged, counted by :func:`abandoned_calls`)
and runs on until it returns, using CPU meanwhile; what it returns then is dropped.
Helper threads are daemons, so an abandoned call never keeps the interpreter alive.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

R = TypeVar("R")

log = logging.getLogger("spine.timeouts")

IDLE_SECONDS = 30.0
"""How long a helper thread waits for more work before it ends."""


class Watch:
    """The stoppers of one timed call; :meth:`stop` runs them once its limit passed."""

    __slots__ = ("_lock", "_stoppers", "expired")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stoppers: list[Callable[[], object]] = []
        self.expired = False
        """The limit passed: start nothing more (map steps ask between items)."""

    def add(self, stopper: Callable[[], object]) -> None:
        with self._lock:
            if not self.expired:
                self._stoppers.append(stopper)
                return
        stopper()  # registered after the limit passed: stop it at once

    def stop(self) -> bool:
        """Stop what can be stopped; ``False`` if the call registered nothing (abandoned)."""
        with self._lock:
            self.expired = True
            stoppers, self._stoppers = self._stoppers, []
        for stopper in stoppers:
            try:
                stopper()
            except Exception:  # a stopper that fails leaves the others to run
                log.exception("stopping timed-out work failed")
        return bool(stoppers)


_current: contextvars.ContextVar[Watch | None] = contextvars.ContextVar("spine_watch", default=None)


def current_watch() -> Watch | None:
    """The watch of the timed call running in this context, if any."""
    return _current.get()


def stoppable(stopper: Callable[[], object]) -> None:
    """Register how to stop work just started, if it runs under a time limit."""
    watch = _current.get()
    if watch is not None:
        watch.add(stopper)


class _Helpers:
    """Daemon threads for timed calls, reused: starting a thread per step would cost
    more than the whole step. A thread whose call was abandoned is busy until it
    returns; a new one starts when none is idle."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = 0
        self.abandoned = 0

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Future[R]:
        future: Future[R] = Future()
        context = contextvars.copy_context()

        def call() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(context.run(fn, *args))
            except BaseException as exc:
                future.set_exception(exc)

        with self._lock:
            # Put under the lock: an idle thread counted here cannot end meanwhile.
            self._queue.put(call)
            if self._idle:
                self._idle -= 1
                return future
        threading.Thread(target=self._work, name="spine-timed", daemon=True).start()
        return future

    def count_abandoned(self) -> None:
        with self._lock:
            self.abandoned += 1

    def _work(self) -> None:
        while True:
            try:
                call = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._idle -= 1
                        return
                continue  # a call was queued for an idle thread as this one timed out
            call()
            with self._lock:
                self._idle += 1


_helpers = _Helpers()


def call_within(
    seconds: float, what: str, fn: Callable[..., R], /, *args: Any
) -> tuple[bool, R | None]:
    """``(True, fn(*args))``, or ``(False, None)`` if it did not return within
    ``seconds``: it is then stopped if it can be, else abandoned. ``what`` names the
    call in the log. Exceptions ``fn`` raises are raised here."""
    watch = Watch()
    token = _current.set(watch)
    try:
        future = _helpers.submit(fn, *args)  # sees the watch: copies this context
    finally:
        _current.reset(token)
    try:
        return True, future.result(seconds)
    except TimeoutError:
        if future.done():  # it ended just as the limit passed: keep its result
            return True, future.result()
    if watch.stop():
        log.info("%s: over its time limit (%.3g s); its work was stopped", what, seconds)
    else:
        _helpers.count_abandoned()
        log.warning(
            "%s: over its time limit (%.3g s); abandoned: a thread cannot be stopped, it "
            "runs on until it returns, and its result is then discarded",
            what,
            seconds,
        )
        future.add_done_callback(lambda _: log.info("%s: abandoned call returned; discarded", what))
    return False, None


def abandoned_calls() -> int:
    """How many timed-out calls this process abandoned (ran on, unstoppable) so far."""
    return _helpers.abandoned


__all__ = ["Watch", "abandoned_calls", "call_within", "current_watch", "stoppable"]
