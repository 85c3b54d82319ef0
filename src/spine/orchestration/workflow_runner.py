"""``WorkflowRunner``: executes workflows, and with a database makes every run durable."""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from spine.core.clock import SYSTEM_CLOCK, Clock
from spine.core.errors import (
    RunNotFoundError,
    RunOwnedError,
    StoreError,
    WorkflowError,
    WorkflowValidationError,
)
from spine.core.frozen import freeze_dict
from spine.core.records import Owner, RunRecord, StoredRun
from spine.execution.executors import Executor, executor_for
from spine.execution.runnable import Runnable
from spine.framework.dispatcher import Dispatcher
from spine.orchestration.durable import (
    Journal,
    Resumption,
    check_definition,
    definition_hash,
    json_ready,
    rebuild,
    stored_result,
    utc,
)
from spine.orchestration.flow import Plan, plan_for
from spine.orchestration.history import HistoryStore
from spine.orchestration.leases import LeaseKeeper, owner_gone, recoverable_now
from spine.orchestration.registry import WorkflowRegistry, default_workflow_registry
from spine.orchestration.results import (
    StepExecution,
    StepStatus,
    WorkflowResult,
    WorkflowStatus,
)
from spine.orchestration.retry import RetryPolicy
from spine.orchestration.step_execution import StepExecutor
from spine.orchestration.step_result import ErrorCategory, StepResult
from spine.orchestration.step_types import ErrorPolicy, Step, StepType
from spine.orchestration.workflow import Workflow, alert_statuses
from spine.orchestration.workflow_context import WorkflowContext

if TYPE_CHECKING:
    from spine.execution.context import ExecutionContext
    from spine.framework.alerts import AlertRegistry

logger = logging.getLogger("spine.orchestration")

