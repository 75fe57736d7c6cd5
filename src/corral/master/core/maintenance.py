"""Agent maintenance, as Mesos's operator API has it: DEACTIVATE_AGENT / REACTIVATE_AGENT (no
new offers for an agent, its tasks untouched), DRAIN_AGENT (frameworks are told with inverse
offers and given ``drain_notice`` seconds to move their tasks, then what is left is killed,
each kill's grace capped by ``max_grace_period``; DRAINING until the last task ended, then
DRAINED, and gone for good with ``mark_gone``), and MARK_AGENT_GONE (its tasks are
TASK_GONE_BY_OPERATOR and it may never register again). Deactivation and draining are kept in
the registry with the agent, so a newly elected master keeps them."""

from __future__ import annotations

import logging

from corral.master.core.effects import (
    AdmitAgent,
    AgentRemoved,
    CancelTimer,
    Effects,
    MarkGone,
    Persist,
    Publish,
    SetTimer,
)
from corral.master.core.events import AgentMaintenance, DrainDue
from corral.master.core.offers import agents_changed, rescind_offer
from corral.master.core.send import allocate_soon, to_agent, to_framework
from corral.master.core.state import (
    AgentRecord,
    DrainRecord,
    FrameworkRecord,
    InverseOfferRecord,
    MasterState,
)
from corral.master.core.tasks import finish_task, remove_executor
from corral.master.errors import CallError
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import DurationInfo, TimeInfo
from corral.wire.tasks import KillPolicy

log = logging.getLogger("corral.master")

CALLS = ("DRAIN_AGENT", "DEACTIVATE_AGENT", "REACTIVATE_AGENT", "MARK_AGENT_GONE")


def drain_timer(agent_id: str) -> tuple[str, str]:
    return ("drain", agent_id)


def registry_info(agent: AgentRecord) -> dict[str, object]:
    """What the registry keeps of an agent: its address, and its maintenance state."""
    info: dict[str, object] = {"hostname": agent.hostname, "address": agent.address}
    if agent.deactivated:
        info["deactivated"] = True
    d = agent.drain
    if d is not None:
        info["drain"] = {
            "state": d.state,
            "max_grace": d.max_grace,
            "mark_gone": d.mark_gone,
            "since": d.since,
        }
    return info


def restore(agent: AgentRecord, info: dict[str, object] | None, now: float) -> None:
    """A re-registering agent gets back the maintenance state an earlier master gave it."""
    if not info:
        return
    agent.deactivated = bool(info.get("deactivated"))
    drain = info.get("drain")
    if isinstance(drain, dict):
        grace = drain.get("max_grace")
        agent.drain = DrainRecord(
            state=str(drain.get("state", "DRAINING")),
            since=float(drain.get("since") or now),
            kill_at=now,  # the notice was given before the failover
            max_grace=float(grace) if isinstance(grace, int | float) else None,
            mark_gone=bool(drain.get("mark_gone")),
        )
    if agent.deactivated:
        agent.active = False


def resume(agent: AgentRecord, out: Effects) -> None:
    """After a failover: a drain the earlier master began goes on (its notice is over)."""
    d = agent.drain
    if d is not None and d.state == "DRAINING":
        out.append(SetTimer(drain_timer(agent.id), d.kill_at, DrainDue(agent.id)))


def agent_maintenance(state: MasterState, now: float, out: Effects, ev: AgentMaintenance) -> None:
    """Apply an operator's maintenance call; CallError (nothing changed) if it cannot be."""
    aid = ev.agent_id
    if not aid:
        raise CallError(400, f"'{field_of(ev.kind)}.agent_id' is missing")
    if aid in state.gone_agents:
        raise CallError(400, f"Agent {aid} is gone (MARK_AGENT_GONE)")
    agent = state.agents.get(aid)
    if ev.kind == "MARK_AGENT_GONE":
        known = (
            agent is not None or aid in state.unreachable_agents or aid in state.recovered_agents
        )
        if not known:
            raise CallError(404, f"Agent {aid} is not known to the master")
        mark_gone(state, now, out, aid, "marked gone by the operator")
        return
    if agent is None:
        raise CallError(404, f"Agent {aid} is not registered")
    if ev.kind == "DEACTIVATE_AGENT":
        deactivate(state, now, out, agent)
    elif ev.kind == "REACTIVATE_AGENT":
        reactivate(state, now, out, agent)
    elif ev.kind == "DRAIN_AGENT":
        if ev.max_grace is not None and ev.max_grace < 0:
            raise CallError(400, "'drain_agent.max_grace_period' must not be negative")
        drain(state, now, out, agent, ev.max_grace, ev.mark_gone)
    else:  # pragma: no cover - the HTTP layer sends only CALLS
        raise CallError(400, f"not a maintenance call: {ev.kind}")
    out.append(Persist(AdmitAgent(agent.id, registry_info(agent))))


