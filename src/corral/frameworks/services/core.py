"""The services framework's functional core: changes, instance updates and ticks in,
effects out (kills, records to persist, events to publish). It mutates ``State`` and does
no I/O; ``now`` is its only clock. The shell (``framework.py``) carries the effects out and
reads ``App.launch`` for the goals."""

from __future__ import annotations

from dataclasses import dataclass

from corral.frameworks.services import deployments as dp
from corral.frameworks.services import records as rec
from corral.frameworks.services.appdef import AppDefinition
from corral.frameworks.services.backoff import Backoff, delay_left, failed, is_failure
from corral.frameworks.services.codec import now_version, render_app
from corral.frameworks.services.replace import Member, kill_order, replace
from corral.frameworks.services.state import App, Instance, State, config_of, counts

AGENT_LOST = frozenset({"REASON_AGENT_REMOVED", "REASON_AGENT_DISCONNECTED",
                        "REASON_SLAVE_REMOVED", "REASON_SLAVE_DISCONNECTED"})
CONDITIONS = {"TASK_STAGING": "Staging", "TASK_STARTING": "Starting", "TASK_RUNNING": "Running",
              "TASK_KILLING": "Killing", "TASK_FINISHED": "Finished", "TASK_FAILED": "Failed",
              "TASK_KILLED": "Killed", "TASK_ERROR": "Error", "TASK_LOST": "Unreachable",
              "TASK_DROPPED": "Dropped", "TASK_UNREACHABLE": "Unreachable",
              "TASK_GONE": "Gone", "TASK_UNKNOWN": "Unknown"}

OFFER_PATIENCE = 3.0  # seconds before "waiting for offers" is said (a placement reason
#                       usually comes first)


@dataclass(frozen=True)
class Kill:
    task_id: str
    grace: float | None


@dataclass(frozen=True)
class Put:
    key: str
    data: bytes


@dataclass(frozen=True)
class Delete:
    key: str


@dataclass(frozen=True)
class Publish:
    event_type: str
    payload: dict[str, object]


@dataclass(frozen=True)
class Revive:
    pass


Effect = Kill | Put | Delete | Publish | Revive


def _ts(now: float) -> str:
    return now_version(now)


# ---------------------------------------------------------------------- deployments
def start_deployment(st: State, dep: rec.Deployment, now: float) -> list[Effect]:
    """A deployment whose records were persisted: take it on and begin its first step."""
    out: list[Effect] = []
    for app_id, new in dep.target.items():
        app = st.apps.get(app_id)
        if new is None:
            if app is not None:
                app.deleting = True
            continue
        if app is None:
            app = st.apps[app_id] = App(app_id, new, None)
            st.group_app[rec.group_of_app(app_id)] = app_id
        app.deleting = False
        app.definition = new
        add_version(app, new, out)
        app.backoff = Backoff()
    for tid in dep.kill_first:
        out += kill_instance(st, tid)
    st.deployments[dep.id] = dep
    out.append(Publish("group_change_success", {"groupId": "/", "version": dep.version}))
    out.append(Publish("deployment_info", {"plan": plan_json(dep),
                                           "currentStep": step_json(dep)}))
    out += begin_step(st, dep, now)
    return out


def add_version(app: App, d: AppDefinition, out: list[Effect]) -> None:
    v = d.version or ""
    app.defs[v] = d
    if v in app.versions:
        app.versions.remove(v)
    app.versions.insert(0, v)
    keep = {app.definition.version, app.goal.version if app.goal else None}
    keep |= {i.version for i in app.instances.values()}
    while len(app.versions) > rec.MAX_VERSIONS:
        old = next((x for x in reversed(app.versions) if x not in keep), None)
        if old is None:
            break
        app.versions.remove(old)
        app.defs.pop(old, None)
        out.append(Delete(rec.app_key(app.app_id, old)))


def begin_step(st: State, dep: rec.Deployment, now: float) -> list[Effect]:
    out: list[Effect] = []
    dep.step_started_at = now
    if dep.current >= len(dep.steps):
        return finish(st, dep, now)
    for _act, app_id in dep.steps[dep.current]:
        app = st.apps.get(app_id)
        if app is not None:
            app.goal = dep.target[app_id]
            out.append(Put(rec.head_key(app_id), rec.encode(app.head())))
    out.append(Put(rec.deployment_key(dep.id), rec.encode(dep)))
    for _act, app_id in dep.steps[dep.current]:
        out += converge(st, app_id, now)
    out.append(Revive())
    return out


