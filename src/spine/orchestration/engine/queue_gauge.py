"""``spine.queue.depth``: the run queue of each open runner's database, as a gauge.

One observable gauge per meter provider reads every watched runner's store when the
application's metric reader collects (on the reader's thread): the ``PENDING`` runs
by workflow, one query per database, tried once (an unreachable database reports
nothing that time rather than stall the reader). A workflow whose queue emptied is
reported as 0 from then on, not left at its last count.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

    from spine.orchestration.engine.settings import RunSettings
    from spine.orchestration.history import HistoryStore

logger = logging.getLogger("spine.telemetry")

WORKFLOW, DATABASE = "spine.workflow", "spine.database"


class Watched(Protocol):
    """A runner's runs, as the gauge sees them."""

    store: HistoryStore | None
    settings: RunSettings
    closed: threading.Event


_lock = threading.Lock()
_watched: weakref.WeakSet[Watched] = weakref.WeakSet()
_gauged: weakref.WeakKeyDictionary[MeterProvider, object] = weakref.WeakKeyDictionary()
_seen: set[tuple[str, str]] = set()
"""(database, workflow) pairs reported so far: reported again as 0 once emptied."""


def watch(runs: Watched) -> None:
    """Report the queue of ``runs``'s store while its runner is open and traced."""
    with _lock:
        _watched.add(runs)


def gauge_on(provider: MeterProvider, meter: Meter) -> None:
    """Give ``provider`` the gauge (once)."""
    with _lock:
        if provider in _gauged:
            return
        _gauged[provider] = meter.create_observable_gauge(
            "spine.queue.depth",
            callbacks=[_observe],
            unit="{run}",
            description="Runs waiting in the run queue (PENDING), by workflow and database",
        )


def _observe(options: CallbackOptions) -> Iterable[Observation]:
    from opentelemetry.metrics import Observation

    with _lock:
        watched = list(_watched)
    depths: dict[tuple[str, str], int] = {}
    read: set[str] = set()
    for runs in watched:
        store = runs.store
        if store is None or runs.closed.is_set() or not runs.settings.tracing:
            continue
        where = str(getattr(store, "where", type(store).__name__))
        if where in read:
            continue
        try:
            found = store.queue_depth()
        except Exception as exc:
            logger.debug("spine.queue.depth: %s did not answer: %s", where, exc)
            continue
        read.add(where)
        depths.update({(where, name): count for name, count in found.items()})
    with _lock:
        for key in _seen:
            if key[0] in read:
                depths.setdefault(key, 0)
        _seen.update(depths)
    return [Observation(n, {DATABASE: db, WORKFLOW: wf}) for (db, wf), n in depths.items()]