def field_of(kind: str) -> str:
    return kind.lower()


def deactivate(state: MasterState, now: float, out: Effects, agent: AgentRecord) -> None:
    agent.deactivated = True
    agent.active = False
    agents_changed(state)
    for oid in list(agent.offers):
        rescind_offer(state, now, out, oid)
    log.info("agent %s deactivated: no new offers", agent.id)


def reactivate(state: MasterState, now: float, out: Effects, agent: AgentRecord) -> None:
    agent.deactivated = False
    if agent.drain is not None:
        agent.drain = None
        out.append(CancelTimer(drain_timer(agent.id)))
        rescind_inverse_offers(state, out, agent.id)
    agent.active = agent.connected
    agents_changed(state)
    allocate_soon(state, out)
    log.info("agent %s reactivated", agent.id)


def drain(
    state: MasterState,
    now: float,
    out: Effects,
    agent: AgentRecord,
    max_grace: float | None,
    mark_gone_after: bool,
) -> None:
    deactivate(state, now, out, agent)
    if agent.drain is not None and agent.drain.state == "DRAINING":
        # Draining again updates the limits; the notice already given stands.
        agent.drain.max_grace, agent.drain.mark_gone = max_grace, mark_gone_after
        return
    kill_at = now + state.config.drain_notice
    agent.drain = DrainRecord("DRAINING", now, kill_at, max_grace, mark_gone_after)
    owners = {t.framework_id for t in agent.tasks.values()}
    for fid in sorted(owners):
        fw = state.frameworks.get(fid)
        if fw is not None:
            send_inverse_offer(state, now, out, fw, agent, kill_at)
    log.info(
        "agent %s draining: %d task(s) of %d framework(s), killed from %.0fs on",
        agent.id,
        len(agent.tasks),
        len(owners),
        state.config.drain_notice,
    )
    if not agent.tasks:
        drained(state, now, out, agent)
    else:
        out.append(SetTimer(drain_timer(agent.id), kill_at, DrainDue(agent.id)))


def send_inverse_offer(
    state: MasterState,
    now: float,
    out: Effects,
    fw: FrameworkRecord,
    agent: AgentRecord,
    start: float,
) -> None:
    state.next_inverse_offer += 1
    oid = f"{state.id}-I{state.next_inverse_offer}"
    state.inverse_offers[oid] = InverseOfferRecord(oid, fw.id, agent.id)
    inverse = s.InverseOffer(
        id=ID(oid),
        framework_id=ID(fw.id),
        agent_id=ID(agent.id),
        unavailability=s.Unavailability(start=TimeInfo(nanoseconds=int(start * 1e9))),
    )
    to_framework(fw, s.Event(type="OFFERS", offers=s.Offers(inverse_offers=[inverse])), out)


def answer_inverse_offers(
    state: MasterState, now: float, out: Effects, fw: FrameworkRecord, ids: list[ID], ok: bool
) -> None:
    """ACCEPT_INVERSE_OFFERS (the framework moved its tasks) or DECLINE_INVERSE_OFFERS. Once
    every framework on a draining agent accepted, its notice ends at once."""
    agents = set()
    for oid in ids:
        rec = state.inverse_offers.get(oid.value)
        if rec is None or rec.framework_id != fw.id:
            continue
        rec.accepted = ok
        rec.answered_at = now
        agents.add(rec.agent_id)
    for aid in agents:
        agent = state.agents.get(aid)
        if agent is None or agent.drain is None or agent.drain.killed:
            continue
        schedule = state.maintenance.inverse_offers  # the schedule's own are not the drain's
        mine = [
            r
            for oid, r in state.inverse_offers.items()
            if r.agent_id == aid and r.framework_id in state.frameworks and oid not in schedule
        ]
        if mine and all(r.accepted for r in mine):
            out.append(CancelTimer(drain_timer(aid)))
            drain_due(state, now, out, aid)