def current_action(st: State, app_id: str) -> str | None:
    for dep in st.deployments.values():
        if dep.current < len(dep.steps):
            for act, a in dep.steps[dep.current]:
                if a == app_id:
                    return act
    return None


def action_done(st: State, act: str, app_id: str, now: float) -> bool:
    app = st.apps.get(app_id)
    if app is None:
        return True
    if act == dp.STOP:
        return not app.instances
    goal = app.goal
    if goal is None:
        return False
    cv = config_of(goal)
    insts = [i for i in app.instances.values() if not inactive(app, i, now)]
    if len(insts) != goal.instances:
        return False
    for i in insts:
        if i.killing or not counts(app.config_def(i.version) or goal, i):
            return False
        if act != dp.SCALE and i.version != cv:
            return False
    return True


def progress(st: State, now: float, only: set[str] | None = None) -> list[Effect]:
    out: list[Effect] = []
    for dep in list(st.deployments.values()):
        if dep.current >= len(dep.steps):
            continue
        if only is not None and not any(a in only for _, a in dep.steps[dep.current]):
            continue
        while dep.current < len(dep.steps) and all(
            action_done(st, act, a, now) for act, a in dep.steps[dep.current]
        ):
            out.append(Publish("deployment_step_success", {"plan": plan_json(dep),
                                                           "currentStep": step_json(dep)}))
            dep.current += 1
            out += begin_step(st, dep, now)
    return out


def finish(st: State, dep: rec.Deployment, now: float) -> list[Effect]:
    out: list[Effect] = []
    st.deployments.pop(dep.id, None)
    for app_id, new in dep.target.items():
        app = st.apps.get(app_id)
        if app is None:
            continue
        if new is None and app.deleting and not st.locks(app_id):
            out += remove_app(st, app)
        elif not app.deleting:
            out.append(Put(rec.head_key(app_id), rec.encode(app.head())))
    out.append(Delete(rec.deployment_key(dep.id)))
    out.append(Publish("deployment_success", {"id": dep.id, "plan": plan_json(dep)}))
    return out


def remove_app(st: State, app: App) -> list[Effect]:
    out: list[Effect] = [Delete(rec.head_key(app.app_id))]
    out += [Delete(rec.app_key(app.app_id, v)) for v in app.defs]
    for i in list(app.instances.values()):
        st.task_app.pop(i.task_id, None)
        out.append(Delete(rec.instance_key(i.task_id)))
    del st.apps[app.app_id]
    st.group_app.pop(rec.group_of_app(app.app_id), None)
    st.watch.discard(app.app_id)
    st.dirty.add(app.app_id)
    out.append(Publish("app_terminated_event", {"appId": app.app_id}))
    return out


def cancel(st: State, dep_id: str, now: float) -> list[Effect]:
    """Stop a deployment where it is (force): the apps keep their current goals."""
    dep = st.deployments.pop(dep_id)
    out: list[Effect] = []
    for app_id in dep.target:
        app = st.apps.get(app_id)
        if app is None:
            continue
        if app.deleting and not st.locks(app_id):
            app.goal = None  # a cancelled delete still deletes what it stopped
            st.watch.add(app_id)
        out.append(Put(rec.head_key(app_id), rec.encode(app.head())))
        out += converge(st, app_id, now)
    out.append(Delete(rec.deployment_key(dep_id)))
    out.append(Publish("deployment_failed", {"id": dep_id, "plan": plan_json(dep)}))
    return out


def plan_json(dep: rec.Deployment) -> dict[str, object]:
    def group(defs: dict[str, AppDefinition | None]) -> dict[str, object]:
        return {"id": "/", "apps": [render_app(d) for d in defs.values() if d is not None],
                "groups": [], "dependencies": [], "version": dep.version}

    return {
        "id": dep.id, "version": dep.version,
        "original": group(dep.original), "target": group(dep.target),
        "steps": [{"actions": [{"action": a, "app": x} for a, x in s]} for s in dep.steps],
    }


def step_json(dep: rec.Deployment) -> dict[str, object]:
    step = dep.steps[dep.current] if dep.current < len(dep.steps) else []
    return {"actions": [{"action": a, "app": x} for a, x in step]}


