"""The one definition of spine's tables (SQLAlchemy Core), shared by every backend.

``core_workflow_runs`` and ``core_workflow_steps`` carry every column of the spec
plus what durable execution needs: the lease (owner, heartbeat), the wake-up time
of a waiting run, and per step its context updates and where the flow went next.
``alert_deliveries`` logs what each alert channel did with each alert.
``core_workflow_signals`` keeps the signals sent to runs, consumed or not yet.
``core_schedules`` holds the schedules workers fire, and ``core_schedule_fires`` what
became of each due time (a run, or why none).
Timestamps are ISO-8601 UTC text with microseconds (fixed width, so they also
compare correctly as text); data columns are JSON text.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)

SCHEMA_VERSION = 14
"""Bumped with every migration in ``spine.store.migrations``."""

metadata = MetaData()

runs = Table(
    "core_workflow_runs",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("workflow_name", Text, nullable=False),
    Column("status", Text, nullable=False),  # PENDING, RUNNING, WAITING, COMPLETED, ...
    Column("started_at", Text),
    Column("completed_at", Text),
    Column("duration_ms", BigInteger),  # (a run that waits for weeks: past 2³¹ ms)
    Column("params", Text),  # JSON: the run's params as it started
    Column("outputs", Text),  # JSON: every step's output, written when the run ends
    Column("error", Text),
    Column("error_category", Text),
    Column("total_steps", Integer),
    Column("completed_steps", Integer),
    Column("failed_steps", Integer),
    Column("triggered_by", Text),  # manual, schedule, api
    Column("parent_run_id", Text),  # the run whose map step started this one
    Column("schedule_id", Text),
    # Beyond the spec: what resume, recovery and the UI need.
    Column("workflow_version", Integer, nullable=False, default=1, server_default=text("1")),
    Column("definition_hash", Text),
    Column("partition", Text),  # JSON
    Column("error_step", Text),
    Column("parent_step", Text),
    Column("item_index", Integer),
    Column("dry_run", Integer, nullable=False, default=0, server_default=text("0")),
    Column("owner_id", Text),
    Column("owner_host", Text),
    Column("owner_pid", Integer),
    Column("heartbeat_at", Text),
    Column("wake_at", Text),
    Column("data_format", Integer, nullable=False, default=1, server_default=text("1")),
    Column("source", Text),  # where the spine command loaded the workflow from
    # Set by `spine cancel` for an executing run; its runner stops at a step boundary.
    Column("cancel_requested", Integer, nullable=False, default=0, server_default=text("0")),
    # How many times in a row a process took the run over from a dead owner at the same
    # step (takeover_order): a step that kills its worker every time ends the run.
    Column("takeovers", Integer, nullable=False, default=0, server_default=text("0")),
    Column("takeover_order", Integer),
    # Raised by each takeover of an executing run: a holder's writes name the epoch it
    # took the run at, so a stale holder (even with the same owner id) writes nothing.
    Column("lease_epoch", Integer, nullable=False, default=0, server_default=text("0")),
    # What `spine show` tells of a live run with no step row yet, and of its map step.
    Column("first_step", Text),
    Column("items_total", Integer),
    # One run per workflow and key, whatever the number of callers: a unique index, so
    # a second submit of a key finds the first run instead of making another.
    Column("idempotency_key", Text),
    Column("priority", Integer, nullable=False, default=0, server_default=text("0")),
    # The run a fork copied its first steps from (`parent_run_id` is a map's, not this).
    Column("forked_from", Text),
    # The signal a WAITING run's await_signal step waits for: sending it makes the run due.
    Column("awaiting_signal", Text),
)
Index("ix_core_workflow_runs_status", runs.c.status, runs.c.heartbeat_at)
Index("ix_core_workflow_runs_workflow", runs.c.workflow_name, runs.c.started_at)
# Listings (spine runs, the UI) are of top-level runs, newest first, optionally by status.
Index("ix_core_workflow_runs_started", runs.c.parent_run_id, runs.c.started_at)
Index("ix_core_workflow_runs_status_started", runs.c.status, runs.c.started_at)
Index("ix_core_workflow_runs_parent", runs.c.parent_run_id, runs.c.parent_step)
# A schedule counts its live runs (max_instances) each time it fires.
Index("ix_core_workflow_runs_schedule", runs.c.schedule_id, runs.c.status)
Index("ux_core_workflow_runs_idempotency", runs.c.workflow_name, runs.c.idempotency_key,
      unique=True)  # fmt: skip
# Workers claim submitted runs by priority, highest first, then age, oldest first: the
# index in that very order, so that a claim reads the first rows of it, not all pending runs.
Index("ix_core_workflow_runs_claim", runs.c.status, runs.c.priority.desc(), runs.c.started_at)

steps = Table(
    "core_workflow_steps",
    metadata,
    Column("step_id", Text, primary_key=True),  # "<run_id>:<step_order>:<attempt>"
    Column("run_id", Text, nullable=False),
    Column("step_name", Text, nullable=False),
    Column("step_type", Text, nullable=False),
    Column("step_order", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("started_at", Text),
    Column("completed_at", Text),
    Column("duration_ms", BigInteger),  # (a run that waits for weeks: past 2³¹ ms)
    Column("params", Text),  # JSON: the step's own params/config, not the context's
    Column("outputs", Text),  # JSON: this step's output
    Column("error", Text),
    Column("error_category", Text),
    Column("row_count", BigInteger),  # (billions of rows are common)
    Column("attempt", Integer, nullable=False, default=1, server_default=text("1")),
    # Beyond the spec.
    Column("context_updates", Text),  # JSON
    Column("next_step", Text),  # where the flow went next; NULL ends the run
    Column("will_retry", Integer, nullable=False, default=0, server_default=text("0")),
    Column("quality", Text),  # JSON QualityMetrics
    # JSON [[time, level, text], ...]: what the attempt wrote (print, logging, its
    # traceback); NULL when nothing, or once `spine prune --logs-older-than` dropped it.
    # A column of the step's row, not a table: it goes in with the row, in the same
    # statement, so a step that writes nothing costs nothing more.
    Column("log", Text),
    UniqueConstraint("run_id", "step_order", "attempt", name="uq_core_workflow_steps_attempt"),
)
# The unique constraint above also serves reading a run's steps in order.

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("fingerprint", Text, nullable=False),  # the incident: severity|source|title|domain
    Column("severity", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("message", Text),
    Column("source", Text, nullable=False),
    Column("domain", Text),
    Column("run_id", Text),
    Column("channel", Text, nullable=False),
    Column("channel_type", Text, nullable=False),
    Column("success", Integer, nullable=False),
    Column("throttled", Integer, nullable=False, default=0, server_default=text("0")),
    Column("attempts", Integer, nullable=False),  # 0 when throttled
    Column("suppressed", Integer, nullable=False, default=0, server_default=text("0")),
    Column("error", Text),
    Column("created_at", Text, nullable=False),  # when the alert was raised
    Column("delivered_at", Text, nullable=False),  # when the channel finished with it
)
Index("ix_alert_deliveries_delivered", alert_deliveries.c.delivered_at)
Index("ix_alert_deliveries_run", alert_deliveries.c.run_id, alert_deliveries.c.delivered_at)

schedules = Table(
    "core_schedules",
    metadata,
    Column("name", Text, primary_key=True),
    Column("workflow_name", Text, nullable=False),
    Column("cron", Text, nullable=False),
    Column("timezone", Text, nullable=False),
    Column("params", Text, nullable=False),  # JSON
    Column("partition", Text, nullable=False),  # JSON
    Column("paused", Integer, nullable=False, default=0, server_default=text("0")),
    Column("misfire", Text, nullable=False),  # run_once, skip
    Column("misfire_grace_ms", Integer, nullable=False),
    Column("max_instances", Integer, nullable=False),
    # Workers fire a due time by moving next_fire_at on with a compare-and-swap.
    Column("next_fire_at", Text),
    Column("last_fired_at", Text),  # the last due time that started a run
    Column("created_at", Text, nullable=False),
)
Index("ix_core_schedules_due", schedules.c.paused, schedules.c.next_fire_at)

schedule_fires = Table(
    "core_schedule_fires",
    metadata,
    Column("schedule_name", Text, nullable=False),
    Column("due_at", Text, nullable=False),
    Column("outcome", Text, nullable=False),  # fired, late, missed, skipped
    Column("run_id", Text),  # the run it started (fired, late)
    Column("recorded_at", Text, nullable=False),
    Column("detail", Text),  # why it was late, missed or skipped
    # One row per due time: a second firing of the same time cannot commit.
    PrimaryKeyConstraint("schedule_name", "due_at", name="pk_core_schedule_fires"),
)

signals = Table(
    "core_workflow_signals",
    metadata,
    # Time-ordered ids (new_id): a step consumes the oldest unconsumed signal of its name.
    Column("signal_id", Text, primary_key=True),
    Column("run_id", Text, nullable=False),
    Column("signal_name", Text, nullable=False),
    Column("payload", Text, nullable=False),  # JSON object: the awaiting step's output
    Column("sent_at", Text, nullable=False),
    Column("consumed_at", Text),  # NULL until a step took it
)
Index("ix_core_workflow_signals_run", signals.c.run_id, signals.c.signal_name,
      signals.c.sent_at)  # fmt: skip

schema_version = Table(
    "spine_schema_version",
    metadata,
    Column("version", Integer, nullable=False),
)