def rescind_inverse_offers(
    state: MasterState, out: Effects, agent_id: str, *, gone: bool = False
) -> None:
    """Take back the drain's inverse offers for the agent; the maintenance schedule's are
    its own (``schedules.rescind_inverse``), unless the agent is ``gone`` for good."""
    schedule = state.maintenance.inverse_offers
    for oid, rec in list(state.inverse_offers.items()):
        if rec.agent_id != agent_id or (oid in schedule and not gone):
            continue
        del state.inverse_offers[oid]
        schedule.pop(oid, None)
        fw = state.frameworks.get(rec.framework_id)
        if fw is not None:
            event = s.Event(
                type="RESCIND_INVERSE_OFFER",
                rescind_inverse_offer=s.RescindInverseOffer(inverse_offer_id=ID(oid)),
            )
            to_framework(fw, event, out)


def drain_due(state: MasterState, now: float, out: Effects, agent_id: str) -> None:
    """The notice is over: kill every task still on the agent (grace capped)."""
    agent = state.agents.get(agent_id)
    if agent is None or agent.drain is None or agent.drain.state != "DRAINING":
        return
    agent.drain.killed = True
    cap = agent.drain.max_grace
    for task in list(agent.tasks.values()):
        policy = task.info.kill_policy
        grace = None
        if policy is not None and policy.grace_period is not None:
            grace = policy.grace_period.nanoseconds / 1e9
        if cap is not None:
            grace = cap if grace is None else min(grace, cap)
        kill_policy = (
            KillPolicy(grace_period=DurationInfo(nanoseconds=int(grace * 1e9)))
            if grace is not None
            else None
        )
        to_agent(
            agent,
            amsg.KillTask(
                framework_id=ID(task.framework_id),
                task_id=task.info.task_id,
                kill_policy=kill_policy,
            ),
            out,
        )
    if not agent.tasks:
        drained(state, now, out, agent)


def check_drained(state: MasterState, now: float, out: Effects) -> None:
    """After agents' messages: a draining agent whose last task ended is DRAINED."""
    for agent in list(state.agents.values()):
        d = agent.drain
        if d is not None and d.state == "DRAINING" and not agent.tasks:
            drained(state, now, out, agent)


def drained(state: MasterState, now: float, out: Effects, agent: AgentRecord) -> None:
    assert agent.drain is not None
    agent.drain.state = "DRAINED"
    out.append(CancelTimer(drain_timer(agent.id)))
    rescind_inverse_offers(state, out, agent.id)
    log.info("agent %s drained", agent.id)
    if agent.drain.mark_gone:
        mark_gone(state, now, out, agent.id, "drained, and marked gone as DRAIN_AGENT asked")
    else:
        out.append(Persist(AdmitAgent(agent.id, registry_info(agent))))


def mark_gone(state: MasterState, now: float, out: Effects, agent_id: str, why: str) -> None:
    """Forget the agent for good: its tasks are TASK_GONE_BY_OPERATOR, it is told to shut
    down, and it may not register again (kept in the registry)."""
    state.gone_agents[agent_id] = now
    state.unreachable_agents.pop(agent_id, None)
    state.recovered_agents.pop(agent_id, None)
    out.append(Persist(MarkGone(agent_id, now)))
    out.append(CancelTimer(drain_timer(agent_id)))
    rescind_inverse_offers(state, out, agent_id, gone=True)
    for fw in state.frameworks.values():
        for tid, task in list(fw.unreachable_tasks.items()):
            if task.agent_id == agent_id:
                finish_task(state, now, out, task, "TASK_GONE_BY_OPERATOR", message=why)
                fw.unreachable_tasks.pop(tid, None)
    agent = state.agents.get(agent_id)
    if agent is None:
        return
    agents_changed(state)
    for oid in list(agent.offers):
        rescind_offer(state, now, out, oid)
    for task in list(agent.tasks.values()):
        finish_task(
            state,
            now,
            out,
            task,
            "TASK_GONE_BY_OPERATOR",
            reason="REASON_AGENT_REMOVED_BY_OPERATOR",
            message=f"Agent {agent_id} {why}",
        )
    for ex in list(agent.executors.values()):
        remove_executor(state, out, ex)
    del state.agents[agent_id]
    if agent.link is not None:
        state.links.pop(agent.link, None)
    out.append(Publish(AgentRemoved(agent_id)))
    for fw in state.frameworks.values():
        to_framework(fw, s.Event(type="FAILURE", failure=s.Failure(agent_id=ID(agent_id))), out)
    to_agent(agent, amsg.ShutdownAgent(message=f"this agent was {why}"), out)
    allocate_soon(state, out)
    log.warning("agent %s %s", agent_id, why)
