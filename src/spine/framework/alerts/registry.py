"""The channel registry and ``send_alert``: filters, throttling, retries and the delivery log."""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import replace
from typing import Any

from spine.core.clock import SYSTEM_CLOCK, Clock
from spine.core.errors import describe_exception
from spine.framework.alerts.channels import BaseChannel
from spine.framework.alerts.delivery import DeliveryRetry, deliver
from spine.framework.alerts.log import DeliveryLog, DeliveryRecord
from spine.framework.alerts.model import Alert, AlertSeverity, DeliveryResult
from spine.framework.alerts.throttle import DEFAULT_WINDOW_SECONDS, Throttle, check_window

logger = logging.getLogger("spine.alerts")

_ALERT_FIELDS = {"domain", "execution_id", "run_id", "error", "metadata", "fingerprint"}


class AlertRegistry:
    """Named channels; ``send_to_all`` delivers to each channel whose filters pass.

    Per channel, a duplicate of an alert it delivered (same fingerprint) within
    ``throttle_seconds`` is not sent again; a failed delivery is retried as
    ``retry`` says, sleeping on ``clock``; with a ``log``, every delivery result is
    recorded there.
    """

    def __init__(
        self,
        *,
        throttle_seconds: float = DEFAULT_WINDOW_SECONDS,
        retry: DeliveryRetry | None = None,
        clock: Clock = SYSTEM_CLOCK,
        log: DeliveryLog | None = None,
    ) -> None:
        self._channels: dict[str, BaseChannel] = {}
        self._lock = threading.Lock()
        self._retry = retry or DeliveryRetry()
        self._clock = clock
        self._throttle = Throttle(throttle_seconds, clock)
        self._log = log

    # -- channels -----------------------------------------------------------------

    def register(self, channel: BaseChannel) -> BaseChannel:
        with self._lock:
            self._channels[channel.name] = channel
        return channel

    def unregister(self, name: str) -> BaseChannel | None:
        with self._lock:
            return self._channels.pop(name, None)

    def get(self, name: str) -> BaseChannel | None:
        return self._channels.get(name)

    def list_channels(self) -> list[str]:
        return sorted(self._channels)

    def clear(self) -> None:
        """Back to a new registry: no channel, no log, default throttle and retries."""
        with self._lock:
            self._channels.clear()
        self._retry = DeliveryRetry()
        self._clock = SYSTEM_CLOCK
        self._throttle = Throttle(DEFAULT_WINDOW_SECONDS, SYSTEM_CLOCK)
        self._log = None

    # -- options ------------------------------------------------------------------

    def configure(
        self,
        *,
        throttle_seconds: float | None = None,
        retry: DeliveryRetry | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Change the options given (``None`` keeps one); ``throttle_seconds=0`` turns
        throttling off, ``math.inf`` throttles for ever. A new window or clock starts the
        throttle afresh. A bad value raises ``ValueError`` and changes nothing."""
        if throttle_seconds is not None:
            check_window(throttle_seconds)
        if retry is not None and not isinstance(retry, DeliveryRetry):
            raise ValueError(f"retry must be a DeliveryRetry, got {type(retry).__name__}")
        if retry is not None:
            self._retry = retry
        if clock is not None:
            self._clock = clock
        if throttle_seconds is not None or clock is not None:
            window = self._throttle.window_seconds if throttle_seconds is None else throttle_seconds
            self._throttle = Throttle(window, self._clock)

    @property
    def throttle_seconds(self) -> float:
        return self._throttle.window_seconds

    @property
    def retry(self) -> DeliveryRetry:
        return self._retry

    @property
    def log(self) -> DeliveryLog | None:
        return self._log

    def set_log(self, log: DeliveryLog | None) -> None:
        """Record every delivery in ``log`` from now on (``None``: stop recording).

        The registry does not close the log; whoever opened it does.
        """
        self._log = log

    def recent_deliveries(self, limit: int = 50) -> list[DeliveryRecord]:
        """The latest ``limit`` records of the log, newest first; none without a log."""
        return [] if self._log is None else self._log.recent(limit)

    # -- sending ------------------------------------------------------------------

    def send(self, alert: Alert, channel_name: str) -> DeliveryResult:
        channel = self._channels.get(channel_name)
        if channel is None:
            return DeliveryResult.fail(
                channel_name, f"no channel named {channel_name!r}", retryable=False
            )
        takes = self._takes(channel, alert, None)
        if isinstance(takes, DeliveryResult):
            return takes
        if not takes:
            return DeliveryResult.ok(channel_name, "Filtered (severity/domain)")
        return self._dispatch(channel, alert, None)

    def send_to_all(self, alert: Alert, *, log: DeliveryLog | None = None) -> list[DeliveryResult]:
        """Deliver to every channel that takes the alert; one failure never stops the rest.

        Returns one result per channel that took the alert (throttled ones
        included). An alert no channel takes is logged on the ``spine.alerts``
        logger, so it is never silently dropped. Deliveries are recorded in ``log``
        when given (a runner passes its database's), else in the registry's log.
        """
        with self._lock:
            channels = list(self._channels.values())
        results: list[DeliveryResult] = []
        for channel in channels:
            takes = self._takes(channel, alert, log)
            if isinstance(takes, DeliveryResult):
                results.append(takes)
            elif takes:
                results.append(self._dispatch(channel, alert, log))
        if not results:
            logger.warning(
                "alert not delivered (no channel takes it): [%s] %s - %s (source=%s, run=%s)",
                alert.severity.value,
                alert.title,
                alert.message,
                alert.source,
                alert.run_id,
            )
        return results

    def _takes(
        self, channel: BaseChannel, alert: Alert, log: DeliveryLog | None
    ) -> bool | DeliveryResult:
        """Whether ``channel`` takes ``alert``; a failed result when its filter raises.

        A channel's own ``should_send`` may be buggy: that is this channel's failure
        (recorded like one), not a reason to deprive the other channels of the alert.
        """
        try:
            return bool(channel.should_send(alert))
        except Exception as exc:
            logger.exception("alert channel %r: should_send raised", channel.name)
            result = DeliveryResult.fail(
                channel.name,
                f"should_send raised {describe_exception(exc)}; the alert was not sent",
                retryable=False,
            )
            self._record(alert, channel, result, log or self._log)
            return result

    def _dispatch(
        self, channel: BaseChannel, alert: Alert, log: DeliveryLog | None
    ) -> DeliveryResult:
        throttle = self._throttle
        key = (channel.name, alert.fingerprint)
        admission = throttle.admit(key)
        if not admission.send:
            result = DeliveryResult(
                channel_name=channel.name,
                success=True,
                message=(
                    f"throttled: a duplicate of the alert delivered {admission.age_seconds:.0f}s "
                    f"ago (window {_window(throttle.window_seconds)}); "
                    f"{admission.suppressed} held back so far"
                ),
                attempt=0,
                throttled=True,
                suppressed=admission.suppressed,
            )
        else:
            outgoing = _with_suppressed(alert, admission.suppressed)
            result = deliver(channel, outgoing, self._retry, self._clock)
            result.suppressed = admission.suppressed
            if not result.success:
                throttle.release(key, admission.suppressed)
                logger.warning(
                    "alert %r not delivered to channel %r after %d attempt(s): %s",
                    alert.title,
                    channel.name,
                    result.attempt,
                    result.message,
                )
        self._record(alert, channel, result, log or self._log)
        return result

    def _record(
        self,
        alert: Alert,
        channel: BaseChannel,
        result: DeliveryResult,
        log: DeliveryLog | None,
    ) -> None:
        if log is None:
            return
        try:
            log.record(DeliveryRecord.of(alert, channel, result))
        except Exception:
            # The alert went out (or not) regardless; losing its record must not
            # turn into a failure of whatever raised the alert.
            logger.exception(
                "cannot record the delivery of alert %r to channel %r", alert.title, channel.name
            )


def _window(seconds: float) -> str:
    return "for ever" if math.isinf(seconds) else f"{seconds:g}s"


def _with_suppressed(alert: Alert, suppressed: int) -> Alert:
    """``alert``, saying how many duplicates were held back since the previous one."""
    if suppressed == 0:
        return alert
    note = f"({suppressed} more like this held back since the previous delivery)"
    return replace(
        alert,
        message=f"{alert.message}\n\n{note}" if alert.message else note,
        metadata={**alert.metadata, "suppressed_count": suppressed},
    )


alert_registry = AlertRegistry()


def send_alert(
    severity: AlertSeverity | str,
    title: str,
    message: str,
    source: str,
    **fields: Any,
) -> list[DeliveryResult]:
    """Build an :class:`Alert` and send it to every registered channel that takes it.

    Keyword ``fields`` set ``domain``, ``run_id``, ``execution_id``, ``error`` or ``metadata``;
    any other keyword is kept in ``metadata``.
    """
    known = {k: v for k, v in fields.items() if k in _ALERT_FIELDS}
    extra = {k: v for k, v in fields.items() if k not in _ALERT_FIELDS}
    if extra:
        known["metadata"] = {**known.get("metadata", {}), **extra}
    alert = Alert(
        severity=AlertSeverity(severity), title=title, message=message, source=source, **known
    )
    return alert_registry.send_to_all(alert)


def recent_deliveries(limit: int = 50) -> list[DeliveryRecord]:
    """The latest deliveries recorded by ``alert_registry``'s log, newest first."""
    return alert_registry.recent_deliveries(limit)
