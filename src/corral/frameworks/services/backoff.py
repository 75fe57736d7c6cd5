"""Launch backoff (pure): failed tasks raise an app's launch delay, killed ones do not."""

from __future__ import annotations

import msgspec

from corral.frameworks.services.appdef import AppDefinition

FAILED_STATES = frozenset({"TASK_FAILED", "TASK_FINISHED", "TASK_ERROR"})


class Backoff(msgspec.Struct, kw_only=True):
    failures: int = 0
    delay_until: float = 0.0
    since: float = 0.0  # when the app started waiting on the delay


def failed(b: Backoff, app: AppDefinition, now: float) -> Backoff:
    """One more failure: delay = backoffSeconds * backoffFactor^n, capped."""
    delay = min(
        app.max_launch_delay_seconds, app.backoff_seconds * app.backoff_factor**b.failures
    )
    return Backoff(failures=b.failures + 1, delay_until=now + delay, since=now)


def delay_left(b: Backoff, now: float) -> float:
    return max(0.0, b.delay_until - now)


def is_failure(state: str, asked_to_kill: bool) -> bool:
    """Failures raise the delay; a kill we asked for does not (one we did not, e.g. a
    health check's, does)."""
    if state in FAILED_STATES:
        return True
    return state == "TASK_KILLED" and not asked_to_kill


__all__ = ["Backoff", "delay_left", "failed", "is_failure"]
