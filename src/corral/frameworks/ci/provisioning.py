"""The ci framework's provisioning rules (pure): when to create, keep and remove agents.

State in, event in, decisions out: ``handle(state, event, now) -> list[Decision]``. Nothing
here reads a clock, touches a socket or sleeps; the shell feeds events (demand reported, an
agent asked for or released, an agent's busy/idle report, its task launched, running or
ended, a tick) with the time, and carries the decisions out (a ``create`` leaves a
``pending`` agent for the shell to launch when an offer fits; a ``remove`` with a task id
is a kill).

The rules (after Jenkins's NodeProvisioner and the mesos plugin's retention strategy):

* **Demand** is a level: "N builds need labels L" (``SetDemand``), each build a unit that
  arrived at some time. Units are matched, oldest first, to free executors of agents whose
  template has the labels (pending and starting agents count: they are coming). A unit left
  over is *starving*.
* A starving unit gets a new agent only once it has waited the template's
  ``provision-delay``; one agent takes ``executors`` starving units. The template is the
  first in the file that has the labels and is below its ``max``; a template never has more
  than ``max`` agents (those being removed included), and at least ``min`` are kept.
* A **named** agent (``RequestAgent``: a Buildbot latent worker) is its own unit: after the
  template's provision-delay it gets an agent of its own, with the environment it asked for.
* An agent idle for ``idle-termination`` seconds is removed, unless work waits for it or
  the template's ``min`` keeps it. A busy agent is never removed: asked to go
  (``ReleaseAgent``/``RemoveAgent``) it is *draining* until it reports idle.
* Every decision carries its reason; waits (provision-delay not over, at the maximum, no
  template with the labels, cluster full) and keeps are reported once each time their
  reason changes, not on every tick.
"""

from __future__ import annotations

import math

from corral.frameworks.ci.model import (
    LIVE,
    Agent,
    CiState,
    Decision,
    DecisionKind,
    Demand,
    Ended,
    Event,
    Launched,
    Placed,
    Refused,
    ReleaseAgent,
    Report,
    Request,
    RequestAgent,
    Running,
    SetDemand,
    Tick,
    Unplaced,
    agent_sort_key,
)
from corral.frameworks.ci.templates import CiConfig, Template


# ---------------------------------------------------------------------- handle
def handle(state: CiState, event: Event, now: float) -> list[Decision]:
    out: list[Decision] = []
    if isinstance(event, SetDemand):
        _set_demand(state, event, now)
    elif isinstance(event, RequestAgent):
        _request(state, event, now, out)
    elif isinstance(event, ReleaseAgent):
        _release(state, event, now, out)
    elif isinstance(event, Report):
        _report(state, event, now)
    elif isinstance(event, Launched):
        a = state.agents.get(event.name)
        if a is not None and a.state == "pending":
            a.state = "starting"
            a.task_id, a.agent_id, a.hostname = event.task_id, event.agent_id, event.hostname
            a.note = f"launched on {event.hostname or event.agent_id}"
    elif isinstance(event, Running):
        a = state.agents.get(event.name)
        if a is not None and a.state == "starting":
            a.state = "busy" if a.busy else "idle"
            a.idle_since = now
            a.note = "running"
    elif isinstance(event, Ended):
        _ended(state, event, now, out)
    elif isinstance(event, Unplaced):
        state.unplaced[event.template] = event.reason
        for a in state.of_template(event.template):
            if a.state == "pending":
                a.note = f"waiting for resources: {event.reason}"
        _say(
            state,
            now,
            out,
            "wait",
            event.template,
            None,
            f"cluster full: waiting for resources ({event.reason})",
            subject=f"full:{event.template}",
        )
    elif isinstance(event, Placed):
        state.unplaced.pop(event.template, None)
        state.said.pop(f"full:{event.template}", None)
    _evaluate(state, now, out)
    state.log.extend(out)
    return out


def _set_demand(state: CiState, ev: SetDemand, now: float) -> None:
    if ev.count < 0:
        raise Refused(422, f"count: must be at least 0, not {ev.count}")
    key = (ev.source, ev.labels)
    d = state.demand.setdefault(key, Demand(ev.labels))
    if ev.count > len(d.units):
        d.units += [now] * (ev.count - len(d.units))
    else:
        # Builds leave a queue oldest first (they start, or are cancelled).
        del d.units[: len(d.units) - ev.count]
    if not d.units:
        del state.demand[key]


