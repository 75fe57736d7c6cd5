"""Preemption in the master: REQUEST calls with corral's demand, the victims' inverse
offers and notice, the kills after it, and the freed resources held for the asker.

* ``request``: a framework cannot place something (docs/preemption.md). The pure
  ``preemption.choose`` picks one agent and the fewest victims there; their frameworks get
  an inverse offer naming the tasks (``preemption`` in it) and ``preemption_notice`` seconds.
* ``due``: the notice is over; the master kills the victims still running, with reason
  ``REASON_CONTAINER_PREEMPTED`` (a framework's own KILL of a victim carries it too).
* ``held_plans`` / ``withhold``: the allocation pass offers the freed resources only to the
  asker (once all it asked for is free there) until ``hold_until``; others see the agent
  without them.
Every preemption stays in ``state.preemptions`` with its reasons (``views``)."""

from __future__ import annotations

import logging

from corral.master.core import preemption as choice
from corral.master.core.effects import CancelTimer, Effects, SetTimer
from corral.master.core.events import HoldLapsed, PreemptionDue
from corral.master.core.offers import rescind_offer
from corral.master.core.preemption_holds import over_limit
from corral.master.core.preemption_records import (
    CANCELLED,
    HELD,
    KILLING,
    LAPSED,
    NOTIFIED,
    Preemption,
    Victim,
)
from corral.master.core.schedules import window_of
from corral.master.core.send import allocate_soon, to_agent, to_framework
from corral.master.core.state import AgentRecord, FrameworkRecord, MasterState, TaskRecord
from corral.master.errors import CallError
from corral.resources import ResourceError, Resources, from_wire
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import TimeInfo
from corral.wire.preemption import (
    DEFAULT_PRIORITY,
    DEFAULT_TIER,
    REASON_PREEMPTED,
    Notice,
    Request,
    check_tier,
    tier_and_priority,
)
from corral.wire.tasks import is_terminal

log = logging.getLogger("corral.master")

DEFAULT_GRACE = 3.0  # the agent's kill grace when a task has no kill policy


def due_timer(pid: str) -> tuple[str, str]:
    return ("preemption", pid)


def hold_timer(pid: str) -> tuple[str, str]:
    return ("preemption-hold", pid)


# ---------------------------------------------------------------- REQUEST
def request(
    state: MasterState, now: float, out: Effects, fw: FrameworkRecord, req: Request
) -> None:
    """Check every entry first (CallError names the field, nothing changes), then serve
    each one that carries corral's demand; plain Mesos requests are ignored, as Mesos's
    built-in allocator does."""
    checked: list[tuple[str, choice.Demand, str | None, str | None, str | None]] = []
    for i, rr in enumerate(req.requests):
        where = f"request.requests[{i}]"
        d = rr.corral
        if d is None:
            continue
        try:
            res = from_wire(rr.resources, field_name=f"{where}.resources")
            check_tier(d.tier, f"'{where}.corral.tier'")
        except (ResourceError, ValueError) as exc:
            raise CallError(400, str(exc)) from None
        if res.is_empty():
            raise CallError(400, f"'{where}.resources' is empty: nothing is asked for")
        role = d.role or fw.roles[0]
        if role not in fw.roles:
            raise CallError(
                400, f"'{where}.corral.role' names role '{role}' the framework is not subscribed to"
            )
        agent_id = rr.agent_id.value if rr.agent_id is not None else None
        if agent_id is not None and agent_id not in state.agents:
            raise CallError(400, f"'{where}.agent_id': agent {agent_id} is not registered")
        demand = choice.Demand(res, d.priority, d.tier, role)
        checked.append((where, demand, agent_id, d.key, d.name))
    for _where, demand, agent_id, key, name in checked:
        serve(state, now, out, fw, demand, agent_id, key, name)


def tier_priority(task: TaskRecord) -> tuple[str, int]:
    try:
        return tier_and_priority(task.info.labels)
    except ValueError:  # launched before labels were checked (an older master): defaults
        return DEFAULT_TIER, DEFAULT_PRIORITY


