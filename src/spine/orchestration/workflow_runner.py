"""``WorkflowRunner``: executes workflows, and with a database makes every run durable.

A thin facade over the engine: its settings live in one
:class:`~spine.orchestration.engine.settings.RunSettings`; runs execute through
:class:`~spine.orchestration.engine.runs.Runs` and queue through
:class:`~spine.orchestration.queue.RunQueue`.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from spine.core.clock import SYSTEM_CLOCK, Clock
from spine.core.errors import RunNotFoundError, WorkflowError, WorkflowValidationError
from spine.core.records import Owner
from spine.execution.capture import DEFAULT_LIMIT
from spine.execution.executors import Executor, executor_for
from spine.execution.runnable import Runnable
from spine.framework.dispatcher import Dispatcher
from spine.orchestration.engine.fork import execute_fork, queue_fork
from spine.orchestration.engine.runs import RemoteItems, Runs, initial_context
from spine.orchestration.engine.settings import RunSettings, Setting
from spine.orchestration.engine.state import RunState
from spine.orchestration.flow import plan_for
from spine.orchestration.leases import LeaseKeeper
from spine.orchestration.queue import RunQueue, check_request
from spine.orchestration.registry import WorkflowRegistry, default_workflow_registry
from spine.orchestration.results import StepExecution, WorkflowResult, WorkflowStatus
from spine.orchestration.step_result import StepResult
from spine.orchestration.workflow import Workflow, alert_statuses
from spine.orchestration.workflow_context import WorkflowContext

if TYPE_CHECKING:
    from spine.framework.alerts import AlertRegistry
    from spine.orchestration.backfill import Backfill
    from spine.orchestration.history import HistoryStore

DEFAULT_MAX_STEPS = 10_000
DEFAULT_LEASE_SECONDS = 30.0


class WorkflowRunner:
    """Executes workflows.

    ``execute`` never raises for a step's failure: the returned
    :class:`WorkflowResult` says which step failed and why. It raises
    :class:`~spine.core.errors.WorkflowValidationError` only for an invalid request
    (``start_from`` naming no step).

    With ``database_url`` (or the ``SPINE_DATABASE_URL`` environment variable) every
    run is durable: each step's outcome is committed before the next step starts, a
    run holds a lease while it executes, and :meth:`resume` and :meth:`recover`
    continue runs that failed, wait or lost their process.

    Args:
        runnable: an object with ``submit_pipeline_sync`` (spine-core's
            ``Runnable``) to run pipeline steps; by default they run through
            ``dispatcher``.
        dry_run: never call pipelines (their output is
            ``{"dry_run": True, "pipeline": name}``) and never sleep in waits.
        dispatcher: runs pipeline steps; ``Dispatcher()`` (the default registry)
            if omitted.
        max_steps: most steps one run executes, so a loop of choices ends.
        clock: where time is read and retry delays and waits sleep.
        database_url: ``sqlite:///path/to/file.db`` or ``postgresql://...``.
        store: a ready :class:`~spine.orchestration.history.HistoryStore` instead.
        lease_seconds: how long a run's lease lasts without a heartbeat.
        block_on_waits: sleep through waits and retry delays (default); when false a
            run that must wait is stored as ``WAITING`` and ``execute`` returns, for
            :meth:`recover` (or a worker) to continue when it is due.
        workflows: the registry in which ``resume`` and ``recover`` find workflows.
        on_step: called with ``(run_id, step_execution)`` after every step attempt
            (progress displays; it runs on the executing thread, so keep it quick).
        executor: where pipeline steps and map items run: ``"inline"`` (the
            default: this thread, and each map's own threads), ``"threads"``,
            ``"processes"``, ``"dask"``, or an :class:`~spine.execution.Executor`
            such as ``DaskExecutor(client)``. Control flow and history stay here.
            An executor given by name is closed with the runner; one passed in is
            the caller's to close.
        history: ``False`` keeps no history even when ``SPINE_DATABASE_URL`` is set.
        alert_on: run statuses (``"FAILED"``, ``"PARTIAL"``, ``"CANCELLED"``,
            ``"COMPLETED"``) on which a run sends an alert through ``alerts`` naming
            the workflow, run, failed step and error, linked to the run in the UI at
            ``ui_url`` (default: ``SPINE_UI_URL``). A workflow's own ``alert_on``
            wins. With history, deliveries are recorded in the runner's database.
        alerts: the alert registry to send through (the default ``alert_registry``).
        recovery_limit: a run whose process died this many times in a row while
            executing the same step ends ``FAILED`` (category ``WORKER_LOST``) instead
            of being recovered again; a workflow's own ``recovery_limit`` wins.
        log_limit_bytes: how much text each step attempt's log keeps (what it writes
            with ``print()`` or ``logging``, default 1 MiB); lines past it are
            dropped, and a last line says how many.
        tracing: with the OpenTelemetry API installed (extra ``[otel]``), runs emit
            spans and metrics to the tracer and meter providers configured in the
            process, if any (see the guide's "OpenTelemetry"); ``False`` turns it off.
    """

    dry_run: Setting[bool] = Setting()
    max_steps: Setting[int] = Setting(lambda value: _checked_max_steps(value))
    clock: Setting[Clock] = Setting()
    dispatcher: Setting[Dispatcher] = Setting()
    foreign_runnable: Setting[Runnable | None] = Setting()
    """A spine-core ``Runnable`` that runs pipeline steps instead of the dispatcher."""
    executor: Setting[Executor] = Setting()
    workflows: Setting[WorkflowRegistry] = Setting()
    lease_seconds: Setting[float] = Setting(lambda value: _checked_lease(value))
    """How long a lease lasts without a heartbeat (the heartbeat's interval is set when
    the runner is built)."""
    block_on_waits: Setting[bool] = Setting()
    on_step: Setting[Callable[[str, StepExecution], object] | None] = Setting()
    source: Setting[str | None] = Setting()
    """Recorded with each run this runner starts: where its workflow was loaded from."""
    alert_on: Setting[frozenset[str] | None] = Setting(lambda value: alert_statuses(value))
    ui_url: Setting[str | None] = Setting()
    alerts: Setting[AlertRegistry | None] = Setting()
    """Where run alerts go; ``None``: the default ``alert_registry``."""
    recovery_limit: Setting[int] = Setting(lambda value: _checked_recovery_limit(value))
    log_limit_bytes: Setting[int] = Setting(lambda value: _checked_log_limit(value))
    tracing: Setting[bool] = Setting(bool)
    """Emit OpenTelemetry spans and metrics (when the API is installed and a provider is
    configured); ``False`` turns them off."""

    def __init__(
        self,
        runnable: Runnable | None = None,
        *,
        dry_run: bool = False,
        dispatcher: Dispatcher | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        clock: Clock | None = None,
        database_url: str | None = None,
        store: HistoryStore | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        block_on_waits: bool = True,
        workflows: WorkflowRegistry | None = None,
        on_step: Callable[[str, StepExecution], object] | None = None,
        executor: Executor | str | None = None,
        history: bool = True,
        alert_on: Iterable[str] | str | None = None,
        ui_url: str | None = None,
        alerts: AlertRegistry | None = None,
        recovery_limit: int = 5,
        log_limit_bytes: int = DEFAULT_LIMIT,
        tracing: bool = True,
    ) -> None:
        max_steps, lease_seconds = _checked_max_steps(max_steps), _checked_lease(lease_seconds)
        if isinstance(runnable, Dispatcher):
            dispatcher, runnable = runnable, None
        if database_url is not None and not history:
            raise ValueError("history=False keeps no history: leave database_url out")
        chosen_alerts, limit = alert_statuses(alert_on), _checked_recovery_limit(recovery_limit)
        executor_, own_executor = _executor(executor, runnable)
        clock_ = clock or SYSTEM_CLOCK
        self._settings = RunSettings(
            clock=clock_,
            dispatcher=dispatcher or Dispatcher(),
            executor=executor_,
            workflows=workflows if workflows is not None else default_workflow_registry,
            foreign_runnable=runnable,
            dry_run=dry_run,
            max_steps=max_steps,
            lease_seconds=lease_seconds,
            block_on_waits=block_on_waits,
            on_step=on_step,
            alert_on=chosen_alerts,
            ui_url=ui_url,
            alerts=alerts,
            recovery_limit=limit,
            log_limit_bytes=_checked_log_limit(log_limit_bytes),
            tracing=bool(tracing),
        )
        url = (database_url or os.environ.get("SPINE_DATABASE_URL")) if history else None
        owned: HistoryStore | None = None
        if store is None and url:
            from spine.store import open_store  # the SQL layer loads only when asked for

            store = owned = open_store(url)
        owner = Owner.for_this_process()
        leases = LeaseKeeper(store, owner, clock_, lease_seconds / 3) if store else None
        self._runs = Runs(self._settings, store, owner, leases, _remote_items)
        if store is not None and tracing and "opentelemetry.metrics" in sys.modules:
            # An application that set up metrics before it made the runner gets the
            # queue depth of its database even if this runner only submits runs.
            telemetry = self._runs.telemetry()
            if telemetry is not None:
                telemetry.current()
        self.queue = RunQueue(self._runs)
        """The run queue: submit, claim, recover, cancel."""
        # A runner dropped without close() still stops its lease thread and closes the
        # database it opened (a store passed in belongs to the caller).
        self._closer = weakref.finalize(
            self, _shut_down, self._runs.closed, leases, owned, executor_ if own_executor else None
        )

    @property
    def store(self) -> HistoryStore | None:
        """The run history (``None``: no history)."""
        return self._runs.store

    @property
    def owner(self) -> Owner:
        """Who this runner's leases name: this runner, in this process, on this host."""
        return self._runs.owner

    @property
    def runnable(self) -> Runnable:
        """What runs pipeline steps (spine-core's name for it)."""
        return self.foreign_runnable if self.foreign_runnable is not None else self.dispatcher

    def close(self) -> None:
        """Stop renewing leases and close the history database the runner opened.

        A closed runner cannot run durable workflows any more.
        """
        self._closer()

    def __enter__(self) -> WorkflowRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- running ------------------------------------------------------------------

    def execute(
        self,
        workflow: Workflow,
        params: Mapping[str, Any] | None = None,
        partition: Mapping[str, Any] | None = None,
        context: WorkflowContext | None = None,
        start_from: str | None = None,
        *,
        idempotency_key: str | None = None,
        triggered_by: str = "manual",
    ) -> WorkflowResult:
        """Run ``workflow`` and return its result.

        With ``context`` (a saved ``WorkflowContext``) the run keeps that context's
        run id, params and outputs; ``start_from`` names the first step to execute,
        so steps before it are not run again. With ``idempotency_key`` (needs history)
        there is one run per key and workflow: when another run holds the key, its
        result is returned as stored, whatever its status, and nothing is executed
        (resume it to run a failed one again). ``triggered_by`` is recorded with the
        run (``manual``, ``backfill``...).
        """
        plan = plan_for(workflow)
        check_request(workflow, idempotency_key)
        start = 0
        if start_from is not None:
            found = plan.index.get(start_from)
            if found is None:
                raise WorkflowValidationError(
                    f"workflow {workflow.name!r}: Start step not found: "
                    f"start_from={start_from!r} names no step (steps: "
                    f"{', '.join(s.name for s in plan.steps) or 'none'})",
                    workflow=workflow.name,
                    step=start_from,
                )
            start = found
        ctx = initial_context(self._settings, workflow, params, partition, context)
        if context is not None and self.store is not None:
            self._refuse_stored(ctx.run_id, workflow)
        state = RunState.start(plan, ctx, start)
        return self._runs.start(workflow, state, idempotency_key, triggered_by)

    def _refuse_stored(self, run_id: str, workflow: Workflow) -> None:
        """A saved context whose run already has history is continued by resume()."""
        if self.store is None:
            return
        try:
            self.store.load_run(run_id)
        except RunNotFoundError:
            return
        raise WorkflowError(
            f"run {run_id!r} of workflow {workflow.name!r} already has history; continue it "
            f"with resume({run_id!r}) rather than execute(context=...)",
            workflow=workflow.name,
        )

    def submit(
        self,
        workflow: Workflow,
        params: Mapping[str, Any] | None = None,
        partition: Mapping[str, Any] | None = None,
        *,
        triggered_by: str = "manual",
        idempotency_key: str | None = None,
        priority: int = 0,
    ) -> str:
        """Store a ``PENDING`` run of a registered workflow and return its id at once.

        A runner's :meth:`recover` (and ``spine worker``) executes it; the workflow
        must be registered (``register_workflow``) so that they can find it by name.
        With ``idempotency_key``, one run per key and workflow, whatever the number of
        callers: when another run holds the key, its id is returned and nothing is
        stored. Workers claim runs of a higher ``priority`` first, oldest first within
        one.
        """
        return self.queue.submit(workflow, params, partition, triggered_by=triggered_by,
                                 idempotency_key=idempotency_key, priority=priority)  # fmt: skip

    def run_pending(self, limit: int = 1) -> list[WorkflowResult]:
        """Claim up to ``limit`` submitted runs of workflows this runner knows, oldest
        first, and execute them. Workers call this in a loop."""
        return self.queue.run_pending(limit)

    def recover(self) -> list[WorkflowResult]:
        """Run every submitted (``PENDING``) run, resume every run whose owner is gone,
        and every waiting run that is due.

        With ``block_on_waits`` (the default) waiting runs are resumed at once and
        sleep until their deadline; otherwise only those already due are. Runs of
        workflows this runner cannot find are left for a runner that can.
        """
        return self.queue.recover()

    def resume(
        self, run_id: str, workflow: Workflow | None = None, *, force: bool = False
    ) -> WorkflowResult:
        """Continue a stored run from where it stopped, without re-running completed steps.

        ``workflow`` defaults to the registered workflow of the run's name. A run whose
        owner is alive is refused (:class:`~spine.core.errors.RunOwnedError`); a
        workflow whose steps changed since the run started is refused
        (:class:`~spine.core.errors.DefinitionMismatchError`) unless ``force``. A
        completed run is left as it is: the result says so and nothing runs.
        """
        return self._runs.resume(run_id, workflow, force=force)

    def backfill(
        self,
        workflow: Workflow,
        partitions: Iterable[Mapping[str, Any]] | Mapping[str, str | Sequence[Any]],
        params: Mapping[str, Any] | None = None,
        *,
        concurrency: int = 1,
        force: bool = False,
        queue: bool = False,
        on_run: Callable[[WorkflowResult], None] | None = None,
    ) -> Backfill:
        """One run of ``workflow`` per partition, ``concurrency`` at a time, and what
        became of each (:class:`~spine.orchestration.backfill.Backfill`).

        ``partitions`` is a list of partition mappings, or one mapping of ranges to
        expand (``{"day": "2026-01-01..2026-01-31", "region": "eu,us"}``: inclusive
        ranges of ISO dates or integers, comma lists; several keys give their product).
        Partitions are matched by their canonical JSON: one whose latest run is
        ``COMPLETED``, ``PENDING``, ``RUNNING`` or ``WAITING`` is skipped (``force``
        runs it again), so repeating a backfill runs only what failed or never ran.
        ``queue`` submits the runs for workers and returns at once; ``on_run`` is called
        as each run ends. Needs history.
        """
        from spine.orchestration.backfill import backfill, expand

        if isinstance(partitions, Mapping):
            partitions = expand(partitions)
        return backfill(self, workflow, partitions, params=params, concurrency=concurrency,
                        force=force, queue=queue, on_run=on_run)  # fmt: skip

    def fork(
        self,
        run_id: str,
        from_step: str,
        params: Mapping[str, Any] | None = None,
        *,
        workflow: Workflow | None = None,
        force: bool = False,
    ) -> WorkflowResult:
        """Execute a new run that reuses stored run ``run_id``'s recorded outputs of the
        steps before ``from_step`` on the path it took, and executes from ``from_step``
        on, with ``params`` merged over the original's (its partition kept).

        The new run records ``forked_from=run_id`` and is resumed, listed and pruned as
        any run; the original is only read. ``from_step`` must be a step the original
        executed, or the workflow's first step
        (:class:`~spine.core.errors.WorkflowValidationError` naming ``from_step``);
        ``workflow`` and ``force`` are as for :meth:`resume`.
        """
        return execute_fork(self._runs, run_id, from_step, params, workflow, force=force)

    def submit_fork(
        self,
        run_id: str,
        from_step: str,
        params: Mapping[str, Any] | None = None,
        *,
        workflow: Workflow | None = None,
        force: bool = False,
        triggered_by: str = "manual",
    ) -> str:
        """:meth:`fork`, queued: store the fork ``PENDING`` (its copied rows with it) and
        return its id at once; a worker that knows the workflow (registered by name, as
        for :meth:`submit`) claims it and executes it from ``from_step``."""
        return queue_fork(self._runs, run_id, from_step, params, workflow, force=force,
                          triggered_by=triggered_by)  # fmt: skip

    def cancel(self, run_id: str) -> str:
        """Cancel a stored run. Returns ``"cancelled"`` (nothing executed it: it was
        ``PENDING``, or ``WAITING`` without an owner, and is ``CANCELLED`` now),
        ``"requested"`` (a runner executes it: no further step starts, nor map item
        once its map's next look at the run is due, at most 10 ms later; it ends
        ``CANCELLED`` once the steps in flight finish), or the status of a run that had
        already ended. A map item's run is refused (``RunIsMapItemError``: cancel its
        map's run). ``resume`` continues a cancelled run."""
        return self.queue.cancel(run_id)

    def signal(
        self, run_id: str, signal_name: str, payload: Mapping[str, Any] | None = None
    ) -> None:
        """Send the signal ``signal_name`` to a stored run: the step awaiting it (now or
        later) completes with ``payload`` as its output, and a run waiting for it is
        due at once (a blocking runner sees it within a second; a suspended run goes on
        at the next ``recover()`` or ``spine worker`` look). ``RunNotFoundError`` for
        an unknown run, ``RunEndedError`` for one that has ended."""
        self.queue.signal(run_id, signal_name, payload if payload is not None else {})


def _remote_items() -> RemoteItems:
    from spine.orchestration.engine.remote_items import run_items  # remote maps only

    return run_items


def _checked_log_limit(limit: object) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"log_limit_bytes must be an integer >= 0, got {limit!r}")
    return limit


