"""The run queue: submitted runs stored ``PENDING``, claimed by workers, recovered
when their owner is gone, and cancelled.

Everything goes through the store's protocol; a claimed run executes through the
same :class:`~spine.orchestration.engine.runs.Runs` as any other.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from spine.core.errors import RunOwnedError, StoreError, WorkflowError, WorkflowValidationError
from spine.core.fields import unstorable, unstorable_int
from spine.core.records import NextClaim, signal_json
from spine.core.status import WorkflowStatus
from spine.orchestration.engine.runs import initial_context
from spine.orchestration.flow import plan_for
from spine.orchestration.leases import recoverable_now

if TYPE_CHECKING:
    from spine.core.records import RunRecord
    from spine.orchestration.engine.runs import Runs
    from spine.orchestration.results import WorkflowResult
    from spine.orchestration.workflow import Workflow

logger = logging.getLogger("spine.orchestration")


def check_request(workflow: Workflow, idempotency_key: object, priority: object = 0) -> None:
    """Refuse a key or priority the store could not keep as asked, naming the field."""
    problem = None
    if idempotency_key is not None:
        if not isinstance(idempotency_key, str) or not idempotency_key:
            problem = "idempotency_key", f"must be a non-empty string, got {idempotency_key!r}"
        elif (why := unstorable(idempotency_key)) is not None:
            problem = "idempotency_key", why
    if (why := unstorable_int(priority)) is not None:
        problem = "priority", why
    if problem is not None:
        field, why = problem
        raise WorkflowValidationError(
            f"workflow {workflow.name!r}: {field} {why}", workflow=workflow.name, field=field
        )


class RunQueue:
    """Submits, claims, recovers and cancels a runner's durable runs."""

    def __init__(self, runs: Runs) -> None:
        self.runs = runs
        self.settings = runs.settings

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
        """Store a ``PENDING`` run of a registered workflow; return its id (with an
        ``idempotency_key`` another run of the workflow holds: that run's, and nothing is
        stored)."""
        store = self.runs.require_store("submit")
        check_request(workflow, idempotency_key, priority)
        if workflow.name not in self.settings.workflows:
            raise WorkflowError(
                f"workflow {workflow.name!r} is not registered; register_workflow() it in "
                "a module the workers import (--app) so they can run what is submitted",
                workflow=workflow.name,
            )
        record = self.pending_record(
            workflow, params, partition, triggered_by=triggered_by,
            idempotency_key=idempotency_key, priority=priority,
        )  # fmt: skip
        return store.create_run(record)

    def pending_record(
        self,
        workflow: Workflow,
        params: Mapping[str, Any] | None = None,
        partition: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> RunRecord:
        """The ``PENDING`` row :meth:`submit` stores (``fields`` such as
        ``triggered_by`` and ``schedule_id`` set on it), not yet stored: schedules
        store it in the transaction that advances them."""
        ctx = initial_context(self.settings, workflow, params, partition, None)
        return self.runs.new_record(
            workflow, plan_for(workflow), ctx, WorkflowStatus.PENDING, **fields
        )

    def run_pending(self, limit: int = 1) -> list[WorkflowResult]:
        """Claim up to ``limit`` submitted runs of workflows this runner knows, oldest
        first, and execute them."""
        waiting = self.claim(limit)
        results = []
        try:
            first = True
            while waiting:
                # The first starts as the claim left it; the others waited their turn,
                # so each reads its cancel flag before its first step.
                result = self.execute_claimed(waiting.pop(0), at_once=first)
                first = False
                if result is not None:
                    results.append(result)
        finally:
            leases = self.runs.leases
            if leases is not None:  # what a failure left unexecuted
                for run in waiting:
                    leases.drop(run.run_id)
        return results

    def claim(self, limit: int) -> list[RunRecord]:
        """Claim up to ``limit`` submitted runs of workflows this runner knows, oldest
        first (none asked to stop), each held by this process from now until
        :meth:`execute_claimed` has executed it."""
        runs = self.runs
        store = runs.require_store("run_pending")
        names, caps = self._claimable()
        claimed = store.claim_pending(runs.owner, self.settings.clock.time(), names, limit, caps)
        self._hold(claimed)
        return claimed

    def _claimable(self) -> tuple[list[str], dict[str, int]]:
        """The workflows this runner knows, and the caps of those that have one."""
        registry = self.settings.workflows
        names = registry.names()
        caps = {}
        for name in names:
            cap = getattr(registry.get(name), "max_concurrent_runs", None)
            if cap is not None:
                caps[name] = cap
        return names, caps

    def _hold(self, claimed: list[RunRecord]) -> None:
        # Held from the claim on, not from the start of its execution, so that no
        # recover() in this process takes a run waiting for its thread for an orphan.
        leases = self.runs.leases
        if leases is not None:
            for run in claimed:
                leases.hold(run.run_id)

    def next_claim(self, limit: int) -> NextClaim:
        """A claim of up to ``limit`` submitted runs for :meth:`execute_claimed` to make
        with the end of the run it executes (one commit for both)."""
        names, caps = self._claimable()
        return NextClaim(self.runs.owner, tuple(names), limit, caps)

    def execute_claimed(
        self, run: RunRecord, *, at_once: bool, then: NextClaim | None = None
    ) -> WorkflowResult | None:
        """Execute a run :meth:`claim` returned (``None``: given back), then let go of it.
        ``at_once``: straight after the claim, so its first step need not read the
        cancel flag the claim saw unset. ``then``: claim more runs with its end; those
        it took (``then.claimed``) are held as :meth:`claim`'s are."""
        try:
            return self.runs.run_claimed(run, at_once=at_once, then=then)
        finally:
            if then is not None:
                self._hold(then.claimed)
            if self.runs.leases is not None:
                self.runs.leases.drop(run.run_id)

    def recover(self) -> list[WorkflowResult]:
        """Run every submitted run, resume every run whose owner is gone, and every
        waiting run that is due (see ``WorkflowRunner.recover``)."""
        # Submitted runs go through the claim that honours concurrency limits.
        results = []
        while batch := self.run_pending(limit=16):
            results.extend(batch)
        for run in self.recoverable():
            if (result := self.recover_run(run)) is not None:
                results.append(result)
        return results

    def recoverable(self) -> list[RunRecord]:
        """The runs of workflows registered here that :meth:`recover_run` may continue
        now (see :func:`~spine.orchestration.leases.recoverable_now`)."""
        settings = self.settings
        store = self.runs.require_store("recover")
        now = settings.clock.time()
        found = []
        for run in recoverable_now(store, now, settings.lease_seconds, settings.block_on_waits):
            if run.workflow_name in settings.workflows:
                found.append(run)
            else:
                logger.warning(
                    "run %s: workflow %r is not registered here; left for another runner",
                    run.run_id,
                    run.workflow_name,
                )
        return found

    def recover_run(self, run: RunRecord) -> WorkflowResult | None:
        """Continue a run :meth:`recoverable` listed; ``None`` when another process took
        it first, finished it meanwhile, or it cannot be resumed (logged)."""
        try:
            result = self.runs.resume(run.run_id, None)
        except RunOwnedError:
            return None  # another process took it between our read and our claim
        except (WorkflowError, StoreError) as exc:
            # One run that cannot be resumed must not stop the recovery of the rest.
            logger.error("run %s of %r not recovered: %s", run.run_id, run.workflow_name, exc)
            return None
        return result if result.note is None else None  # (a note: finished meanwhile)

    def cancel(self, run_id: str) -> str:
        """Cancel a run (see ``WorkflowRunner.cancel``)."""
        store = self.runs.require_store("cancel")
        return store.cancel(run_id, self.settings.clock.time())

    def signal(self, run_id: str, signal_name: str, payload: Mapping[str, Any]) -> None:
        """Send a signal to a run (see ``WorkflowRunner.signal``)."""
        store = self.runs.require_store("signal")
        payload_json = signal_json(signal_name, payload)
        store.send_signal(run_id, signal_name, payload_json, self.settings.clock.time())