def _request(state: CiState, ev: RequestAgent, now: float, out: list[Decision]) -> None:
    t = state.config.template(ev.template)
    if t is None:
        known = ", ".join(x.name for x in state.config.templates)
        raise Refused(422, f"template: no template {ev.template!r} (known: {known})")
    if not ev.name:
        raise Refused(422, "name: must not be empty")
    if ev.name in state.agents or ev.name in state.requests:
        a = state.agents.get(ev.name)
        if a is not None and a.state in ("draining", "removing"):
            raise Refused(409, f"agent {ev.name!r} is still {a.state}: ask again once it is gone")
        return  # asked again (a retry): the agent or request stands
    state.ended.pop(ev.name, None)
    state.requests[ev.name] = Request(ev.name, t.name, dict(ev.env), now)


def _release(state: CiState, ev: ReleaseAgent, now: float, out: list[Decision]) -> None:
    if ev.name in state.requests:
        r = state.requests.pop(ev.name)
        state.said.pop(f"req:{r.name}", None)
        out.append(Decision(now, "remove", r.template, f"{ev.why} before it was made", r.name))
        return
    a = state.agents.get(ev.name)
    if a is None:
        raise Refused(404, f"no agent {ev.name!r}")
    if a.state in ("draining", "removing"):
        return
    if a.busy > 0:
        a.state = "draining"
        a.note = f"draining: {ev.why} while busy; removed once idle"
        out.append(Decision(now, "drain", a.template, a.note, a.name))
        return
    _remove(state, a, now, out, ev.why)


def _report(state: CiState, ev: Report, now: float) -> None:
    a = state.agents.get(ev.name)
    if a is None:
        raise Refused(404, f"no agent {ev.name!r}")
    t = state.config.template(a.template)
    executors = t.executors if t else 1
    if ev.busy < 0:
        raise Refused(422, f"busy: must be at least 0, not {ev.busy}")
    busy = min(ev.busy, executors)
    was = a.busy
    a.busy = busy
    if busy == 0 and (was > 0 or a.idle_since is None):
        a.idle_since = now
    if a.state in ("starting", "idle", "busy"):
        a.state = "busy" if busy else "idle"
        a.note = f"{busy} of {executors} executors busy" if busy else "idle"


def _ended(state: CiState, ev: Ended, now: float, out: list[Decision]) -> None:
    a = state.agents.pop(ev.name, None)
    if a is None:
        return
    how = ev.state + (f": {ev.message}" if ev.message else "")
    state.ended[a.name] = how
    while len(state.ended) > 200:
        del state.ended[next(iter(state.ended))]
    if a.state != "removing":
        out.append(Decision(now, "gone", a.template, f"its task ended ({how})", a.name))


def _remove(state: CiState, a: Agent, now: float, out: list[Decision], why: str) -> None:
    if a.task_id is None:  # never launched: nothing runs
        del state.agents[a.name]
        state.ended[a.name] = f"removed before launch: {why}"
    else:
        a.state = "removing"
        a.note = f"removing: {why}"
    out.append(Decision(now, "remove", a.template, why, a.name, a.task_id, a.agent_id))


def _create(
    state: CiState,
    t: Template,
    now: float,
    out: list[Decision],
    reason: str,
    name: str | None = None,
    env: dict[str, str] | None = None,
) -> Agent:
    if name is None:
        state.counter += 1
        name = f"{t.name}-{state.counter}"
        while name in state.agents:
            state.counter += 1
            name = f"{t.name}-{state.counter}"
    a = Agent(
        name=name,
        template=t.name,
        created_at=now,
        named=env is not None,
        env=dict(env or {}),
        reason=reason,
        note=f"waiting for resources: {state.unplaced[t.name]}"
        if t.name in state.unplaced
        else "waiting for an offer",
    )
    state.agents[name] = a
    out.append(Decision(now, "create", t.name, reason, name))
    return a