def _checked_max_steps(max_steps: object) -> int:
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
    return max_steps


def _checked_recovery_limit(limit: object) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"recovery_limit must be an integer >= 1, got {limit!r}")
    return limit


def _checked_lease(lease_seconds: object) -> float:
    if not isinstance(lease_seconds, int | float) or lease_seconds <= 0:
        raise ValueError(f"lease_seconds must be a number > 0, got {lease_seconds!r}")
    return float(lease_seconds)


def _executor(spec: Executor | str | None, runnable: Runnable | None) -> tuple[Executor, bool]:
    """The executor ``spec`` names, and whether the runner owns it."""
    executor, own = executor_for(spec)
    if runnable is not None and executor.remote:
        if own:
            executor.close()
        raise ValueError(
            f"runnable runs pipeline steps in this process; it cannot be combined with "
            f"{executor.describe()}, whose processes run pipelines from the registry"
        )
    return executor, own


def _shut_down(
    closed: threading.Event,
    leases: LeaseKeeper | None,
    store: HistoryStore | None,
    executor: Executor | None,
) -> None:
    closed.set()
    # The executor first: work it still runs may write to the store.
    if executor is not None:
        executor.close()
    if leases is not None:
        leases.close()
    if store is not None:
        store.close()


def get_workflow_runner(runnable: Runnable | None = None, dry_run: bool = False) -> WorkflowRunner:
    """A new runner (spine-core's factory)."""
    return WorkflowRunner(runnable, dry_run=dry_run)


__all__ = [
    "StepExecution",
    "StepResult",
    "WorkflowResult",
    "WorkflowRunner",
    "WorkflowStatus",
    "get_workflow_runner",
]
