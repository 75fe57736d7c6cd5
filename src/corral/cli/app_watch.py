"""What ``corral app ... --wait`` concludes from what the API shows (pure functions).

A deployment is followed by polling ``/v2/deployments`` and the app. ``observe`` turns one
poll into an ``Observation``: still running (with its progress), or over, and then whether
it did what was asked. A deployment that disappears is over; it *succeeded* only if the app
is where the change put it (its version, enough instances ready; or gone, for a delete).
Otherwise it was cancelled, rolled back or superseded by another change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Exit codes of `corral app ... --wait` (also in the commands' help).
EXIT_OK = 0
EXIT_ERROR = 1  # an API error (404, 409, 5xx), the server unreachable
EXIT_USAGE = 2  # bad input: arguments, a definition file, a definition the API refused (422)
EXIT_STUCK = 3  # still not done after --timeout (the reasons are printed)
EXIT_FAILED = 4  # cancelled, rolled back, superseded, or the app vanished

LIVE = ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING")


@dataclass
class Progress:
    ready: int  # instances of the app's current config running (and healthy, with checks)
    target: int
    step: int  # 1-based current step of the deployment (0: unknown)
    steps: int
    actions: list[str] = field(default_factory=list)  # "RestartApplication /web"
    waiting: str | None = None  # the deployment's own reason (corral's ``waiting``)

    def describe(self) -> str:
        step = f"step {self.step}/{self.steps}" if self.steps else "starting"
        acts = ", ".join(self.actions)
        return f"{step}{': ' + acts if acts else ''}"


@dataclass
class Observation:
    done: bool
    ok: bool
    progress: Progress
    message: str = ""


def actions_of(deployment: dict[str, Any]) -> list[str]:
    out = []
    for a in deployment.get("currentActions") or []:
        if isinstance(a, dict):
            out.append(f"{a.get('action', '?')} {a.get('app', '')}".strip())
    return out


def task_healthy(task: dict[str, Any]) -> bool | None:
    """True when every health check result is alive; None without results."""
    results = [r for r in task.get("healthCheckResults") or [] if isinstance(r, dict)]
    if not results:
        return None
    return all(bool(r.get("alive")) for r in results)


def health_message(task: dict[str, Any]) -> str:
    for r in task.get("healthCheckResults") or []:
        if isinstance(r, dict) and not r.get("alive") and r.get("lastFailureCause"):
            return str(r["lastFailureCause"])
    return ""


def ready_count(app: dict[str, Any]) -> int:
    """Instances of the app's current configuration that are running, and healthy when the
    app has health checks. Scaling keeps instances of the same configuration, so a task counts
    when its version is not older than ``versionInfo.lastConfigChangeAt``."""
    info = app.get("versionInfo") or {}
    since = str(info.get("lastConfigChangeAt") or app.get("version") or "")
    checks = bool(app.get("healthChecks"))
    n = 0
    for t in app.get("tasks") or []:
        if t.get("state") != "TASK_RUNNING":
            continue
        if since and str(t.get("version") or "") < since:
            continue
        if checks and task_healthy(t) is not True:
            continue
        n += 1
    return n


def observe(
    deployment_id: str,
    deployments: list[dict[str, Any]],
    app: dict[str, Any] | None,
    *,
    version: str | None,
    delete: bool = False,
) -> Observation:
    """One poll of a deployment that changed ``app`` to ``version`` (or deleted it)."""
    dep = next((d for d in deployments if d.get("id") == deployment_id), None)
    target = int(app.get("instances", 0)) if app else 0
    ready = ready_count(app) if app else 0
    if dep is not None:
        progress = Progress(
            ready,
            target,
            int(dep.get("currentStep") or 0),
            int(dep.get("totalSteps") or len(dep.get("steps") or [])),
            actions_of(dep),
            str(dep["waiting"]) if dep.get("waiting") else None,
        )
        return Observation(False, False, progress)
    progress = Progress(ready, target, 0, 0)
    if delete:
        if app is None:
            return Observation(True, True, progress, "the app is gone")
        return Observation(
            True, False, progress, "the deployment ended but the app still exists (rolled back?)"
        )
    if app is None:
        return Observation(True, False, progress, "the app was deleted meanwhile")
    now_at = app.get("version")
    if version and now_at and now_at != version:
        newer = [str(d.get("id")) for d in app.get("deployments") or [] if isinstance(d, dict)]
        how = f" by deployment {', '.join(newer)}" if newer else ""
        return Observation(
            True,
            False,
            progress,
            f"the deployment was cancelled, rolled back or superseded: the app is now at "
            f"version {now_at}{how}, not {version}",
        )
    if ready < target:
        return Observation(
            True,
            False,
            progress,
            f"the deployment was stopped with only {ready}/{target} instances ready",
        )
    return Observation(True, True, progress, f"{ready}/{target} instances ready")


def queue_lines(queue: list[dict[str, Any]], app_id: str) -> list[str]:
    """The launch queue's entry for ``app_id`` as lines (count, delay, reason)."""
    out = []
    for item in queue:
        app = item.get("app") or {}
        if not isinstance(app, dict) or app.get("id") != app_id:
            continue
        delay = item.get("delay") or {}
        line = (
            f"{item.get('count', '?')} instance(s) waiting to launch since {item.get('since', '?')}"
        )
        left = delay.get("timeLeftSeconds") if isinstance(delay, dict) else None
        if left:
            line += f"; launch delayed {float(left):.0f} s more (backoff after failures)"
        offers = (item.get("processedOffersSummary") or {}).get("rejectSummaryLastOffers") or []
        why = item.get("reason") or next(
            (r.get("reason") for r in offers if isinstance(r, dict) and r.get("reason")), None
        )
        if why:
            line += f"; {why}"
        out.append(line)
    return out


__all__ = [
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_STUCK",
    "EXIT_USAGE",
    "Observation",
    "Progress",
    "actions_of",
    "health_message",
    "observe",
    "queue_lines",
    "ready_count",
    "task_healthy",
]