def _say(
    state: CiState,
    now: float,
    out: list[Decision],
    kind: DecisionKind,
    template: str,
    agent: str | None,
    reason: str,
    *,
    subject: str,
    same: str | None = None,
) -> None:
    """A wait or keep, said once per change of its reason (or of ``same``, when the reason
    has a countdown in it)."""
    key = same if same is not None else reason
    if state.said.get(subject) != key:
        state.said[subject] = key
        out.append(Decision(now, kind, template, reason, agent))


# ---------------------------------------------------------------------- the rules
def _evaluate(state: CiState, now: float, out: list[Decision]) -> None:
    templates = state.config.templates
    # Agents of a template no longer configured (read back after a restart) go: drained
    # first when busy.
    for a in list(state.agents.values()):
        if state.config.template(a.template) is None and a.state in LIVE:
            if a.busy > 0:
                a.state = "draining"
                a.note = f"draining: template {a.template} is no longer configured"
                out.append(Decision(now, "drain", a.template, a.note, a.name))
            else:
                _remove(state, a, now, out, f"template {a.template} is no longer configured")
    # Draining agents that went idle go now.
    for a in list(state.agents.values()):
        if a.state == "draining" and a.busy == 0:
            _remove(state, a, now, out, "drained: no build runs on it any more")
    # Each template's minimum.
    for t in templates:
        generic = [a for a in state.of_template(t.name) if not a.named and a.state in LIVE]
        total = len(state.of_template(t.name))
        for _ in range(max(0, min(t.min - len(generic), t.max - total))):
            _create(state, t, now, out, f"keeps its minimum of {t.min} agents")
    claimed = _provision(state, now, out)
    # Named requests: each its own agent.
    for r in sorted(state.requests.values(), key=lambda r: (r.since, r.name)):
        rt = state.config.template(r.template)
        assert rt is not None
        t = rt
        total = len(state.of_template(t.name))
        if total >= t.max:
            _say(
                state,
                now,
                out,
                "wait",
                t.name,
                r.name,
                f"{r.name} waits: template {t.name} is at its maximum of {t.max} agents",
                subject=f"req:{r.name}",
            )
        elif now - r.since >= t.provision_delay:
            del state.requests[r.name]
            state.said.pop(f"req:{r.name}", None)
            waited = f"after {now - r.since:.0f} s" if t.provision_delay else "at once"
            _create(
                state,
                t,
                now,
                out,
                f"asked for by name ({waited}; provision-delay {t.provision_delay:g} s)",
                name=r.name,
                env=r.env,
            )
        else:
            _say(
                state,
                now,
                out,
                "wait",
                t.name,
                r.name,
                f"{r.name} waits for provision-delay ({t.provision_delay:g} s) before an "
                "agent is made",
                subject=f"req:{r.name}",
            )
    # Idle agents past their idle-termination.
    for a in sorted(state.agents.values(), key=lambda a: (a.created_at, a.name)):
        at = state.config.template(a.template)
        if at is None or a.state != "idle" or a.idle_since is None or at.idle_termination <= 0:
            continue
        t = at
        idle = now - a.idle_since
        if idle < t.idle_termination:
            continue
        generic = [x for x in state.of_template(t.name) if not x.named and x.state in LIVE]
        if a.name in claimed:
            _say(
                state,
                now,
                out,
                "keep",
                t.name,
                a.name,
                f"idle {idle:.0f} s, kept: queued work can run on it",
                subject=f"keep:{a.name}",
            )
        elif not a.named and len(generic) <= t.min:
            _say(
                state,
                now,
                out,
                "keep",
                t.name,
                a.name,
                f"idle, kept: template {t.name} keeps at least {t.min} agents",
                subject=f"keep:{a.name}",
            )
        else:
            state.said.pop(f"keep:{a.name}", None)
            _remove(
                state,
                a,
                now,
                out,
                f"idle for {idle:.0f} s (idle-termination {t.idle_termination:g} s)",
            )


def _free_slots(state: CiState) -> list[tuple[Agent, Template, int]]:
    order = {"idle": 0, "busy": 1, "starting": 2, "pending": 3}
    slots = []
    for a in sorted(state.agents.values(), key=lambda a: (order.get(a.state, 9), a.created_at)):
        t = state.config.template(a.template)
        if t is None or a.named or a.state not in LIVE:
            continue
        free = t.executors - a.busy if a.state in ("idle", "busy") else t.executors
        if free > 0:
            slots.append((a, t, free))
    return slots


