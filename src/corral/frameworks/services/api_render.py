"""The facade's views as Marathon's JSON, cheaply (``GET /v2/apps`` at 10,000 instances).

An app's definition is immutable per version, so its JSON is encoded once and kept (keyed
by id and version); a listing splices the counts, deployments and tasks onto those bytes.
Tasks are msgspec Structs encoded in one call. Only the keys the marathon 0.13.0 client's
strict models accept are emitted (reference §2.3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from corral.frameworks.services.appdef import AppDefinition
from corral.frameworks.services.events import timestamp
from corral.frameworks.services.views import AppView, DeploymentView, InstanceView, QueueItem

_encoder = msgspec.json.Encoder()

# marathon/models/app.py MarathonTaskFailure's keys
TASK_FAILURE_KEYS = (
    "appId",
    "host",
    "message",
    "taskId",
    "instanceId",
    "slaveId",
    "state",
    "timestamp",
    "version",
)


class IpAddress(msgspec.Struct, rename="camel"):
    ip_address: str
    protocol: str = "IPv4"


class HealthResult(msgspec.Struct, rename="camel", omit_defaults=False):
    alive: bool
    consecutive_failures: int
    first_success: str | None
    last_success: str | None
    last_failure: str | None
    last_failure_cause: str | None
    task_id: str


class TaskJson(msgspec.Struct, rename="camel", omit_defaults=False):
    """Marathon's task JSON (marathon/models/task.py keys only)."""

    id: str
    app_id: str
    host: str
    ports: list[int]
    service_ports: list[int]
    slave_id: str
    state: str
    staged_at: str | None
    started_at: str | None
    version: str | None
    ip_addresses: list[IpAddress]
    health_check_results: list[HealthResult]
    local_volumes: list[Any]


def ts(value: object) -> str | None:
    """A view's time (epoch seconds or an ISO string) as Marathon's timestamp."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return timestamp(float(value)) if value > 0 else None
    return str(value)


def task_json(t: InstanceView, service_ports: list[int] | None = None) -> TaskJson:
    health: list[HealthResult] = []
    if t.healthy is not None:
        health.append(
            HealthResult(
                alive=bool(t.healthy),
                consecutive_failures=0 if t.healthy else 1,
                first_success=None,
                last_success=None,
                last_failure=None,
                last_failure_cause=None if t.healthy else t.health_message,
                task_id=t.task_id,
            )
        )
    return TaskJson(
        id=t.task_id,
        app_id=t.app_id,
        host=t.host or "",
        ports=list(t.ports),
        service_ports=service_ports or [],
        slave_id=t.agent_id or "",
        state=t.state,
        staged_at=ts(t.staged_at),
        started_at=ts(t.started_at),
        version=t.version,
        ip_addresses=[IpAddress(t.host)] if t.host else [],
        health_check_results=health,
        local_volumes=[],
    )


def tasks_bytes(tasks: Iterable[InstanceView], service_ports: list[int] | None = None) -> bytes:
    return _encoder.encode([task_json(t, service_ports) for t in tasks])


def service_ports(d: AppDefinition) -> list[int]:
    """The app's service ports (its portDefinitions' or portMappings' ``port``s)."""
    if d.container is not None and d.container.port_mappings:
        return [m.service_port for m in d.container.port_mappings]
    return [p.port for p in d.port_definitions]


def task_failure(failure: dict[str, Any] | None) -> dict[str, Any] | None:
    if not failure:
        return None
    return {k: failure[k] for k in TASK_FAILURE_KEYS if k in failure}


