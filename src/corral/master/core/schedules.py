"""Maintenance schedules, as Mesos's master has them (the transitions; the data and its checks
are ``machines.py``): UPDATE_MAINTENANCE_SCHEDULE (machines in a window are DRAINING: the
frameworks running there get inverse offers with the window's unavailability, and offers of
those agents carry it), START_MAINTENANCE (DOWN: the machines' agents are removed, their tasks
killed, and they are refused while DOWN) and STOP_MAINTENANCE (UP again, out of the
schedule). Kept in the registry, so a newly elected master has the same schedule."""

from __future__ import annotations

import logging

from corral.master.core import machines as mx
from corral.master.core.effects import (
    AgentRemoved,
    Effects,
    MarkUnreachable,
    Persist,
    Publish,
    SaveMaintenance,
)
from corral.master.core.events import MachineMaintenance
from corral.master.core.offers import agents_changed, rescind_offer
from corral.master.core.send import allocate_soon, to_agent, to_framework
from corral.master.core.state import AgentRecord, InverseOfferRecord, MasterState
from corral.master.core.tasks import finish_task, remove_executor
from corral.master.errors import CallError
from corral.wire import agent as amsg
from corral.wire import maintenance as wm
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import TimeInfo

log = logging.getLogger("corral.master")

CALLS = ("UPDATE_MAINTENANCE_SCHEDULE", "START_MAINTENANCE", "STOP_MAINTENANCE")
READS = ("GET_MAINTENANCE_SCHEDULE", "GET_MAINTENANCE_STATUS")


def agent_ip(agent: AgentRecord) -> str:
    return agent.address.rsplit(":", 1)[0]


def window_of(state: MasterState, agent: AgentRecord) -> mx.Window | None:
    found = state.maintenance.window_for(agent.hostname, agent_ip(agent))
    return None if found is None else found[1]


def down_refusal(state: MasterState, hostname: str, address: str) -> str | None:
    """Why an agent registering from ``hostname``/``address`` is refused (its machine is
    DOWN), or None."""
    if not state.maintenance.down:
        return None
    m = state.maintenance.down_machine(hostname, address.rsplit(":", 1)[0])
    if m is None:
        return None
    return f"machine {m.label()} is DOWN for maintenance (STOP_MAINTENANCE brings it up)"


def restore(state: MasterState, data: dict[str, object] | None) -> None:
    """On election: the schedule an earlier master kept in the registry."""
    if data:
        state.maintenance = mx.from_registry(data)
        log.info(
            "recovered a maintenance schedule of %d window(s), %d machine(s) down",
            len(state.maintenance.windows),
            len(state.maintenance.down),
        )


def machine_maintenance(
    state: MasterState, now: float, out: Effects, ev: MachineMaintenance
) -> None:
    """Apply an operator's schedule call; CallError (nothing changed) if it cannot be."""
    m = state.maintenance
    if ev.kind == "UPDATE_MAINTENANCE_SCHEDULE":
        if ev.schedule is None:
            raise CallError(400, "'update_maintenance_schedule.schedule' is missing")
        windows = mx.windows_from_wire(ev.schedule, m, "update_maintenance_schedule.schedule")
        update_schedule(state, now, out, windows)
    elif ev.kind in ("START_MAINTENANCE", "STOP_MAINTENANCE"):
        where = ev.kind.lower()
        starting = ev.kind == "START_MAINTENANCE"
        machines = mx.machines_from_wire(list(ev.machines), m, where, starting=starting)
        if starting:
            start(state, now, out, machines)
        else:
            stop(state, now, out, machines)
    else:  # pragma: no cover - the HTTP layer sends only CALLS
        raise CallError(400, f"not a maintenance schedule call: {ev.kind}")
    out.append(Persist(SaveMaintenance(state.maintenance.to_registry())))


def update_schedule(state: MasterState, now: float, out: Effects, windows: list[mx.Window]) -> None:
    before = {a.id: window_of(state, a) for a in state.agents.values()}
    state.maintenance.windows = windows
    for agent in state.agents.values():
        w = window_of(state, agent)
        if w == before[agent.id]:
            continue
        # Its unavailability changed: offers out there say the old one, and so do the
        # inverse offers; new ones follow (``offer_inverse`` below, and the allocation).
        for oid in list(agent.offers):
            rescind_offer(state, now, out, oid)
        rescind_inverse(state, out, agent.id)
    log.info(
        "maintenance schedule: %d window(s), %d machine(s) draining",
        len(windows),
        len(state.maintenance.draining()),
    )
    offer_inverse(state, now, out)
    allocate_soon(state, out)


def offer_inverse(state: MasterState, now: float, out: Effects) -> None:
    """Every framework with tasks or executors on an agent of a DRAINING machine has an
    inverse offer for it with the window's unavailability (sent once; its answer is kept)."""
    m = state.maintenance
    if not m.windows:
        return
    have = {
        (r.framework_id, r.agent_id)
        for oid, r in state.inverse_offers.items()
        if oid in m.inverse_offers
    }
    for agent in state.agents.values():
        w = window_of(state, agent)
        if w is None:
            continue
        owners = {t.framework_id for t in agent.tasks.values()}
        owners |= {fid for (fid, _) in agent.executors}
        for fid in sorted(owners):
            fw = state.frameworks.get(fid)
            if fw is None or (fid, agent.id) in have:
                continue
            state.next_inverse_offer += 1
            oid = f"{state.id}-I{state.next_inverse_offer}"
            state.inverse_offers[oid] = InverseOfferRecord(oid, fid, agent.id)
            m.inverse_offers[oid] = now
            inverse = s.InverseOffer(
                id=ID(oid),
                framework_id=ID(fid),
                agent_id=ID(agent.id),
                unavailability=w.unavailability(),
            )
            to_framework(fw, s.Event(type="OFFERS", offers=s.Offers(inverse_offers=[inverse])), out)


