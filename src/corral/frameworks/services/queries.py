"""What the API and the page read: views of the services state (pure, no I/O).

Each function reads the in-memory ``State`` (indexed by app), never the store, so listing
10,000 instances stays cheap; ``now`` is passed in where a view shows elapsed time.
"""

from __future__ import annotations

from corral.frameworks.services.appdef import AppDefinition
from corral.frameworks.services.backoff import delay_left
from corral.frameworks.services.codec import now_version
from corral.frameworks.services.state import App, Instance, State
from corral.frameworks.services.views import (
    AppView,
    DeploymentView,
    InstanceView,
    NotFound,
    QueueItem,
)


def iso(t: float | None) -> str | None:
    return now_version(t) if t else None


def instance_view(i: Instance) -> InstanceView:
    return InstanceView(
        i.task_id,
        i.app_id,
        i.version,
        i.agent_id,
        i.host,
        list(i.ports),
        i.state,
        iso(i.staged_at),
        iso(i.started_at),
        i.healthy,
        i.message,
    )


def app_view(st: State, app: App) -> AppView:
    d = app.goal or app.definition
    insts = list(app.instances.values())
    running = [i for i in insts if i.state == "TASK_RUNNING" and i.tracked]
    checked = bool(d.health_checks)
    return AppView(
        definition=app.definition,
        staged=sum(1 for i in insts if i.state in ("TASK_STAGING", "TASK_STARTING")),
        running=len(running),
        healthy=sum(1 for i in running if checked and i.healthy is True),
        unhealthy=sum(1 for i in running if checked and i.healthy is False),
        deployments=st.locks(app.app_id),
        instances=[instance_view(i) for i in insts],
        last_task_failure=app.last_task_failure,
        waiting=app.waiting,
    )


def apps(st: State) -> list[AppView]:
    return [app_view(st, a) for a in sorted(st.apps.values(), key=lambda a: a.app_id)
            if not a.deleting]  # fmt: skip


def app(st: State, app_id: str) -> AppView | None:
    a = st.apps.get(app_id)
    return None if a is None or a.deleting else app_view(st, a)


def versions(st: State, app_id: str) -> list[str]:
    a = st.apps.get(app_id)
    if a is None or a.deleting:
        raise NotFound.app(app_id)
    return list(a.versions)


def version(st: State, app_id: str, version: str) -> AppDefinition | None:
    a = st.apps.get(app_id)
    return None if a is None else a.defs.get(version)


def instances(st: State, app_id: str | None = None) -> list[InstanceView]:
    if not app_id:
        return [instance_view(i) for a in st.apps.values() for i in a.instances.values()]
    a = st.apps.get(app_id)
    return [instance_view(i) for i in a.instances.values()] if a is not None else []


def deployments(st: State, now: float) -> list[DeploymentView]:
    out = []
    for d in st.deployments.values():
        step = d.steps[d.current] if d.current < len(d.steps) else []
        reasons = [f"{a}: {st.apps[a].waiting}" for _, a in step
                   if a in st.apps and st.apps[a].waiting]  # fmt: skip
        why = None
        if reasons:
            waited = now - d.step_started_at
            why = f"step {d.current + 1} of {len(d.steps)} waiting {waited:.0f}s: " + \
                "; ".join(reasons)  # fmt: skip
        out.append(DeploymentView(d.id, d.version, d.affected, [list(x) for x in d.steps],
                                  min(d.current + 1, len(d.steps)), list(step),
                                  why, len(d.steps)))  # fmt: skip
    return out


def queue(st: State, now: float) -> list[QueueItem]:
    out = []
    for a in st.apps.values():
        if a.goal is None or a.deleting:
            continue
        have = sum(1 for i in a.instances.values() if i.tracked and not i.killing)
        count = max(0, a.goal.instances - have) or a.launch
        if count <= 0:
            continue
        left = delay_left(a.backoff, now)
        out.append(QueueItem(a.app_id, count, left, left <= 0, iso(a.waiting_since or now) or "",
                             a.waiting or "waiting for offers"))  # fmt: skip
    return out


def why(st: State, app_id: str) -> list[str]:
    a = st.apps.get(app_id)
    if a is None or a.deleting:
        raise NotFound.app(app_id)
    out = [r for r in (a.waiting or "").split("; ") if r]
    if a.unplaced and not any(a.unplaced in r for r in out):
        out.append(f"placement: {a.unplaced}")
    return out


__all__ = [
    "app",
    "app_view",
    "apps",
    "deployments",
    "instance_view",
    "instances",
    "iso",
    "queue",
    "version",
    "versions",
    "why",
]