def _claim(state: CiState) -> tuple[set[str], list[tuple[float, frozenset[str]]]]:
    """Match waiting units, oldest first, to free executors; the claimed agents and the
    starving units."""
    units = sorted((since, d.labels) for d in state.demand.values() for since in d.units)
    slots = [[a, t, free] for a, t, free in _free_slots(state)]
    claimed: set[str] = set()
    starving: list[tuple[float, frozenset[str]]] = []
    for since, labels in units:
        for slot in slots:
            a, t, free = slot
            assert isinstance(a, Agent) and isinstance(t, Template) and isinstance(free, int)
            if free > 0 and t.serves(labels):
                slot[2] = free - 1
                claimed.add(a.name)
                break
        else:
            starving.append((since, labels))
    return claimed, starving


def _labels_text(labels: frozenset[str]) -> str:
    return ",".join(sorted(labels)) if labels else "(any)"


def _provision(state: CiState, now: float, out: list[Decision]) -> set[str]:
    """Create agents for starving units that waited their provision-delay. Returns the
    agents that waiting work will run on."""
    said_now: set[str] = set()
    for _ in range(state.waiting_units() + 1):
        claimed, starving = _claim(state)
        created = False
        for since, labels in starving:
            serving = [t for t in state.config.templates if t.serves(labels)]
            subject = f"labels:{_labels_text(labels)}"
            n = sum(1 for _, lab in starving if lab == labels)
            if not serving:
                said_now.add(subject)
                _say(
                    state,
                    now,
                    out,
                    "wait",
                    "",
                    None,
                    f"{n} build(s) need labels {_labels_text(labels)}: no template has them",
                    subject=subject,
                )
                continue
            room = [t for t in serving if len(state.of_template(t.name)) < t.max]
            if not room:
                said_now.add(subject)
                names = ", ".join(f"{t.name} ({t.max})" for t in serving)
                _say(
                    state,
                    now,
                    out,
                    "wait",
                    serving[0].name,
                    None,
                    f"{n} build(s) for {_labels_text(labels)} wait: every template with "
                    f"these labels is at its maximum: {names}",
                    subject=subject,
                )
                continue
            t = room[0]
            waited = now - since
            if waited >= t.provision_delay:
                state.said.pop(subject, None)
                builds = min(n, t.executors)
                _create(
                    state,
                    t,
                    now,
                    out,
                    f"{builds} build(s) for {_labels_text(labels)} waited {waited:.0f} s "
                    f"unserved (provision-delay {t.provision_delay:g} s)",
                )
                created = True
                break
            said_now.add(subject)
            left = math.ceil(t.provision_delay - waited)
            stable = (
                f"{n} build(s) for {_labels_text(labels)} unserved: an agent of {t.name} is "
                f"made once one has waited {t.provision_delay:g} s (provision-delay"
            )
            _say(
                state,
                now,
                out,
                "wait",
                t.name,
                None,
                f"{stable}; {'the first' if n > 1 else 'it'} is due in {left} s)",
                subject=subject,
                same=stable,
            )
        if not created:
            for subject in [s for s in state.said if s.startswith("labels:")]:
                if subject not in said_now:
                    del state.said[subject]
            return claimed
    return _claim(state)[0]


def restore(config: CiConfig, agents: list[Agent]) -> CiState:
    """The state after a restart: the agents read back from the store."""
    state = CiState(config)
    for a in agents:
        state.agents[a.name] = a
        suffix = a.name.rsplit("-", 1)[-1]
        if suffix.isdigit():
            state.counter = max(state.counter, int(suffix))
    return state


__all__ = [
    "Agent",
    "CiState",
    "Decision",
    "Ended",
    "Event",
    "Launched",
    "Placed",
    "Refused",
    "ReleaseAgent",
    "Report",
    "RequestAgent",
    "Running",
    "SetDemand",
    "Tick",
    "Unplaced",
    "agent_sort_key",
    "handle",
    "restore",
]
