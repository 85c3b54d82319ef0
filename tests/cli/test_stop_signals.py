"""``spine worker``'s SIGTERM and Ctrl-C handlers (:class:`StopSignals`): a signal that
lands while the main thread holds the lock of the event it waits on is still taken (the
handler used to set that event itself, and a worker hung there, ignoring SIGTERM)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import pytest

from spine.cli.working import StopSignals


@pytest.fixture
def signals() -> Iterator[StopSignals]:
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        yield StopSignals()
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


def test_a_signal_inside_the_stop_events_lock_is_taken(signals: StopSignals) -> None:
    stop = threading.Event()
    # As when the signal interrupts the main thread inside ``stop.wait()``: were the
    # handler to set ``stop``, it would wait for this very lock, held by its own thread.
    with stop._cond:  # type: ignore[attr-defined]
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
    assert not stop.is_set()
    signals.wait(stop, every=0.01)
    assert stop.is_set()
    assert signals.received == [signal.SIGTERM, signal.SIGINT]


def test_waiting_ends_when_stop_is_set_elsewhere(signals: StopSignals) -> None:
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    signals.wait(stop, every=0.01)
    assert stop.is_set()
    assert signals.received == []
