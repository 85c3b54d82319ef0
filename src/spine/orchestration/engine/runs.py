"""Runs started, resumed and held: the step loop under a lease, with its journal.

:class:`Runs` starts a run (its row stored first), resumes a stored one (replayed
from its rows), and runs the items of map steps (as :class:`ChildRuns`), each held
under this process's lease while it executes. Without a store the same runs execute
with no history.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from spine.core.errors import (
    DefinitionMismatchError,
    LeaseLostError,
    RunOwnedError,
    WorkflowError,
)
from spine.core.records import (
    ItemRecord,
    ItemRows,
    Lease,
    NextClaim,
    Owner,
    RunRecord,
    StepRecord,
    StoredRun,
)
from spine.core.status import ErrorCategory, WorkflowStatus
from spine.execution.capture import begin as begin_attempt
from spine.execution.capture import end as end_attempt
from spine.execution.capture import install as install_capture
from spine.orchestration.engine import queue_gauge
from spine.orchestration.engine import telemetry as otel
from spine.orchestration.engine.alerting import alert_run
from spine.orchestration.engine.journal import (
    ItemCapture,
    Journal,
    check_definition,
    definition_hash,
    json_ready,
)
from spine.orchestration.engine.kinds.items import item_result, still_running
from spine.orchestration.engine.loop import run_steps
from spine.orchestration.engine.services import ClockSleeper, DurableSleeper, Services
from spine.orchestration.engine.state import RunState, replay, stored_result, utc
from spine.orchestration.engine.telemetry import Telemetry, Tracing, tracing_available
from spine.orchestration.flow import Plan, plan_for
from spine.orchestration.leases import LeaseKeeper, held_here, owner_gone
from spine.orchestration.results import WorkflowResult
from spine.orchestration.workflow_context import WorkflowContext

if TYPE_CHECKING:
    from spine.execution.context import ExecutionContext
    from spine.orchestration.engine.settings import RunSettings
    from spine.orchestration.history import HistoryStore
    from spine.orchestration.workflow import Workflow

logger = logging.getLogger("spine.orchestration")


class _KeyTaken(Exception):
    """A new run's idempotency key is held by run ``run_id``: nothing is executed."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id


RemoteItems = Callable[..., Any]
"""The function a remote map sends to other processes to run its items."""


def initial_context(
    settings: RunSettings,
    workflow: Workflow,
    params: Mapping[str, Any] | None,
    partition: Mapping[str, Any] | None,
    context: WorkflowContext | None,
) -> WorkflowContext:
    """A new run's context: the workflow's defaults under ``params``; or a saved
    ``context`` carried on (its run id, params and outputs kept)."""
    defaults = workflow.defaults
    if context is None:
        merged = {**defaults, **params} if defaults and params else params or defaults
        return WorkflowContext.create(
            workflow.name,
            params=merged,
            partition=partition,
            dry_run=settings.dry_run,
            started_at=utc(settings.clock.time()),
        )
    missing = {k: v for k, v in defaults.items() if k not in context.params}
    if missing or params:
        context = context.with_params({**missing, **(params or {})})
    if context.is_dry_run != settings.dry_run:
        context = context.with_metadata({"dry_run": settings.dry_run})
    if (partition is not None and partition != context.partition) or not context.workflow_name:
        context = context.rebased(
            workflow_name=context.workflow_name or workflow.name,
            partition=context.partition if partition is None else partition,
        )
    return context