class AppRenderer:
    """Renders AppViews, keeping each definition's encoded JSON (at most ``size``)."""

    def __init__(
        self, render_app: Callable[[AppDefinition], dict[str, object]], size: int = 20_000
    ) -> None:
        self.render_app = render_app
        self.size = size
        self._cache: dict[tuple[str, str], bytes] = {}

    def definition(self, d: AppDefinition) -> bytes:
        """The definition's JSON without its closing brace (so keys can be appended)."""
        if d.version is None:
            return _encoder.encode(self.render_app(d))[:-1]
        key = (d.id, d.version)
        got = self._cache.get(key)
        if got is None:
            got = _encoder.encode(self.render_app(d))[:-1]
            if len(self._cache) >= self.size:
                for old in list(self._cache)[: self.size // 4]:  # oldest first
                    del self._cache[old]
            self._cache[key] = got
        return got

    def definition_json(self, d: AppDefinition) -> bytes:
        return self.definition(d) + b"}"

    def app(self, view: AppView, embed: frozenset[str] = frozenset()) -> bytes:
        """AppInfo: the definition, its counts and deployments always; ``tasks`` and
        ``lastTaskFailure`` when embedded."""
        head = self.definition(view.definition)
        parts = [
            head,
            b"," if len(head) > 1 else b"",
            b'"tasksStaged":%d,"tasksRunning":%d,"tasksHealthy":%d,"tasksUnhealthy":%d'
            % (view.staged, view.running, view.healthy, view.unhealthy),
            b',"deployments":',
            _encoder.encode([{"id": d} for d in view.deployments]),
        ]
        if "tasks" in embed:
            ports = service_ports(view.definition)
            parts += [b',"tasks":', tasks_bytes(view.instances, ports)]
        if "lastTaskFailure" in embed:
            failure = task_failure(view.last_task_failure)
            if failure is not None:
                parts += [b',"lastTaskFailure":', _encoder.encode(failure)]
        parts.append(b"}")
        return b"".join(parts)

    def apps(self, views: Iterable[AppView], embed: frozenset[str] = frozenset()) -> bytes:
        return b'{"apps":[' + b",".join(self.app(v, embed) for v in views) + b"]}"


def deployment_json(d: DeploymentView, *, why: bool = False) -> dict[str, Any]:
    """Marathon's deployment object (marathon/models/deployment.py keys). ``why`` adds
    corral's ``waiting`` (the reason the step is not done), which strict clients reject,
    so it is only there when asked for (``?embed=why``)."""
    out: dict[str, Any] = {
        "id": d.id,
        "version": d.version,
        "affectedApps": list(d.affected_apps),
        "affectedPods": [],
        "steps": [
            {"actions": [{"action": action, "app": app} for action, app in step]}
            for step in d.steps
        ],
        "currentActions": [
            {"action": action, "app": app, "readinessCheckResults": []}
            for action, app in d.current_actions
        ],
        "currentStep": d.current_step,
        "totalSteps": len(d.steps),
    }
    if why:
        out["waiting"] = d.waiting
    return out


def queue_item_json(item: QueueItem, app_json: bytes, *, why: bool = False) -> bytes:
    """A ``/v2/queue`` entry. Why the app is not placed goes in ``processedOffersSummary``
    (free-form for the client): ``rejectSummaryLastOffers[].reason`` holds the text; with
    ``why`` (``?embed=why``) also in corral's ``reason``, which strict clients reject."""
    rest: dict[str, Any] = {
        "count": item.count,
        "delay": {"timeLeftSeconds": max(0, round(item.delay_left)), "overdue": item.overdue},
        "overdue": item.overdue,
        "since": ts(item.since),
        "processedOffersSummary": {
            "processedOffersCount": 0,
            "unusedOffersCount": 0,
            "rejectSummaryLastOffers": (
                [{"reason": item.reason, "declined": 1, "processed": 1}] if item.reason else []
            ),
            "rejectSummaryLaunchAttempt": [],
        },
        "lastUnusedOffers": [],
    }
    if why:
        rest["reason"] = item.reason
    return b'{"app":' + app_json + b"," + _encoder.encode(rest)[1:]


__all__ = [
    "AppRenderer",
    "HealthResult",
    "TaskJson",
    "deployment_json",
    "queue_item_json",
    "service_ports",
    "task_failure",
    "task_json",
    "tasks_bytes",
    "ts",
]