def rooms(state: MasterState, demand: choice.Demand, agent_id: str | None) -> list[choice.Room]:
    """Each agent that may take the demand: what will be free there (free and offered, plus
    victims already being taken back, less what is held for others) and the tasks the demand
    may preempt there; an agent where none may go and the demand does not fit as it is is
    left out (so a request no task may yield to costs one pass over the tasks, no search)."""
    book = state.preemptions
    want = choice.usable(demand.resources, demand.role)
    held: dict[str, Resources] = {}
    pending: dict[str, Resources] = {}
    for rec in book.active():
        if rec.hold == HELD:
            held[rec.agent_id] = held.get(rec.agent_id, Resources()) + rec.held
    for fid, tid in book.victims:
        fw = state.frameworks.get(fid)
        t = fw.tasks.get(tid) if fw is not None else None
        if t is not None:
            pending[t.agent_id] = pending.get(t.agent_id, Resources()) + t.resources
    out = []
    for a in state.agents.values():
        if agent_id is not None and a.id != agent_id:
            continue
        if not (a.active and a.connected) or a.drain is not None:
            continue
        if window_of(state, a) is not None:
            continue  # its machine is to be DOWN for maintenance: no one is evicted there
        if not choice.usable(a.total, demand.role).contains(want):
            continue  # too small, whatever runs there
        free = a.available + a.offered + pending.get(a.id, Resources())
        free = free - held.get(a.id, Resources())
        candidates = []
        for (fid, tid), t in a.tasks.items():
            if (fid, tid) in book.victims or is_terminal(t.state):
                continue
            tier, priority = tier_priority(t)
            c = choice.Candidate(tid, fid, t.resources, priority, tier, t.role)
            if choice.may_preempt(demand, c):  # only these can be chosen
                candidates.append(c)
        if not candidates and not choice.usable(free, demand.role).contains(want):
            continue  # nothing here may go, and it does not fit as it is
        out.append(choice.Room(a.id, free, a.total, tuple(candidates)))
    return out


def serve(
    state: MasterState,
    now: float,
    out: Effects,
    fw: FrameworkRecord,
    demand: choice.Demand,
    agent_id: str | None,
    key: str | None,
    name: str | None,
) -> None:
    book = state.preemptions
    if key is not None and book.serving(fw.id, key):
        return  # asked again while the earlier request is served
    why = over_limit(state, demand.role, demand.resources)
    if why is not None:
        log.info("framework %s asks for %s: nothing preempted, %s", fw.id, demand.resources, why)
        return
    picked = choice.choose(demand, rooms(state, demand, agent_id))
    if picked is None:
        log.debug(
            "framework %s asks for %s (priority %d, %s): nothing may be preempted to fit it",
            fw.id, demand.resources, demand.priority, demand.tier,
        )  # fmt: skip
        return
    agent = state.agents[picked.agent_id]
    if not picked.victims:
        # It fits there (now, or once victims already being taken back are gone): offer
        # the agent to the framework again at once, past its refusals.
        fw.filters.pop(agent.id, None)
        allocate_soon(state, out)
        return
    book.next_id += 1
    pid = f"{state.id}-P{book.next_id}"
    kill_at = now + state.config.preemption_notice
    grace = max(grace_of(t) for t in victim_tasks(state, picked.victims))
    rec = Preemption(
        id=pid,
        time=now,
        framework_id=fw.id,
        framework_name=fw.info.name,
        key=key,
        name=name,
        role=demand.role,
        tier=demand.tier,
        priority=demand.priority,
        agent_id=agent.id,
        hostname=agent.hostname,
        resources=demand.resources,
        kill_at=kill_at,
        hold_until=kill_at + grace + state.config.preemption_hold,
    )
    what = f"task {name}" if name else "a task"
    for v in picked.victims:
        reason = (
            f"task {v.task_id} (priority {v.priority}, {v.tier}) preempted for framework "
            f"{fw.info.name or fw.id}'s {what} priority {demand.priority} ({demand.tier})"
        )
        rec.victims.append(
            Victim(v.task_id, v.framework_id, v.role, v.tier, v.priority, v.resources, reason)
        )
        book.victims[(v.framework_id, v.task_id)] = pid
        log.info("preemption %s on agent %s: %s", pid, agent.id, reason)
    book.add(rec)
    m = state.metrics
    m["master/preemptions"] = m.get("master/preemptions", 0) + 1
    m["master/tasks_preempted"] = m.get("master/tasks_preempted", 0) + len(rec.victims)
    # What is offered there now goes back, so it is held with what the victims free.
    for oid in sorted(agent.offers):
        rescind_offer(state, now, out, oid)
    notify(state, out, rec, agent)
    out.append(SetTimer(due_timer(pid), kill_at, PreemptionDue(pid)))
    out.append(SetTimer(hold_timer(pid), rec.hold_until, HoldLapsed(pid)))
    allocate_soon(state, out)