class Runs:
    """Executes runs for a runner: new, resumed, claimed from the queue, map items."""

    def __init__(
        self,
        settings: RunSettings,
        store: HistoryStore | None,
        owner: Owner,
        leases: LeaseKeeper | None,
        remote_items: Callable[[], RemoteItems],
    ) -> None:
        self.settings = settings
        self.store = store
        self.owner = owner
        self.leases = leases
        self._remote_items = remote_items
        self.closed = threading.Event()
        """Set when the runner closes (its finalizer holds only this, never the runs)."""
        self._services: tuple[int, float, Services] | None = None
        """The services of runs without history: for which settings, until when."""
        self._telemetry: Telemetry | None = None

    # -- services -------------------------------------------------------------------

    def services(self) -> Services:
        """The services of a run without history (rebuilt after the settings change, or
        the OpenTelemetry providers configured: looked up again after a while)."""
        settings = self.settings
        version = settings.version
        cached = self._services  # one read: map items on other threads may rebuild it
        if cached is not None and cached[0] == version and time.monotonic() < cached[1]:
            return cached[2]
        tracing = self._tracing()
        until = math.inf
        if settings.tracing and self._telemetry is not None:
            until = time.monotonic() + otel.LOOK_AGAIN_SECONDS
        if cached is not None and cached[0] == version and cached[2].tracing is tracing:
            services = cached[2]
        else:
            clock = settings.clock
            services = Services(
                clock, settings.dispatcher, settings.foreign_runnable, settings.executor, self,
                ClockSleeper(clock), None, settings.dry_run, settings.max_steps, settings.on_step,
                settings.log_limit_bytes, tracing,
            )  # fmt: skip
        self._services = (version, until, services)
        return services

    def _tracing(self) -> Tracing | None:
        """What runs record into now: ``None`` with tracing off, without the OpenTelemetry
        API, or while no provider is configured."""
        if not self.settings.tracing:
            return None
        telemetry = self._telemetry or self.telemetry()
        return None if telemetry is None else telemetry.current()

    def telemetry(self) -> Telemetry | None:
        """The runner's telemetry, made when first needed (``None`` without the API);
        with history, the queue depth gauge reports its store from then on."""
        if self._telemetry is None and tracing_available():
            self._telemetry = Telemetry()
            if self.store is not None:
                queue_gauge.watch(self)
        return self._telemetry

    def _durable(self, journal: Journal, state: RunState) -> Services:
        base = self.services()
        block = self.settings.block_on_waits if state.block is None else state.block
        sleeper = DurableSleeper(journal, base.clock, block, state.wait_until)
        return Services(
            base.clock, base.dispatcher, base.runnable, base.executor, self, sleeper, journal,
            base.dry_run, base.max_steps, base.on_step, base.log_limit, base.tracing,
        )  # fmt: skip

    # -- runs -----------------------------------------------------------------------

    def new_record(
        self, workflow: Workflow, plan: Plan, ctx: WorkflowContext, status: str, **fields: Any
    ) -> RunRecord:
        """The row of a run this runner starts or submits (or of a map item, whose
        ``params`` field says which of its params the row keeps)."""
        if "params" not in fields:  # (not setdefault: an item's full params can be large)
            fields["params"] = json_ready(ctx.params)
        fields.setdefault("first_step", plan.steps[0].name if plan.steps else None)
        return RunRecord(
            run_id=ctx.run_id,
            workflow_name=workflow.name,
            status=status,
            started_at=ctx.started_at.timestamp(),
            partition=json_ready(ctx.partition),
            workflow_version=workflow.version,
            definition_hash=definition_hash(plan),
            dry_run=self.settings.dry_run,
            total_steps=len(plan.steps),
            source=self.settings.source,
            **fields,
        )

    def start(
        self,
        workflow: Workflow,
        state: RunState,
        idempotency_key: str | None = None,
        triggered_by: str = "manual",
    ) -> WorkflowResult:
        """Run a new run from ``state``, its row stored first when there is history;
        with ``idempotency_key`` held by another run of the workflow, that run's result
        (nothing is executed)."""
        store = self.store
        if store is None:
            if idempotency_key is not None:
                self.require_store("an idempotency_key")
            return self.run(workflow, state, None)
        record = self.new_record(
            workflow,
            state.plan,
            state.ctx,
            WorkflowStatus.RUNNING,
            owner=self.owner,
            heartbeat_at=self.settings.clock.time(),
            first_step=state.step_name(),
            # A dry run neither takes a key nor answers with the run holding it.
            idempotency_key=None if self.settings.dry_run else idempotency_key,
            triggered_by=triggered_by,
        )
        try:
            return self.held(workflow, state, store, self.creating(store, record), clear=True)
        except _KeyTaken as taken:
            stored = store.load_run(taken.run_id)
            result = self._as_stored(stored, state.plan, None)
            result.note = (f"run {taken.run_id} already holds idempotency key "
                           f"{idempotency_key!r}; nothing was executed")  # fmt: skip
            return result

    def creating(
        self, store: HistoryStore, record: RunRecord, rows: Sequence[StepRecord] = ()
    ) -> Callable[[], Lease]:
        """What takes a new run held by this runner: storing its row, with ``rows`` (a
        fork's copied steps) in the same transaction."""

        def create() -> Lease:
            stored_as = store.create_run(record, rows)
            if stored_as != record.run_id:
                raise _KeyTaken(stored_as)
            return Lease(self.owner.owner_id, record.lease_epoch)

        return create

    def resume(
        self,
        run_id: str,
        workflow: Workflow | None,
        *,
        force: bool = False,
        item_of: Mapping[str, Any] | None = None,
    ) -> WorkflowResult:
        """Continue a stored run (see ``WorkflowRunner.resume``); ``item_of``: the run
        is a map item, and these are its map's params."""
        store = self.require_store("resume")
        stored = store.load_run(run_id)
        run = stored.run
        if run.parent_run_id is not None and item_of is None:
            # Its row keeps only the params the item adds; the map's lie with its run.
            raise WorkflowError(
                f"run {run_id!r} is item {run.item_index} of map step "
                f"{(run.parent_step or '').split('#')[0]!r} in run {run.parent_run_id!r}; "
                f"resume that run: its map continues the items that did not complete",
                workflow=run.workflow_name,
            )
        workflow = self.workflow_of(run, workflow)
        plan = plan_for(workflow)
        if run.status == WorkflowStatus.COMPLETED:
            return self._completed(stored, plan, item_of)
        self.same_kind(run, workflow, "resume")
        if not force:
            check_definition(stored, workflow, plan)
        now = self.settings.clock.time()
        executing = run.status in (WorkflowStatus.RUNNING, WorkflowStatus.WAITING)
        lease = self.settings.lease_seconds
        if executing and run.owner is not None and not owner_gone(run, now, lease):
            raise RunOwnedError(run_id, workflow.name, run.owner.describe())
        state = replay(stored, plan, item_of)
        if item_of is not None:
            state.block = True  # an item's map step waits for it
        # An owner that died while executing: count the takeover (once claimed, so two
        # recoverers never both count it) and stop a run that keeps killing its workers.
        # (Not a run sleeping through a wait or a retry delay: its owner died between
        # steps, not of one.)
        crashed = run.status == WorkflowStatus.RUNNING and run.owner is not None
        crashed = crashed and run.wake_at is None

        def take() -> Lease | None:
            lease = store.claim(run, self.owner, now)
            if lease is not None and crashed:
                self._count_takeover(workflow, state, store)
            return lease

        # A run that had ended counts the time it executed, not the time it lay ended:
        # its duration goes on from what it was. (A crashed or waiting run's, from its start.)
        since = run.started_at if executing else now - (run.duration or 0.0)
        return self.held(workflow, state, store, take, since=since)

    def same_kind(self, run: RunRecord, workflow: Workflow, verb: str) -> None:
        """Refuse to ``verb`` a dry run with a real runner, or the other way round: a dry
        run's outputs are placeholders, which a real run must not build on."""
        if run.dry_run != self.settings.dry_run:
            kind = "a dry run" if run.dry_run else "a real run"
            raise WorkflowError(
                f"run {run.run_id!r} of workflow {workflow.name!r} is {kind}; {verb} it with "
                f"WorkflowRunner(dry_run={run.dry_run})",
                workflow=workflow.name,
            )

    def _count_takeover(self, workflow: Workflow, state: RunState, store: HistoryStore) -> None:
        run_id = state.ctx.run_id
        count = store.record_takeover(run_id, self.owner, state.step_order)
        limit = workflow.recovery_limit or self.settings.recovery_limit
        name = state.step_name()
        if count < limit:
            logger.warning("run %s of %r: its owner died at step %r (%d of %d times in a row)",
                           run_id, workflow.name, name, count, limit)  # fmt: skip
            return
        state.stop(
            name,
            f"workflow {workflow.name!r}, step {name!r}: the process executing it died "
            f"{count} times in a row (recovery limit {limit}); the run is stopped so that it "
            "takes no more workers down. Fix the step, then resume the run",
            ErrorCategory.WORKER_LOST.value,
            WorkflowStatus.FAILED,
        )

    def _completed(
        self, stored: StoredRun, plan: Plan, item_of: Mapping[str, Any] | None
    ) -> WorkflowResult:
        """A completed run, left as it is: its result says so."""
        run = stored.run
        logger.info("run %s of %r has already completed; nothing to resume", run.run_id,
                    run.workflow_name)  # fmt: skip
        result = self._as_stored(stored, plan, item_of)
        result.note = f"run {run.run_id} had already completed; nothing was executed"
        return result

    def _as_stored(
        self, stored: StoredRun, plan: Plan, item_of: Mapping[str, Any] | None
    ) -> WorkflowResult:
        """A stored run's result as its rows tell it (nothing executed)."""
        state = replay(stored, plan, item_of)
        return stored_result(stored.run, state.ctx, state.executions)

    def run_claimed(
        self, run: RunRecord, *, at_once: bool = False, then: NextClaim | None = None
    ) -> WorkflowResult | None:
        """Execute a submitted run this process claimed (``None``: given back);
        ``at_once``: right after the claim, which saw it not asked to stop; ``then``: the
        claim of the next runs to make with its end."""
        store = self.require_store("run_pending")
        lease = Lease(self.owner.owner_id, run.lease_epoch)  # (a claim keeps the epoch)
        try:
            workflow = self.workflow_of(run, None)
        except WorkflowError as exc:
            # Its version is not registered here: give it back for a runner that has it.
            logger.error("run %s left pending: %s", run.run_id, exc)
            store.release(run.run_id, lease, WorkflowStatus.PENDING)
            return None
        plan = plan_for(workflow)
        fresh = StoredRun(run=run, steps=[])
        since = None
        if not run.lease_epoch and run.forked_from is None:
            state = replay(fresh, plan)
        else:
            # Its duration goes on from what it was when it ended, as a resume's does.
            since = run.started_at - (run.duration or 0.0)
            # Resumed through the queue (``requeue`` raised its epoch; a submitted run's
            # is 0) or a fork (its copied rows): it continues from its stored steps, as
            # ``resume`` continues it.
            stored = StoredRun(run=run, steps=store.load_run(run.run_id).steps)
            try:
                check_definition(stored, workflow, plan)
                state = replay(stored, plan)
            except DefinitionMismatchError as exc:
                # The workflow changed since: the run ends saying so rather than
                # continue with steps that are not the ones it ran.
                state = replay(fresh, plan)
                state.stop(state.step_name(), str(exc), ErrorCategory.CONFIGURATION.value,
                           WorkflowStatus.FAILED)  # fmt: skip
        state.fresh = not run.lease_epoch  # submitted (or forked) and never run before
        return self.held(
            workflow, state, store, lambda: lease, clear=at_once, since=since, then=then
        )

    def workflow_of(self, run: RunRecord, workflow: Workflow | None) -> Workflow:
        if workflow is not None:
            return workflow
        # The version the run started with, when it is still registered.
        registry = self.settings.workflows
        found = registry.get(run.workflow_name)
        if found.version != run.workflow_version:
            found = registry.get(run.workflow_name, run.workflow_version)
        return found

    def require_store(self, action: str) -> HistoryStore:
        if self.store is None:
            raise WorkflowError(
                f"{action} needs run history: create the runner with "
                "WorkflowRunner(database_url=...) or set SPINE_DATABASE_URL"
            )
        return self.store

    def held(
        self,
        workflow: Workflow,
        state: RunState,
        store: HistoryStore,
        take: Callable[[], Lease | None],
        *,
        clear: bool = False,
        since: float | None = None,
        then: NextClaim | None = None,
    ) -> WorkflowResult:
        """Hold the run's lease in this process, take the row with ``take``, then run.

        The run counts as held here before its row names this process as owner, so
        another thread's recover() never sees a row of ours that nobody here holds.
        ``clear``: the row was just stored or claimed unasked to stop, so the first
        step need not read the flag (any other run's is read before its first step).
        ``since``: what the run's duration counts from (default: its start). ``then``:
        the claim of a worker's next runs, made with the run's end (see ``Journal``).
        """
        if self.closed.is_set():
            raise WorkflowError("this WorkflowRunner is closed; create a new one")
        leases = self.leases
        run_id = state.ctx.run_id
        if leases is not None:
            leases.hold(run_id)
        try:
            lease = take()
            if lease is None:
                raise RunOwnedError(run_id, workflow.name, "another process that claimed it first")
            journal = Journal(store, run_id, workflow.name, state.plan, clear=clear, lease=lease,
                              since=since, then=then)  # fmt: skip
            try:
                return self.run(workflow, state, journal)
            except LeaseLostError as exc:
                # Frozen or cut off past its lease: another process continues the run.
                logger.warning("run %s of %r: %s", run_id, workflow.name, exc)
                result = state.unfinished(workflow.name, WorkflowStatus.RUNNING)
                result.note = str(exc)
                return result
        finally:
            if leases is not None:
                leases.drop(run_id)

    def run(self, workflow: Workflow, state: RunState, journal: Journal | None) -> WorkflowResult:
        """The step loop over ``state``; a run that must wait gives its lease back."""
        services = self.services() if journal is None else self._durable(journal, state)
        install_capture()  # again per run: a test harness may have swapped sys.stdout since
        # A map item's loop is not its map step's attempt: only its own steps' output is
        # theirs (progress printed between them goes to the terminal).
        outside = begin_attempt(None)
        tracing = services.tracing
        try:
            if tracing is None:
                result = run_steps(services, workflow, state)
            else:
                result = tracing.run(
                    lambda: run_steps(services, workflow, state),
                    workflow.name,
                    state.ctx.run_id,
                    state.fresh,
                )
        finally:
            end_attempt(outside)
        if journal is not None and journal.lease and result.status == WorkflowStatus.WAITING:
            run_id = journal.run_id
            journal.store.release(run_id, journal.lease)
            # (Released: no owner to check the flag against any more.)
            if self.store is not None and self.store.cancel_requested(run_id):
                # Asked to stop as it began to wait: idle now, so the cancel ends it
                # at once rather than when the wait is due.
                self.store.cancel(run_id, self.settings.clock.time())
                return stored_result(self.store.load_run(run_id).run, state.ctx, state.executions)
            return result
        # Map items (which always block) report through their map.
        if not state.block and (workflow.alert_on or self.settings.alert_on):
            alert_run(self.settings, workflow, result, self.store)
        return result

    # -- map items (ChildRuns) ------------------------------------------------------

    @property
    def run_elsewhere(self) -> RemoteItems:
        """What runs a chunk of a remote map's items in another process (loaded only
        when a map is sent elsewhere: most runs never need it)."""
        return self._remote_items()

    def earlier(
        self, parent_run_id: str, key: str, index: int | None = None
    ) -> dict[int, RunRecord]:
        if self.store is None:
            return {}
        return {
            r.item_index: r
            for r in self.store.child_runs(parent_run_id, key, index)
            if r.item_index is not None
        }

    @property
    def recorded(self) -> bool:
        return self.store is not None

    def run_item(self, workflow: Workflow, ctx: WorkflowContext) -> WorkflowResult:
        """Run one map item without history; items always sleep through their waits
        (their map step waits for them)."""
        return self.run(workflow, RunState(plan_for(workflow), ctx, block=True, fresh=True), None)

    def run_captured(
        self, workflow: Workflow, ctx: WorkflowContext
    ) -> tuple[WorkflowResult, ItemCapture]:
        """Run one new map item here with its rows captured, not stored (its map stores
        them with others'). A map inside it runs its items without history, as a map
        inside a remote item does: they are recorded in its output only."""
        plan = plan_for(workflow)
        capture = ItemCapture()
        journal = Journal(capture, ctx.run_id, workflow.name, plan)
        state = RunState(plan, ctx, block=True, fresh=True)
        return self._unrecorded.run(workflow, state, journal), capture

    @cached_property
    def _unrecorded(self) -> Runs:
        """These runs' twin without a store, which runs captured items."""
        return Runs(self.settings, None, self.owner, None, self._remote_items)

    def item_record(
        self,
        workflow: Workflow,
        plan: Plan,
        ctx: WorkflowContext,
        parent: ExecutionContext,
        key: str,
        index: int,
        own_params: Mapping[str, Any],
    ) -> RunRecord:
        return self.new_record(
            workflow,
            plan,
            ctx,
            WorkflowStatus.RUNNING,
            params=json_ready(own_params),
            parent_run_id=parent.run_id,
            parent_step=key,
            item_index=index,
        )

    def continue_item(
        self, workflow: Workflow, record: RunRecord, base_params: Mapping[str, Any]
    ) -> WorkflowResult:
        if record.status != WorkflowStatus.COMPLETED and held_here(record.run_id):
            # An earlier attempt of its map step timed out and left it running here.
            record = still_running(record)
        elif record.status != WorkflowStatus.COMPLETED:
            return self.resume(record.run_id, workflow, force=True, item_of=base_params)
        return item_result(record, base_params)

    def load(self, run_id: str) -> StoredRun | None:
        return None if self.store is None else self.store.load_run(run_id)

    def rows(self, item: ItemRecord) -> ItemRows:
        return (item.new, (), ()) if self.store is None else self.store.item_rows(item)

    def save(
        self, parent_run_id: str, key: str, rows: Sequence[ItemRows], lease: Lease | None
    ) -> None:
        if self.store is not None:
            self.store.save_rows(parent_run_id, key, rows, lease)
