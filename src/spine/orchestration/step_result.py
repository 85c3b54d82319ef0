"""``StepResult``, the envelope every step returns, and ``QualityMetrics``."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from spine.core.frozen import EMPTY_FROZEN_DICT
from spine.core.status import ErrorCategory


class QualityMetrics:
    """Data-quality figures a step reports; ``invalid_count`` defaults to the remainder."""

    __slots__ = (
        "custom_metrics",
        "failure_reasons",
        "invalid_count",
        "null_count",
        "passed",
        "record_count",
        "valid_count",
    )

    def __init__(
        self,
        record_count: int = 0,
        valid_count: int = 0,
        invalid_count: int | None = None,
        null_count: int = 0,
        passed: bool = True,
        custom_metrics: Mapping[str, Any] | None = None,
        failure_reasons: Sequence[str] | None = None,
    ) -> None:
        self.record_count = record_count
        self.valid_count = valid_count
        self.invalid_count = (
            max(record_count - valid_count, 0) if invalid_count is None else invalid_count
        )
        self.null_count = null_count
        self.passed = passed
        self.custom_metrics: dict[str, Any] = dict(custom_metrics or {})
        self.failure_reasons: list[str] = list(failure_reasons or [])

    @property
    def valid_rate(self) -> float:
        """``valid_count / record_count``; 0.0 when there are no records."""
        return self.valid_count / self.record_count if self.record_count else 0.0

    @property
    def null_rate(self) -> float:
        """``null_count / record_count``; 0.0 when there are no records."""
        return self.null_count / self.record_count if self.record_count else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_count": self.record_count,
            "valid_count": self.valid_count,
            "invalid_count": self.invalid_count,
            "null_count": self.null_count,
            "passed": self.passed,
            "valid_rate": self.valid_rate,
            "null_rate": self.null_rate,
            "custom_metrics": dict(self.custom_metrics),
            "failure_reasons": list(self.failure_reasons),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QualityMetrics:
        return cls(
            record_count=data.get("record_count", 0),
            valid_count=data.get("valid_count", 0),
            invalid_count=data.get("invalid_count"),
            null_count=data.get("null_count", 0),
            passed=data.get("passed", True),
            custom_metrics=data.get("custom_metrics"),
            failure_reasons=data.get("failure_reasons"),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QualityMetrics):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"QualityMetrics(record_count={self.record_count}, valid_count={self.valid_count}, "
            f"invalid_count={self.invalid_count}, passed={self.passed})"
        )


def _category(category: str | None) -> str:
    if category is None:
        return ErrorCategory.INTERNAL.value
    # An ErrorCategory member is stored as its plain string value.
    return str(category.value) if isinstance(category, ErrorCategory) else str(category)


class StepResult:
    """What a step returns: success or failure, its output and context updates.

    ``output`` is stored under the step's name in ``ctx.outputs``;
    ``context_updates`` are merged into ``ctx.params`` for the steps that follow;
    ``next_step`` (optional) names the step to run next.
    """

    __slots__ = (
        "_events",
        "context_updates",
        "error",
        "error_category",
        "next_step",
        "output",
        "quality",
        "skip_reason",
        "skipped",
        "success",
    )

    def __init__(
        self,
        success: bool,
        output: Mapping[str, Any] | None = None,
        context_updates: Mapping[str, Any] | None = None,
        error: str | None = None,
        error_category: str | None = None,
        quality: QualityMetrics | None = None,
        events: Sequence[Mapping[str, Any]] | None = None,
        next_step: str | None = None,
        skipped: bool = False,
        skip_reason: str | None = None,
    ) -> None:
        self.success = success
        # The shared read-only empty dict keeps a result that carries nothing cheap.
        self.output: Mapping[str, Any] = EMPTY_FROZEN_DICT if output is None else output
        self.context_updates: Mapping[str, Any] = (
            EMPTY_FROZEN_DICT if context_updates is None else context_updates
        )
        if not success:
            error = error or "Step failed without error message"
            error_category = _category(error_category)
        self.error = error
        self.error_category = error_category
        self.quality = quality
        # Most results carry no events: the list is made on first access, which
        # saves an allocation (and a GC-tracked object) per step.
        self._events: list[Mapping[str, Any]] | None = list(events) if events else None
        self.next_step = next_step
        self.skipped = skipped
        self.skip_reason = skip_reason

    @property
    def events(self) -> list[Mapping[str, Any]]:
        """Events the step reported (plain dicts, for observability)."""
        events = self._events
        if events is None:
            events = self._events = []
        return events

    @events.setter
    def events(self, value: Sequence[Mapping[str, Any]]) -> None:
        self._events = list(value)

    @classmethod
    def ok(
        cls,
        output: Mapping[str, Any] | None = None,
        context_updates: Mapping[str, Any] | None = None,
        quality: QualityMetrics | None = None,
        events: Sequence[Mapping[str, Any]] | None = None,
        next_step: str | None = None,
    ) -> StepResult:
        """A success carrying ``output`` and ``context_updates``."""
        return cls(True, output, context_updates, None, None, quality, events, next_step)

    @classmethod
    def fail(
        cls,
        error: str,
        category: str | None = None,
        quality: QualityMetrics | None = None,
        output: Mapping[str, Any] | None = None,
        events: Sequence[Mapping[str, Any]] | None = None,
    ) -> StepResult:
        """A failure; ``category`` (default ``"INTERNAL"``) is stored as a plain string."""
        return cls(False, output, None, error, _category(category), quality, events)

    @classmethod
    def skip(cls, reason: str, output: Mapping[str, Any] | None = None) -> StepResult:
        """A success that did no work."""
        if output is None:
            output = {"skipped": True, "skip_reason": reason}
        return cls(True, output, skipped=True, skip_reason=reason)

    @classmethod
    def from_value(cls, value: object) -> StepResult:
        """Interpret a plain return value: dict -> output, ``None`` -> ok, bool -> ok/fail."""
        if isinstance(value, StepResult):
            return value
        if value is None:
            return cls.ok()
        if isinstance(value, bool):
            return cls.ok() if value else cls.fail("Step returned False")
        if isinstance(value, Mapping):
            return cls.ok(output=value)
        if isinstance(value, str):
            return cls.ok(output={"message": value})
        if isinstance(value, int | float):
            return cls.ok(output={"value": value})
        return cls.ok(output={"result": value})

    def with_next_step(self, next_step: str | None) -> StepResult:
        """A copy of this result that routes to ``next_step``."""
        routed = copy.copy(self)
        routed.next_step = next_step
        return routed

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "success": self.success,
            "output": dict(self.output),
            "context_updates": dict(self.context_updates),
        }
        if self.error is not None:
            data["error"] = self.error
            data["error_category"] = self.error_category
        if self.quality is not None:
            data["quality"] = self.quality.to_dict()
        if self._events:
            data["events"] = [dict(e) for e in self._events]
        if self.next_step is not None:
            data["next_step"] = self.next_step
        if self.skipped:
            data["skipped"] = True
            data["skip_reason"] = self.skip_reason
        return data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StepResult):
            return NotImplemented
        # No events and an empty events list are the same result.
        return (self._events or None) == (other._events or None) and all(
            getattr(self, s) == getattr(other, s) for s in StepResult.__slots__ if s != "_events"
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if self.success:
            state = "SKIP" if self.skipped else "OK"
            return f"StepResult({state}, output_keys={sorted(self.output)})"
        return f"StepResult(FAIL({self.error_category}), error={self.error!r})"


__all__ = ["ErrorCategory", "QualityMetrics", "StepResult"]