def rescind_inverse(state: MasterState, out: Effects, agent_id: str) -> None:
    """Withdraw the schedule's inverse offers for ``agent_id``."""
    m = state.maintenance
    for oid in [o for o in m.inverse_offers if o in state.inverse_offers]:
        rec = state.inverse_offers[oid]
        if rec.agent_id != agent_id:
            continue
        del state.inverse_offers[oid]
        del m.inverse_offers[oid]
        fw = state.frameworks.get(rec.framework_id)
        if fw is not None:
            event = s.Event(
                type="RESCIND_INVERSE_OFFER",
                rescind_inverse_offer=s.RescindInverseOffer(inverse_offer_id=ID(oid)),
            )
            to_framework(fw, event, out)
    for oid in [o for o in m.inverse_offers if o not in state.inverse_offers]:
        del m.inverse_offers[oid]


def start(state: MasterState, now: float, out: Effects, machines: list[mx.Machine]) -> None:
    """The machines are DOWN: each agent on them has its tasks killed and is removed."""
    for m in machines:
        state.maintenance.down[m] = now
        log.warning("machine %s is DOWN for maintenance", m.label())
    for agent in list(state.agents.values()):
        ip = agent_ip(agent)
        for m in machines:
            if m.matches(agent.hostname, ip):
                remove_for_maintenance(state, now, out, agent, m)
                break


def remove_for_maintenance(
    state: MasterState, now: float, out: Effects, agent: AgentRecord, m: mx.Machine
) -> None:
    why = f"machine {m.label()} is DOWN for maintenance"
    for task in list(agent.tasks.values()):
        # The agent kills the task (its own grace period); the master is done with it.
        to_agent(
            agent,
            amsg.KillTask(
                framework_id=ID(task.framework_id),
                task_id=task.info.task_id,
                kill_policy=task.info.kill_policy,
            ),
            out,
        )
    rescind_inverse(state, out, agent.id)
    agents_changed(state)
    state.metrics["master/slave_removals"] += 1
    for oid in list(agent.offers):
        rescind_offer(state, now, out, oid)
    for task in list(agent.tasks.values()):
        fw = state.frameworks.get(task.framework_id)
        aware = fw is not None and fw.partition_aware
        finish_task(
            state,
            now,
            out,
            task,
            "TASK_GONE_BY_OPERATOR" if aware else "TASK_LOST",
            reason="REASON_AGENT_REMOVED_BY_OPERATOR",
            message=f"Agent {agent.id} removed: {why}",
        )
    for ex in list(agent.executors.values()):
        remove_executor(state, out, ex)
    del state.agents[agent.id]
    if agent.link is not None:
        state.links.pop(agent.link, None)
    out.append(Publish(AgentRemoved(agent.id)))
    # It may come back once its machine is UP: unreachable, not gone (a new master need not
    # wait for it to re-register).
    state.unreachable_agents[agent.id] = now
    out.append(Persist(MarkUnreachable(agent.id, now)))
    for fw in state.frameworks.values():
        to_framework(fw, s.Event(type="FAILURE", failure=s.Failure(agent_id=ID(agent.id))), out)
    to_agent(agent, amsg.ShutdownAgent(message=f"this agent was removed: {why}"), out)
    allocate_soon(state, out)
    log.warning("agent %s removed: %s", agent.id, why)


def stop(state: MasterState, now: float, out: Effects, machines: list[mx.Machine]) -> None:
    """The machines are UP: out of DOWN and out of the schedule (an emptied window goes)."""
    m = state.maintenance
    for machine in machines:
        del m.down[machine]
        log.info("machine %s is UP", machine.label())
    gone = set(machines)
    windows = []
    for w in m.windows:
        rest = tuple(x for x in w.machines if x not in gone)
        if rest:
            windows.append(mx.Window(rest, w.start_ns, w.duration_ns))
    m.windows = windows
    allocate_soon(state, out)


# ---------------------------------------------------------------------- read views
def status(state: MasterState) -> wm.ClusterStatus:
    """GET_MAINTENANCE_STATUS: each DRAINING machine with its frameworks' answers to the
    inverse offers (UNKNOWN until they answer), and the DOWN machines."""
    m = state.maintenance
    by_machine: dict[mx.Machine, list[wm.InverseOfferStatus]] = {x: [] for x in m.draining()}
    for oid, sent in m.inverse_offers.items():
        rec = state.inverse_offers.get(oid)
        agent = state.agents.get(rec.agent_id) if rec is not None else None
        if rec is None or agent is None:
            continue
        found = m.window_for(agent.hostname, agent_ip(agent))
        if found is None or found[0] not in by_machine:
            continue
        answered = rec.answered_at
        by_machine[found[0]].append(
            wm.InverseOfferStatus(
                status="UNKNOWN" if answered is None else ("ACCEPT" if rec.accepted else "DECLINE"),
                framework_id=ID(rec.framework_id),
                timestamp=TimeInfo(nanoseconds=int((answered or sent) * 1e9)),
            )
        )
    return wm.ClusterStatus(
        draining_machines=[
            wm.DrainingMachine(id=x.to_wire(), statuses=st) for x, st in by_machine.items()
        ],
        down_machines=[x.to_wire() for x in m.down],
    )