# ---------------------------------------------------------------------- instances
def inactive(app: App, i: Instance, now: float) -> bool:
    """An unreachable instance whose replacement is due (it no longer counts)."""
    if i.unreachable_since is None:
        return False
    strategy = (app.goal or app.definition).unreachable_strategy
    if strategy is None:
        return not i.tracked  # disabled: waits for the agent (a lost agent's is gone)
    return now >= i.unreachable_since + strategy.inactive_after_seconds


def kill_instance(st: State, task_id: str) -> list[Effect]:
    app = st.apps.get(st.task_app.get(task_id, ""))
    if app is None:
        return []
    i = app.instances.get(task_id)
    if i is None or i.killing:
        return []
    if not i.tracked:
        del app.instances[task_id]
        st.task_app.pop(task_id, None)
        return [Delete(rec.instance_key(task_id))]
    i.killing = True
    d = app.config_def(i.version) or app.definition
    return [Kill(task_id, d.task_kill_grace_period_seconds)]


def launched(st: State, app_id: str, task_id: str, agent_id: str, host: str,
             ports: list[int], now: float) -> list[Effect]:
    app = st.apps[app_id]
    goal = app.goal or app.definition
    i = Instance(task_id, app_id, config_of(goal), agent_id, host, list(ports), staged_at=now)
    app.instances[task_id] = i
    st.task_app[task_id] = app_id
    app.launch = max(0, app.launch - 1)
    return [Put(rec.instance_key(task_id),
                rec.encode(rec.InstanceVersion(app_id=app_id, version=i.version)))]


def adopt(st: State, task_id: str, version: str | None, agent_id: str | None, host: str,
          ports: list[int], state: str, healthy: bool | None, staged_at: float) -> bool:
    """A tracked task (loaded or adopted): index it under its app. False: no such app."""
    app_id = st.group_app.get(task_id.rpartition(".")[0])
    app = st.apps.get(app_id or "")
    if app is None:
        return False
    v = version or config_of(app.goal or app.definition)
    app.instances[task_id] = Instance(task_id, app.app_id, v, agent_id, host, list(ports),
                                      state, staged_at, staged_at if state == "TASK_RUNNING"
                                      else None, healthy)
    st.task_app[task_id] = app.app_id
    return True


def updated(st: State, task_id: str, state: str, *, healthy: bool | None, message: str | None,
            reason: str | None, agent_id: str | None, ended: bool, killed: bool,
            now: float) -> list[Effect]:
    app = st.apps.get(st.task_app.get(task_id, ""))
    if app is None:
        return []
    i = app.instances.get(task_id)
    if i is None:
        return []
    out: list[Effect] = []
    before, was_healthy = i.state, i.healthy
    i.state, i.message = state, message
    if healthy is not None:
        i.healthy = healthy
    if agent_id:
        i.agent_id = agent_id
    if state == "TASK_RUNNING" and i.started_at is None:
        i.started_at = now
    ts = _ts(now)
    out.append(Publish("status_update_event", {
        "slaveId": i.agent_id or "", "taskId": task_id, "taskStatus": state,
        "message": message or "", "appId": app.app_id, "host": i.host, "ipAddresses": [],
        "ports": i.ports, "version": i.version, "timestamp": ts}))
    if before != state:
        out.append(Publish("instance_changed_event", {
            "instanceId": task_id, "condition": CONDITIONS.get(state, "Unknown"),
            "runSpecId": app.app_id, "agentId": i.agent_id or "", "host": i.host,
            "runSpecVersion": i.version, "timestamp": ts}))
    if healthy is not None and healthy != was_healthy:
        out.append(Publish("health_status_changed_event", {
            "appId": app.app_id, "instanceId": task_id, "taskId": task_id,
            "version": i.version, "alive": healthy, "timestamp": ts}))
    if state == "TASK_UNREACHABLE" and not ended:
        i.unreachable_since = i.unreachable_since or now
        st.watch.add(app.app_id)
    elif not ended:
        i.unreachable_since = None
    if ended:
        strategy = (app.goal or app.definition).unreachable_strategy
        lost = reason in AGENT_LOST and not killed and not i.killing
        if lost and strategy is not None and strategy.expunge_after_seconds > 0:
            i.tracked, i.state = False, "TASK_UNREACHABLE"  # a placeholder until expunged
            i.unreachable_since = now
            st.watch.add(app.app_id)
        else:
            del app.instances[task_id]
            st.task_app.pop(task_id, None)
            out.append(Delete(rec.instance_key(task_id)))
        if is_failure(state, killed or i.killing):
            d = app.config_def(i.version) or app.definition
            app.backoff = failed(app.backoff, d, now)
            app.last_task_failure = {
                "appId": app.app_id, "host": i.host, "message": message or "",
                "state": state, "taskId": task_id, "timestamp": ts, "version": i.version,
                "slaveId": i.agent_id or ""}
            st.watch.add(app.app_id)
            out.append(Put(rec.head_key(app.app_id), rec.encode(app.head())))
    out += converge(st, app.app_id, now)
    out += progress(st, now, {app.app_id})
    return out