def victim_tasks(state: MasterState, victims: tuple[choice.Candidate, ...]) -> list[TaskRecord]:
    return [state.frameworks[v.framework_id].tasks[v.task_id] for v in victims]


def grace_of(task: TaskRecord) -> float:
    policy = task.info.kill_policy
    if policy is not None and policy.grace_period is not None:
        return policy.grace_period.nanoseconds / 1e9
    return DEFAULT_GRACE


def notify(state: MasterState, out: Effects, rec: Preemption, agent: AgentRecord) -> None:
    """One inverse offer per victims' framework: their resources, the notice's end, and
    the task ids with the reason in ``preemption``."""
    by_fw: dict[str, list[Victim]] = {}
    for v in rec.victims:
        by_fw.setdefault(v.framework_id, []).append(v)
    for fid, victims in sorted(by_fw.items()):
        fw = state.frameworks.get(fid)
        if fw is None:
            continue
        state.next_inverse_offer += 1
        oid = f"{state.id}-I{state.next_inverse_offer}"
        rec.inverse_offers[oid] = fid
        freed = Resources()
        for v in victims:
            freed = freed + v.resources
        inverse = s.InverseOffer(
            id=ID(oid),
            framework_id=ID(fid),
            agent_id=ID(agent.id),
            unavailability=s.Unavailability(start=TimeInfo(nanoseconds=int(rec.kill_at * 1e9))),
            resources=freed.to_wire(),
            preemption=Notice(
                id=rec.id,
                task_ids=[ID(v.task_id) for v in victims],
                reason="; ".join(v.reason for v in victims),
            ),
        )
        to_framework(fw, s.Event(type="OFFERS", offers=s.Offers(inverse_offers=[inverse])), out)


# ---------------------------------------------------------------- timers
def due(state: MasterState, now: float, out: Effects, pid: str) -> None:
    """The notice is over: kill what is left of the victims, and take the inverse offers
    back."""
    rec = state.preemptions.records.get(pid)
    if rec is None or rec.state != NOTIFIED:
        return
    rec.state = KILLING
    agent = state.agents.get(rec.agent_id)
    for v in rec.victims:
        fw = state.frameworks.get(v.framework_id)
        task = fw.tasks.get(v.task_id) if fw is not None else None
        if agent is None or task is None or task.agent_id != agent.id:
            continue
        to_agent(
            agent,
            amsg.KillTask(
                framework_id=ID(v.framework_id), task_id=ID(v.task_id), reason=REASON_PREEMPTED
            ),
            out,
        )
    for oid, fid in rec.inverse_offers.items():
        fw = state.frameworks.get(fid)
        if fw is not None:
            event = s.Event(
                type="RESCIND_INVERSE_OFFER",
                rescind_inverse_offer=s.RescindInverseOffer(inverse_offer_id=ID(oid)),
            )
            to_framework(fw, event, out)


def hold_lapsed(state: MasterState, now: float, out: Effects, pid: str) -> None:
    rec = state.preemptions.records.get(pid)
    if rec is None:
        return
    if rec.hold == HELD:
        rec.hold = LAPSED
        log.info("preemption %s: the hold for framework %s lapsed", pid, rec.framework_id)
    for v in rec.victims:
        if state.preemptions.victims.get((v.framework_id, v.task_id)) == pid:
            del state.preemptions.victims[(v.framework_id, v.task_id)]
    allocate_soon(state, out)


def asker_removed(state: MasterState, out: Effects, framework_id: str) -> None:
    """The framework that asked is gone: its holds lapse, and a notice still running is
    called off (no victim is killed for it; their inverse offers are taken back)."""
    for rec in state.preemptions.active():
        if rec.framework_id != framework_id:
            continue
        rec.hold = LAPSED
        out.append(CancelTimer(hold_timer(rec.id)))
        if rec.state != NOTIFIED:
            continue
        rec.state = CANCELLED
        out.append(CancelTimer(due_timer(rec.id)))
        for v in rec.victims:
            if state.preemptions.victims.get((v.framework_id, v.task_id)) == rec.id:
                del state.preemptions.victims[(v.framework_id, v.task_id)]
        for oid, fid in rec.inverse_offers.items():
            fw = state.frameworks.get(fid)
            if fw is not None and fid != framework_id:
                event = s.Event(
                    type="RESCIND_INVERSE_OFFER",
                    rescind_inverse_offer=s.RescindInverseOffer(inverse_offer_id=ID(oid)),
                )
                to_framework(fw, event, out)
        log.info("preemption %s: called off, framework %s was removed", rec.id, framework_id)
    allocate_soon(state, out)

