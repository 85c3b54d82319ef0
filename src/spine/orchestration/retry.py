"""``RetryPolicy``: how often and how long to wait before a failed step is tried again."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spine.orchestration.step_result import ErrorCategory

if TYPE_CHECKING:
    from random import Random


@dataclass(frozen=True)
class RetryPolicy:
    """Retry a failed step with exponential backoff.

    Attempt ``k`` (from 1) that fails is followed, after a delay, by attempt
    ``k + 1`` until ``max_attempts`` attempts were made. The delay before attempt
    ``k + 1`` is ``initial_delay_seconds * backoff_multiplier ** (k - 1)``, capped at
    ``max_delay_seconds``; with ``jitter`` it is drawn uniformly from the upper half
    of that value ("equal jitter"), which spreads retries of many runs apart while
    never exceeding the cap.
    """

    max_attempts: int = 3
    """Total attempts, the first included (1 means no retry)."""
    initial_delay_seconds: float = 1.0
    """Delay before the second attempt."""
    backoff_multiplier: float = 2.0
    """Factor applied to the delay after each failed attempt."""
    max_delay_seconds: float = 60.0
    """Upper bound of any single delay."""
    jitter: bool = True
    """Randomise each delay within its upper half."""
    retry_on: frozenset[str] | None = field(default=None)
    """Error categories worth retrying; ``None`` retries any failure."""

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            problems.append(f"max_attempts must be an integer >= 1, got {self.max_attempts!r}")
        for name in ("initial_delay_seconds", "max_delay_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                problems.append(f"{name} must be a number >= 0, got {value!r}")
        if not isinstance(self.backoff_multiplier, int | float) or self.backoff_multiplier < 1:
            problems.append(
                f"backoff_multiplier must be a number >= 1, got {self.backoff_multiplier!r}"
            )
        if problems:
            raise ValueError("invalid RetryPolicy: " + "; ".join(problems))
        if self.retry_on is not None:
            retry_on: Iterable[str] = (
                (self.retry_on,) if isinstance(self.retry_on, str) else self.retry_on
            )
            object.__setattr__(
                self,
                "retry_on",
                frozenset(c.value if isinstance(c, ErrorCategory) else str(c) for c in retry_on),
            )

    def should_retry(self, attempt: int, category: str | None) -> bool:
        """Whether a failure of ``category`` on ``attempt`` is followed by another attempt."""
        if attempt >= self.max_attempts:
            return False
        return self.retry_on is None or category in self.retry_on

    def delay_seconds(self, attempt: int, rng: Random | None = None) -> float:
        """Seconds to wait after failed ``attempt`` (from 1) before the next one."""
        base = self.initial_delay_seconds * self.backoff_multiplier ** (attempt - 1)
        delay = min(base, self.max_delay_seconds)
        if self.jitter and delay > 0:
            import random  # only jitter needs it; kept off the import path

            delay = delay / 2 + (rng or random).uniform(0, delay / 2)
        return float(delay)