DEFAULT_MAX_STEPS = 10_000
DEFAULT_LEASE_SECONDS = 30.0
_DEFAULT_RETRY = RetryPolicy()


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
    """

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
    ) -> None:
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
        if not isinstance(lease_seconds, int | float) or lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be a number > 0, got {lease_seconds!r}")
        if isinstance(runnable, Dispatcher):
            dispatcher, runnable = runnable, None
        if database_url is not None and not history:
            raise ValueError("history=False keeps no history: leave database_url out")
        self.dry_run = dry_run
        self.max_steps = max_steps
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.dispatcher = dispatcher or Dispatcher()
        self.foreign_runnable = runnable
        """A spine-core ``Runnable`` that runs pipeline steps instead of the dispatcher."""
        self.workflows = workflows if workflows is not None else default_workflow_registry
        self.lease_seconds = float(lease_seconds)
        self.block_on_waits = block_on_waits
        self.on_step = on_step
        self.source: str | None = None
        """Recorded with each run this runner starts: where its workflow was loaded from."""
        self.alert_on = alert_statuses(alert_on)
        self.ui_url = ui_url
        self.alerts = alerts
        """Where run alerts go; ``None``: the default ``alert_registry``."""
        self.executor, own_executor = executor_for(executor)
        if runnable is not None and self.executor.remote:
            if own_executor:
                self.executor.close()
            raise ValueError(
                f"runnable runs pipeline steps in this process; it cannot be combined with "
                f"{self.executor.describe()}, whose processes run pipelines from the registry"
            )
        url = (database_url or os.environ.get("SPINE_DATABASE_URL")) if history else None
        owned: HistoryStore | None = None
        if store is None and url:
            from spine.store import open_store  # the SQL layer loads only when asked for

            store = owned = open_store(url)
        self.store = store
        self.owner = Owner.for_this_process()
        self._leases = (
            LeaseKeeper(store, self.owner, self.clock, self.lease_seconds / 3) if store else None
        )
        self._executor = StepExecutor(self)
        # A runner dropped without close() still stops its lease thread and closes the
        # database it opened (a store passed in belongs to the caller).
        self._closer = weakref.finalize(
            self, _shut_down, self._leases, owned, self.executor if own_executor else None
        )

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
    ) -> WorkflowResult:
        """Run ``workflow`` and return its result.

        With ``context`` (a saved ``WorkflowContext``) the run keeps that context's
        run id, params and outputs; ``start_from`` names the first step to execute,
        so steps before it are not run again.
        """
        plan = plan_for(workflow)
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
        ctx = self._initial_context(workflow, params, partition, context)
        if context is not None and self.store is not None:
            self._refuse_stored(ctx.run_id, workflow)
        return self._start(workflow, plan, Resumption(ctx=ctx, position=start))

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

    def _initial_context(
        self,
        workflow: Workflow,
        params: Mapping[str, Any] | None,
        partition: Mapping[str, Any] | None,
        context: WorkflowContext | None,
    ) -> WorkflowContext:
        defaults = workflow.defaults
        if context is None:
            merged = {**defaults, **params} if defaults and params else params or defaults
            return WorkflowContext.create(
                workflow.name,
                params=merged,
                partition=partition,
                dry_run=self.dry_run,
                started_at=utc(self.clock.time()),
            )
        missing = {k: v for k, v in defaults.items() if k not in context.params}
        if missing or params:
            context = context.with_params({**missing, **(params or {})})
        if context.is_dry_run != self.dry_run:
            context = context.with_metadata({"dry_run": self.dry_run})
        if (partition is not None and partition != context.partition) or not context.workflow_name:
            context = context.rebased(
                workflow_name=context.workflow_name or workflow.name,
                partition=context.partition if partition is None else partition,
            )
        return context

    def run_child(
        self,
        workflow: Workflow,
        context: WorkflowContext,
        parent: ExecutionContext,
        key: str,
        index: int,
        own_params: Mapping[str, Any],
    ) -> WorkflowResult:
        """Run one map item's workflow (used by map steps).

        Its row stores ``own_params``, the params the item adds to its map's (which
        ``context`` holds beneath them). Items always sleep through their waits: their
        map step waits for them.
        """
        plan = plan_for(workflow)
        state = Resumption(ctx=context, position=0, block=True)
        store = self.store
        if store is None:
            return self._run(workflow, plan, state, None)
        record = self.item_record(workflow, plan, context, parent, key, index, own_params)
        record.owner, record.heartbeat_at = self.owner, self.clock.time()
        return self._run_held(workflow, plan, state, store, lambda: store.create_run(record))

    def item_record(
        self,
        workflow: Workflow,
        plan: Plan,
        context: WorkflowContext,
        parent: ExecutionContext,
        key: str,
        index: int,
        own_params: Mapping[str, Any],
    ) -> RunRecord:
        """The row of a map item as it starts, with the params it adds to its map's."""
        return self._new_record(
            workflow,
            plan,
            context,
            WorkflowStatus.RUNNING,
            params=json_ready(own_params),
            parent_run_id=parent.run_id,
            parent_step=key,
            item_index=index,
        )

    def run_state(
        self, workflow: Workflow, plan: Plan, state: Resumption, journal: Journal | None
    ) -> WorkflowResult:
        """Run ``workflow`` from ``state``, journaling into ``journal`` (map items in
        another process journal into a capture their runner's process stores)."""
        return self._run(workflow, plan, state, journal)

    def submit(
        self,
        workflow: Workflow,
        params: Mapping[str, Any] | None = None,
        partition: Mapping[str, Any] | None = None,
        *,
        triggered_by: str = "manual",
    ) -> str:
        """Store a ``PENDING`` run of a registered workflow and return its id at once.

        A runner's :meth:`recover` (and ``spine worker``) executes it; the workflow
        must be registered (``register_workflow``) so that they can find it by name.
        """
        store = self._require_store("submit")
        if workflow.name not in self.workflows:
            raise WorkflowError(
                f"workflow {workflow.name!r} is not registered; register_workflow() it in "
                "a module the workers import (--app) so they can run what is submitted",
                workflow=workflow.name,
            )
        record = self.pending_record(workflow, params, partition, triggered_by=triggered_by)
        store.create_run(record)
        return record.run_id

    def pending_record(
        self,
        workflow: Workflow,
        params: Mapping[str, Any] | None = None,
        partition: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> RunRecord:
        """The ``PENDING`` row :meth:`submit` stores (``fields`` such as
        ``triggered_by`` and ``schedule_id`` set on it), not yet stored."""
        ctx = self._initial_context(workflow, params, partition, None)
        return self._new_record(workflow, plan_for(workflow), ctx, WorkflowStatus.PENDING, **fields)

    def _new_record(
        self,
        workflow: Workflow,
        plan: Plan,
        ctx: WorkflowContext,
        status: WorkflowStatus,
        **fields: Any,
    ) -> RunRecord:
        """The row of a run this runner starts or submits (or of a map item, whose
        ``params`` field says which of its params the row keeps)."""
        if "params" not in fields:  # (not setdefault: an item's full params can be large)
            fields["params"] = json_ready(ctx.params)
        return RunRecord(
            run_id=ctx.run_id,
            workflow_name=workflow.name,
            status=status,
            started_at=ctx.started_at.timestamp(),
            partition=json_ready(ctx.partition),
            workflow_version=workflow.version,
            definition_hash=definition_hash(plan),
            dry_run=self.dry_run,
            total_steps=len(plan.steps),
            source=self.source,
            **fields,
        )

    def map_items(self, parent_run_id: str, step_name: str) -> dict[int, RunRecord]:
        """Stored item runs of a map step, by item index (empty without history)."""
        if self.store is None:
            return {}
        return {
            r.item_index: r
            for r in self.store.child_runs(parent_run_id, step_name)
            if r.item_index is not None
        }

    def continue_item(
        self, workflow: Workflow, record: RunRecord, base_params: Mapping[str, Any]
    ) -> WorkflowResult:
        """A stored map item: its result if it completed, else the item resumed.

        ``base_params`` are its map's params, beneath those the item's row keeps.
        """
        if record.status != WorkflowStatus.COMPLETED:
            return self.resume(record.run_id, workflow, force=True, _item_of=base_params)
        return stored_result(record, WorkflowContext(
            run_id=record.run_id,
            workflow_name=record.workflow_name,
            params={**base_params, **record.params},
            outputs=record.outputs,
            partition=record.partition,
        ))  # fmt: skip

    def _start(self, workflow: Workflow, plan: Plan, state: Resumption) -> WorkflowResult:
        store = self.store
        if store is None:
            return self._run(workflow, plan, state, None)
        record = self._new_record(
            workflow,
            plan,
            state.ctx,
            WorkflowStatus.RUNNING,
            owner=self.owner,
            heartbeat_at=self.clock.time(),
        )
        return self._run_held(workflow, plan, state, store, lambda: store.create_run(record))

    def _run_held(
        self,
        workflow: Workflow,
        plan: Plan,
        state: Resumption,
        store: HistoryStore,
        take: Callable[[], object],
    ) -> WorkflowResult:
        """Hold the run's lease in this process, take the row with ``take``, then run.

        The run counts as held here before its row names this process as owner, so
        another thread's recover() never sees a row of ours that nobody here holds.
        """
        if not self._closer.alive:
            raise WorkflowError("this WorkflowRunner is closed; create a new one")
        leases = self._leases
        run_id = state.ctx.run_id
        if leases is not None:
            leases.hold(run_id)
        try:
            if take() is False:
                raise RunOwnedError(run_id, workflow.name, "another process that claimed it first")
            return self._run(workflow, plan, state, Journal(store, run_id, workflow.name, plan))
        finally:
            if leases is not None:
                leases.drop(run_id)

    # -- resuming -----------------------------------------------------------------

    def _require_store(self, action: str) -> HistoryStore:
        if self.store is None:
            raise WorkflowError(
                f"{action} needs run history: create the runner with "
                "WorkflowRunner(database_url=...) or set SPINE_DATABASE_URL"
            )
        return self.store

    def resume(
        self,
        run_id: str,
        workflow: Workflow | None = None,
        *,
        force: bool = False,
        _item_of: Mapping[str, Any] | None = None,
    ) -> WorkflowResult:
        """Continue a stored run from where it stopped, without re-running completed steps.

        ``workflow`` defaults to the registered workflow of the run's name. A run whose
        owner is alive is refused (:class:`~spine.core.errors.RunOwnedError`); a
        workflow whose steps changed since the run started is refused
        (:class:`~spine.core.errors.DefinitionMismatchError`) unless ``force``. A
        completed run is left as it is: the result says so and nothing runs.
        """
        store = self._require_store("resume")
        stored = store.load_run(run_id)
        run = stored.run
        if run.parent_run_id is not None and _item_of is None:
            # Its row keeps only the params the item adds; the map's lie with its run.
            raise WorkflowError(
                f"run {run_id!r} is item {run.item_index} of map step "
                f"{(run.parent_step or '').split('#')[0]!r} in run {run.parent_run_id!r}; "
                f"resume that run: its map continues the items that did not complete",
                workflow=run.workflow_name,
            )
        workflow = self._workflow_of(run, workflow)
        plan = plan_for(workflow)
        if run.status in (WorkflowStatus.COMPLETED, WorkflowStatus.CANCELLED):
            ended = "completed" if run.status == WorkflowStatus.COMPLETED else "been cancelled"
            logger.info("run %s of %r has already %s; nothing to resume", run_id, workflow.name,
                        ended)  # fmt: skip
            state = rebuild(stored, plan, _item_of)
            result = stored_result(run, state.ctx, state.executions)
            result.note = f"run {run_id} had already {ended}; nothing was executed"
            return result
        if run.dry_run != self.dry_run:
            kind = "a dry run" if run.dry_run else "a real run"
            raise WorkflowError(
                f"run {run_id!r} of workflow {workflow.name!r} is {kind}; resume it with "
                f"WorkflowRunner(dry_run={run.dry_run}) so it stays one",
                workflow=workflow.name,
            )
        if not force:
            check_definition(stored, workflow, plan)
        now = self.clock.time()
        executing = run.status in (WorkflowStatus.RUNNING, WorkflowStatus.WAITING)
        if executing and run.owner is not None and not owner_gone(run, now, self.lease_seconds):
            raise RunOwnedError(run_id, workflow.name, run.owner.describe())
        state = rebuild(stored, plan, _item_of)
        if _item_of is not None:
            state.block = True  # an item's map step waits for it
        return self._run_held(
            workflow, plan, state, store, lambda: store.claim(run, self.owner, now)
        )

    def _workflow_of(self, run: RunRecord, workflow: Workflow | None) -> Workflow:
        if workflow is not None:
            return workflow
        # The version the run started with, when it is still registered.
        found = self.workflows.get(run.workflow_name)
        if found.version != run.workflow_version:
            found = self.workflows.get(run.workflow_name, run.workflow_version)
        return found

    def run_pending(self, limit: int = 1) -> list[WorkflowResult]:
        """Claim up to ``limit`` submitted runs of workflows this runner knows, oldest
        first, and execute them. Workers call this in a loop."""
        store = self._require_store("run_pending")
        names = self.workflows.names()
        caps = {}
        for name in names:
            cap = getattr(self.workflows.get(name), "max_concurrent_runs", None)
            if cap is not None:
                caps[name] = cap
        claimed = store.claim_pending(self.owner, self.clock.time(), names, limit, caps)
        # Every claimed run is held here from now on, not only the one executing, so
        # that no recover() takes one waiting its turn in this batch for an orphan.
        leases = self._leases
        if leases is not None:
            for run in claimed:
                leases.hold(run.run_id)
        try:
            return [result for run in claimed if (result := self._run_claimed(store, run))]
        finally:
            if leases is not None:
                for run in claimed:
                    leases.drop(run.run_id)

    def _run_claimed(self, store: HistoryStore, run: RunRecord) -> WorkflowResult | None:
        run_id = run.run_id
        try:
            workflow = self._workflow_of(run, None)
        except WorkflowError as exc:
            # Its version is not registered here: give it back for a runner that has it.
            logger.error("run %s left pending: %s", run_id, exc)
            store.set_status(run_id, WorkflowStatus.PENDING)
            store.release(run_id, self.owner)
            return None
        plan = plan_for(workflow)
        state = rebuild(StoredRun(run=run, steps=[]), plan)
        return self._run_held(workflow, plan, state, store, lambda: True)

    def recover(self) -> list[WorkflowResult]:
        """Run every submitted (``PENDING``) run, resume every run whose owner is gone,
        and every waiting run that is due.

        With ``block_on_waits`` (the default) waiting runs are resumed at once and
        sleep until their deadline; otherwise only those already due are. Runs of
        workflows this runner cannot find are left for a runner that can.
        """
        store = self._require_store("recover")
        # Submitted runs go through the claim that honours concurrency limits.
        results = []
        while batch := self.run_pending(limit=16):
            results.extend(batch)
        for run in recoverable_now(store, self.clock.time(), self.lease_seconds,
                                   self.block_on_waits):  # fmt: skip
            if run.workflow_name not in self.workflows:
                logger.warning(
                    "run %s: workflow %r is not registered here; left for another runner",
                    run.run_id,
                    run.workflow_name,
                )
                continue
            try:
                result = self.resume(run.run_id)
            except RunOwnedError:
                continue  # another process took it between our read and our claim
            except (WorkflowError, StoreError) as exc:
                # One run that cannot be resumed must not stop the recovery of the rest.
                logger.error("run %s of %r not recovered: %s", run.run_id, run.workflow_name, exc)
                continue
            if result.note is None:  # not one another process finished meanwhile
                results.append(result)
        return results

    # -- the loop -----------------------------------------------------------------

    def _retry_policy(self, step: Step) -> RetryPolicy | None:
        if step.retry is not None:
            return step.retry
        return _DEFAULT_RETRY if step.on_error is ErrorPolicy.RETRY else None

    def _pause(self, journal: Journal | None, deadline: float, waiting: bool, block: bool) -> bool:
        """Wait until ``deadline``; with history, durably. False: suspend the run instead."""
        now = self.clock.time()
        if journal is not None:
            suspend = not block and deadline > now
            journal.store.set_status(
                journal.run_id,
                WorkflowStatus.WAITING if waiting or suspend else WorkflowStatus.RUNNING,
                wake_at=deadline,
            )
            if suspend:
                return False
        # The run stays WAITING until the wait step's row is committed (see _run): a
        # crash in between resumes at the deadline already passed, not a fresh wait.
        self.clock.sleep(deadline - now)
        return True

    def _run(
        self, workflow: Workflow, plan: Plan, state: Resumption, journal: Journal | None
    ) -> WorkflowResult:
        now = self.clock.time
        started = now()
        steps = plan.steps
        index = plan.index
        total = len(steps)
        ctx = state.ctx
        executions = state.executions
        record = executions.append
        run_step = self._executor.run
        name = workflow.name
        # Fences of the choices taken so far (see flow.py), and their union. A
        # resumed run starts with those of the choices its context already took.
        fences = plan.fences_taken(ctx.outputs)
        fenced: frozenset[str] = frozenset().union(*fences.values())
        status = state.status
        error_step, error, category = state.error_step, state.error, state.error_category
        budget = self.max_steps - state.steps_run
        position = total if state.position is None else state.position
        attempt = state.attempt
        order = state.step_order
        deadline = state.wake_at
        block = self.block_on_waits if state.block is None else state.block
        observe = self.on_step
        encoded = ("{}", "{}")
        while position < total:
            current = position
            step = steps[position]
            if journal is not None and journal.cancelled():
                status = WorkflowStatus.CANCELLED
                error_step, error = step.name, f"cancelled by request before step {step.name!r}"
                category = "CANCELLED"
                break
            if budget == 0:
                status = WorkflowStatus.FAILED
                error_step = step.name
                error = (
                    f"workflow {name!r} reached max_steps={self.max_steps} before step "
                    f"{step.name!r}; a choice loop that never exits? Raise "
                    "WorkflowRunner(max_steps=...) if the run really needs more steps"
                )
                category = ErrorCategory.CONFIGURATION.value
                break
            budget -= 1
            while True:
                # A retry delay, or a wait the run was already in when it was resumed.
                if deadline is not None and not self._pause(
                    journal, deadline, step.step_type is StepType.WAIT, block
                ):
                    return self._suspend(workflow, journal, ctx, executions)
                t0 = now()
                if journal is not None and step.step_type is StepType.WAIT and not self.dry_run:
                    if deadline is None:
                        wait = float(step.duration_seconds or 0)
                        if not self._pause(journal, t0 + wait, True, block):
                            return self._suspend(workflow, journal, ctx, executions)
                    result = StepResult.ok(output={"waited_seconds": step.duration_seconds})
                    children = None
                else:
                    result, children = run_step(name, step, ctx, attempt, order)
                deadline = None
                t1 = now()
                jump = result.next_step or step.next
                if jump is not None and jump not in index:
                    result = StepResult.fail(
                        f"workflow {name!r}, step {step.name!r}: next step {jump!r} "
                        "names no step of this workflow",
                        ErrorCategory.CONFIGURATION,
                    )
                if journal is not None:
                    result, *rest = journal.encode(step, result)
                    encoded = (rest[0], rest[1])
                if result.success:
                    break
                policy = self._retry_policy(step)
                if policy is None or not policy.should_retry(attempt, result.error_category):
                    break
                retried = StepExecution(
                    step.name, step.step_type, StepStatus.FAILED, t0, t1, result,
                    result.error, attempt, True, children,
                )  # fmt: skip
                record(retried)
                if observe is not None:
                    observe(ctx.run_id, retried)
                if journal is not None:
                    journal.write(position, step, order, retried, encoded, step.name)
                deadline = now() + policy.delay_seconds(attempt)
                attempt += 1
            if result.success:
                output = result.output = freeze_dict(result.output)
                ctx = ctx.with_step_result(step.name, output, result.context_updates)
                outcome = StepStatus.SKIPPED if result.skipped else StepStatus.COMPLETED
            else:
                if result.output:
                    ctx = ctx.with_output(step.name, result.output)
                outcome = StepStatus.FAILED
            execution = StepExecution(
                step.name, step.step_type, outcome, t0, t1, result, result.error, attempt,
                False, children,
            )  # fmt: skip
            record(execution)
            if observe is not None:
                observe(ctx.run_id, execution)
            stop = False
            if not result.success:
                if error_step is None or step.on_error is not ErrorPolicy.CONTINUE:
                    error_step, error, category = step.name, result.error, result.error_category
                if step.on_error is ErrorPolicy.CONTINUE:
                    status = WorkflowStatus.PARTIAL
                else:
                    status = WorkflowStatus.FAILED
                    stop = True
            if step.step_type is StepType.CHOICE:
                fence = plan.fences.get((step.name, result.output.get("branch", "")))
                if fence:
                    fences[step.name] = fence
                else:
                    fences.pop(step.name, None)
                fenced = frozenset().union(*fences.values())
            target = result.next_step or step.next
            if stop:
                position = total
            elif target is None:
                position += 1
                if fenced and position < total and steps[position].name in fenced:
                    position = total
            else:
                # Only a failed step whose next= names no step finds nothing here
                # (its failure says why): nothing valid follows it.
                position = index.get(target, total)
            if journal is not None:
                following = steps[position].name if position < total else None
                journal.write(current, step, order, execution, encoded, following)
                if step.step_type is StepType.WAIT and not self.dry_run:
                    journal.store.set_status(journal.run_id, WorkflowStatus.RUNNING)
            order += 1
            attempt = 1
        completed = now()
        result_ = WorkflowResult(
            workflow_name=name,
            run_id=ctx.run_id,
            status=status,
            context=ctx,
            started_at=ctx.started_at if journal is not None else utc(started),
            completed_at=utc(completed),
            step_executions=executions,
            error_step=error_step,
            error=error,
            error_category=category,
        )
        if journal is not None:
            journal.finish(result_, completed)
        if not state.block:  # map items (which always block) report through their map
            self._alert(workflow, result_)
        return result_

    def _alert(self, workflow: Workflow, result: WorkflowResult) -> None:
        """Send the run's alert if its status is one to alert on; never raises."""
        chosen = workflow.alert_on if workflow.alert_on is not None else self.alert_on
        if not chosen or str(result.status) not in chosen:
            return
        # Alerting loads only when a run is to alert: most scripts never do.
        from spine.framework.alerts import alert_registry, run_alert

        try:
            alert = run_alert(
                workflow.name,
                result.run_id,
                str(result.status),
                result.error_step,
                result.error,
                self.ui_url,
                domain=workflow.domain or None,
            )
            # The log shares the store's connections: nothing to close here.
            log = self.store.delivery_log() if self.store is not None else None
            registry = alert_registry if self.alerts is None else self.alerts
            registry.send_to_all(alert, log=log)
        except Exception:
            # The run has ended and is recorded: a broken channel, registry or log must
            # neither fail it nor hide its result from the caller.
            logger.exception(
                "run %s of %r ended %s, but its alert could not be sent",
                result.run_id,
                workflow.name,
                result.status,
            )

    def _suspend(
        self,
        workflow: Workflow,
        journal: Journal | None,
        ctx: WorkflowContext,
        executions: list[StepExecution],
    ) -> WorkflowResult:
        """End this execution of a run that must wait, leaving it ``WAITING``."""
        if journal is None:
            raise RuntimeError("only a run with history can be suspended")
        journal.store.release(journal.run_id, self.owner)
        return WorkflowResult(
            workflow_name=workflow.name,
            run_id=ctx.run_id,
            status=WorkflowStatus.WAITING,
            context=ctx,
            started_at=ctx.started_at,
            completed_at=None,
            step_executions=executions,
        )


def _shut_down(
    leases: LeaseKeeper | None, store: HistoryStore | None, executor: Executor | None
) -> None:
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