# ---------------------------------------------------------------------- converge
def converge(st: State, app_id: str, now: float) -> list[Effect]:
    """Decide the app's launches and kills from its goal, instances and deployment."""
    app = st.apps.get(app_id)
    if app is None:
        return []
    st.dirty.add(app_id)
    out: list[Effect] = []
    goal = app.goal
    if goal is None:
        for i in list(app.instances.values()):
            out += kill_instance(st, i.task_id)
        app.launch, app.waiting = 0, None
        if app.deleting:
            st.watch.add(app_id)
        return out
    strategy = goal.unreachable_strategy
    watch = False
    for i in list(app.instances.values()):
        if i.unreachable_since is None:
            continue
        watch = True
        if strategy is not None and now >= i.unreachable_since + strategy.expunge_after_seconds:
            out += kill_instance(st, i.task_id)
    cv = config_of(goal)
    n = goal.instances
    live = [i for i in app.instances.values() if i.tracked and not i.killing
            and not inactive(app, i, now)]
    held = sum(1 for i in app.instances.values() if not i.tracked and not inactive(app, i, now))

    def member(i: Instance) -> Member:
        return Member(i.task_id, counts(app.config_def(i.version) or goal, i), i.staged_at)

    act = current_action(st, app_id)
    moving = {i.task_id for i in live if i.agent_id in st.draining}
    rolling = act in (dp.START, dp.RESTART)
    if rolling or moving:
        # An instance on a draining agent is replaced like one of an old version: its
        # replacement starts elsewhere before it is killed.
        def is_new(i: Instance) -> bool:
            return i.task_id not in moving and (i.version == cv or not rolling)

        old = [member(i) for i in live if not is_new(i)]
        new = [member(i) for i in live if is_new(i)]
        dec = replace(n, goal.upgrade_strategy.minimum_health_capacity,
                      goal.upgrade_strategy.maximum_over_capacity, old, new,
                      old_terminating=held, kill_selection=goal.kill_selection)
        launch, kills = dec.launch, list(dec.kill)
        if moving:
            watch = True
    else:
        total = len(live) + held
        kills = []
        if total > n:
            order = kill_order([member(i) for i in live], goal.kill_selection)
            kills = [m.task_id for m in order[: total - n]]
        launch = max(0, n - total)
    for tid in kills:
        out += kill_instance(st, tid)
    left = delay_left(app.backoff, now)
    if launch > 0 and left > 0:
        launch, watch = 0, True
    elif app.backoff.delay_until > 0 and left <= 0:
        app.backoff.delay_until = 0.0
    app.launch = launch
    if launch == 0:
        app.demand_since = None
    elif app.demand_since is None:
        app.demand_since = now
    app.waiting = waiting(st, app, now, cv, n, left)
    if app.waiting and app.waiting_since is None:
        app.waiting_since = now
    elif not app.waiting:
        app.waiting_since = None
    if watch or app.waiting:
        st.watch.add(app_id)
    else:
        st.watch.discard(app_id)
    if launch > 0:
        out.append(Revive())
    return out


def never_fits(st: State, d: AppDefinition) -> str | None:
    if not st.totals:
        return None
    for name, need in (("cpus", d.cpus), ("mem", d.mem), ("disk", d.disk), ("gpus", d.gpus)):
        largest = max((t.get(name, 0.0) for t in st.totals.values()), default=0.0)
        if need > 0 and largest < need:
            return (f"can never be placed: needs {name} {need:g}, the largest agent has "
                    f"{largest:g} in total")
    return None


def waiting(st: State, app: App, now: float, cv: str, n: int, left: float) -> str | None:
    goal = app.goal
    if goal is None:
        return None
    insts = [i for i in app.instances.values() if not i.killing]
    new = [i for i in insts if i.version == cv and i.tracked]
    ok = [i for i in new if counts(goal, i)]
    olds = [i for i in app.instances.values() if i.version != cv]
    act = current_action(st, app.app_id)
    moving = [i for i in insts if i.agent_id in st.draining]
    if len(ok) >= n and not moving and (not olds or act not in (dp.START, dp.RESTART)):
        return None
    reasons: list[str] = []
    missing = n - len(new)
    if missing > 0:
        fits = never_fits(st, goal)
        if fits:
            reasons.append(fits)
        elif left > 0:
            why = ""
            if app.last_task_failure:
                why = f": last {app.last_task_failure.get('state')} " \
                      f"{app.last_task_failure.get('message') or ''}".rstrip()
            reasons.append(f"backoff: next launch in {left:.0f}s after "
                           f"{app.backoff.failures} failed task(s){why}")
        elif app.unplaced:
            reasons.append(f"{missing} of {n} instances cannot be placed: {app.unplaced}")
        elif app.launch > 0 and now - (app.demand_since or now) >= OFFER_PATIENCE:
            reasons.append(f"waiting for offers to launch {app.launch} of {n} instances")
    staging = [i for i in new if i.state in ("TASK_STAGING", "TASK_STARTING")]
    if staging:
        reasons.append(f"{len(staging)} of {n} new instances starting")
    unhealthy = [i for i in new if i.state == "TASK_RUNNING" and not counts(goal, i)]
    if unhealthy:
        msg = next((i.message for i in reversed(unhealthy) if i.message), None)
        reasons.append(f"{len(unhealthy)} of {n} new instances unhealthy"
                       + (f": {msg}" if msg else ""))
    unreachable = [i for i in app.instances.values() if i.unreachable_since is not None]
    if unreachable:
        reasons.append(f"{len(unreachable)} instance(s) unreachable (agent lost)")
    if moving:
        reasons.append(f"{len(moving)} instance(s) moving off a draining agent")
    if olds and act in (dp.START, dp.RESTART) and not reasons:
        reasons.append(f"{len(olds)} old instance(s) still to replace")
    return "; ".join(reasons) or None


def tick(st: State, now: float) -> list[Effect]:
    out: list[Effect] = []
    for app_id in list(st.watch):
        app = st.apps.get(app_id)
        if app is not None and app.deleting and not app.instances and not st.locks(app_id):
            out += remove_app(st, app)  # a delete whose deployment was cancelled
            continue
        out += converge(st, app_id, now)
    out += progress(st, now)
    return out


def agent_draining(st: State, offer_id: str, agent_id: str, now: float) -> list[Effect]:
    """An inverse offer: the master wants ``agent_id`` back. Every app with an instance
    there replaces it elsewhere (as a rolling restart would), then it is killed."""
    st.draining[agent_id] = offer_id
    out: list[Effect] = []
    for app in st.apps.values():
        if any(i.agent_id == agent_id for i in app.instances.values()):
            out += converge(st, app.app_id, now)
    return out


def agent_returned(st: State, offer_id: str) -> None:
    """The inverse offer was rescinded (the agent was reactivated, or is drained)."""
    for agent_id, oid in list(st.draining.items()):
        if oid == offer_id:
            del st.draining[agent_id]
    st.moved.discard(offer_id)


def moved(st: State) -> list[str]:
    """Inverse offers whose agent no instance of ours is left on: to accept (once)."""
    out = []
    for agent_id, oid in st.draining.items():
        if oid in st.moved:
            continue
        if not any(
            i.agent_id == agent_id for app in st.apps.values() for i in app.instances.values()
        ):
            st.moved.add(oid)
            out.append(oid)
    return out


def placement(st: State, unplaced: dict[str, str], now: float) -> list[Effect]:
    """The toolkit's last placement reasons, by group."""
    out: list[Effect] = []
    for app in st.apps.values():
        reason = unplaced.get(rec.group_of_app(app.app_id))
        if reason != app.unplaced:
            app.unplaced = reason
            out += converge(st, app.app_id, now)
    return out


__all__ = ["Delete", "Effect", "Kill", "Publish", "Put", "Revive", "adopt", "cancel",
           "converge", "kill_instance", "launched", "placement", "progress",
           "start_deployment", "tick", "updated"]
