"""The master's side of agents: (re-)registration, pings, removal, their messages."""

from __future__ import annotations

import logging

from corral.master.core import maintenance, schedules
from corral.master.core.effects import (
    AdmitAgent,
    AgentAdded,
    AgentRemoved,
    Effects,
    FrameworkAdded,
    MarkUnreachable,
    Persist,
    Publish,
    SendToAgent,
    TaskUpdated,
)
from corral.master.core.offers import agents_changed, rescind_offer
from corral.master.core.send import allocate_soon, to_agent, to_framework
from corral.master.core.state import (
    AgentRecord,
    ExecutorRecord,
    FrameworkRecord,
    MasterState,
    TaskRecord,
)
from corral.master.core.tasks import (
    add_executor,
    add_task,
    finish_task,
    remove_executor,
    status_update,
)
from corral.resources import ResourceError, Resources, from_wire
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.tasks import TaskStatus, is_terminal

log = logging.getLogger("corral.master")

# Statistics that add up across an agent's containers.
USAGE_TOTALS = ("mem_rss_bytes", "cpus_time_ns", "cpus_nr_throttled", "processes")


def agent_registered(
    state: MasterState, now: float, out: Effects, link: int, reg: amsg.RegisterAgent
) -> None:
    try:
        total = from_wire(reg.agent_info.resources, field_name="agent_info.resources")
    except ResourceError as exc:
        log.warning("rejected agent at %s: %s", reg.address, exc)
        out.append(SendToAgent(link, amsg.ShutdownAgent(message=f"Invalid registration: {exc}")))
        return
    aid = reg.agent_id.value if reg.agent_id and reg.agent_id.value else None
    if aid is not None and aid in state.gone_agents:
        log.warning("refused agent %s at %s: it was marked gone", aid, reg.address)
        message = f"Agent {aid} was marked gone (MARK_AGENT_GONE); start it with a new work dir"
        out.append(SendToAgent(link, amsg.ShutdownAgent(message=message)))
        return
    down = schedules.down_refusal(state, reg.agent_info.hostname, reg.address)
    if down is not None:
        log.warning("refused agent %s at %s: %s", aid or "(new)", reg.address, down)
        out.append(SendToAgent(link, amsg.ShutdownAgent(message=f"Refused: {down}")))
        return
    agent = state.agents.get(aid) if aid else None
    reregistered = agent is not None
    if agent is not None:
        # Re-registration over a new connection: keep the record, refresh the link.
        state.metrics["master/slave_reregistrations"] += 1
        agent.link = link
        agent.connected = True
        agent.active = not agent.deactivated
        agent.missed_pings = 0
        agent.pong_pending = False
        agent.reregistered_time = now
        agent.info = reg.agent_info
        agent.address = reg.address
        agent.total = total
        reconcile_agent_tasks(state, now, out, agent, reg)
        log.info("agent %s re-registered from %s", aid, reg.address)
    else:
        if aid is None:
            aid = f"{state.id}-S{state.next_agent}"
            state.next_agent += 1
            state.metrics["master/slave_registrations"] += 1
        else:
            state.metrics["master/slave_reregistrations"] += 1
        was_unreachable = state.unreachable_agents.pop(aid, None) is not None
        agent = AgentRecord(
            id=aid,
            info=reg.agent_info,
            address=reg.address,
            version=reg.version,
            total=total,
            registered_time=now,
            link=link,
            available=total,  # nothing used or offered yet (Resources are immutable)
        )
        if reg.agent_id is not None and reg.agent_id.value:
            agent.reregistered_time = now  # it ran under an earlier master
            maintenance.restore(agent, state.recovered_agents.get(aid), now)
        state.agents[aid] = agent
        out.append(Publish(AgentAdded(agent)))
        reconcile_agent_tasks(state, now, out, agent, reg, returning=was_unreachable)
        maintenance.resume(agent, out)
        log.info("agent %s registered from %s with %s", aid, reg.address, total)
    if reregistered or reg.tasks or reg.executors:
        agent.refresh()  # its total or its tasks changed
    state.links[link] = agent.id
    agent.info.id = ID(agent.id)
    agents_changed(state)
    state.recovered_agents.pop(agent.id, None)
    out.append(Persist(AdmitAgent(agent.id, maintenance.registry_info(agent))))
    to_agent(agent, amsg.Registered(agent_id=ID(agent.id), master_info=state.master_info()), out)
    allocate_soon(state, out)


def reconcile_agent_tasks(
    state: MasterState,
    now: float,
    out: Effects,
    agent: AgentRecord,
    reg: amsg.RegisterAgent,
    returning: bool = False,
) -> None:
    """Learn the tasks an agent reports; tasks we expected there and it lacks are lost."""
    infos = {fi.id.value: fi for fi in reg.frameworks if fi.id is not None}
    reported: set[tuple[str, str]] = set()
    for at in reg.tasks:
        fid, tid = at.framework_id.value, at.task.task_id.value
        reported.add((fid, tid))
        if (fid, tid) in agent.tasks:
            continue
        fw = state.frameworks.get(fid)
        if fw is None:
            if fid in state.removed_framework_ids or fid not in infos:
                if not is_terminal(at.state):
                    to_agent(
                        agent,
                        amsg.KillTask(framework_id=at.framework_id, task_id=at.task.task_id),
                        out,
                    )
                continue
            # A framework from before a master failover: known only from the agent.
            fw = FrameworkRecord(id=fid, info=infos[fid], registered_time=now, recovered=True)
            state.frameworks[fid] = fw
            out.append(Publish(FrameworkAdded(fw)))
        if is_terminal(at.state):
            # Ended while its terminal update is not yet acknowledged: remember it as ended,
            # so reconciliation answers its true state (not TASK_GONE) until the update lands.
            if not any(c.task_id == tid for c in fw.completed_tasks):
                done = TaskRecord(
                    framework_id=fid,
                    agent_id=agent.id,
                    info=at.task,
                    role=(fw.roles or ("*",))[0],
                    resources=Resources(),
                    state=at.state,
                    executor_id=at.executor_id.value if at.executor_id else None,
                )
                fw.completed_tasks.append(done)
            continue
        if returning and not fw.partition_aware:
            to_agent(
                agent, amsg.KillTask(framework_id=at.framework_id, task_id=at.task.task_id), out
            )
            continue
        fw.unreachable_tasks.pop(tid, None)
        try:
            res = from_wire(at.task.resources)
        except ResourceError:
            res = Resources()
        role = (fw.roles or ("*",))[0]
        rec = add_task(
            state,
            out,
            fw,
            agent,
            at.task,
            role,
            res,
            executor_id=at.executor_id.value if at.executor_id else None,
            task_state=at.state,
        )
        state.metrics["master/tasks_launched"] -= 1
        rec.state = at.state
    # Executors: count the ones the agent runs; forget the ones it no longer does.
    running = {(e.framework_id.value, e.executor.executor_id.value): e for e in reg.executors}
    for key, ex in list(agent.executors.items()):
        if key not in running:
            remove_executor(state, out, ex)
    for (fid, eid), e in running.items():
        fw = state.frameworks.get(fid)
        if fw is None or (agent.id, eid) in fw.executors:
            continue
        try:
            res = from_wire(e.executor.resources)
        except ResourceError:
            res = Resources()
        add_executor(state, ExecutorRecord(fid, agent.id, e.executor, (fw.roles or ("*",))[0], res))
    for key, task in list(agent.tasks.items()):
        if key not in reported:
            # Re-registration comes on a new link: a launch sent on the old one that the
            # agent does not report never reached it, and never will.
            fw = state.frameworks.get(task.framework_id)
            dropped = fw is not None and fw.partition_aware and task.state == "TASK_STAGING"
            finish_task(
                state,
                now,
                out,
                task,
                "TASK_DROPPED" if dropped else "TASK_LOST",
                reason="REASON_AGENT_REREGISTERED",
                message="Task was not reported by the re-registering agent",
            )


def agent_messages(
    state: MasterState, now: float, out: Effects, link: int, messages: list[amsg.AgentToMaster]
) -> None:
    aid = state.links.get(link)
    agent = state.agents.get(aid) if aid is not None else None
    if agent is None:
        return
    for m in messages:
        if isinstance(m, amsg.StatusUpdate):
            status_update(state, now, out, agent, m)
        elif isinstance(m, amsg.Pong):
            agent.pong_pending = False
            agent.missed_pings = 0
        elif isinstance(m, amsg.UsageReport):
            record_usage(agent, m)
        elif isinstance(m, amsg.ExecutorToFramework):
            fw = state.frameworks.get(m.framework_id.value)
            if fw is not None:
                to_framework(
                    fw,
                    s.Event(
                        type="MESSAGE",
                        message=s.EventMessage(
                            agent_id=ID(agent.id), executor_id=m.executor_id, data=m.data
                        ),
                    ),
                    out,
                )
        elif isinstance(m, amsg.ExecutorExited):
            executor_exited(state, out, agent, m)
        if agent.id not in state.agents:
            return


def executor_exited(
    state: MasterState, out: Effects, agent: AgentRecord, m: amsg.ExecutorExited
) -> None:
    fw = state.frameworks.get(m.framework_id.value)
    if fw is None:
        return
    ex = fw.executors.get((agent.id, m.executor_id.value))
    if ex is not None:
        remove_executor(state, out, ex)
        if ex.info.type != "DEFAULT":
            to_framework(
                fw,
                s.Event(
                    type="FAILURE",
                    failure=s.Failure(
                        agent_id=ID(agent.id), executor_id=m.executor_id, status=m.status
                    ),
                ),
                out,
            )


def record_usage(agent: AgentRecord, report: amsg.UsageReport) -> None:
    """Keep each task's latest container usage, and the agent's totals, for the read views."""
    totals: dict[str, float] = {}
    for c in report.containers:
        for key, value in c.statistics.items():
            if key in USAGE_TOTALS:
                totals[key] = totals.get(key, 0) + value
        if c.task_id is not None:
            task = agent.tasks.get((c.framework_id.value, c.task_id.value))
            if task is not None:
                task.statistics = c.statistics
        else:  # a custom executor's container: its tasks share it
            for t in agent.tasks.values():
                if t.framework_id == c.framework_id.value and t.executor_id == c.executor_id.value:
                    t.statistics = c.statistics
    totals["containers"] = len(report.containers)
    agent.usage = totals


def agent_disconnected(state: MasterState, now: float, out: Effects, link: int) -> None:
    aid = state.links.pop(link, None)
    agent = state.agents.get(aid) if aid is not None else None
    if agent is None or agent.link != link:
        return  # an older connection of a re-registered agent
    agent.link = None
    agent.connected = False
    agents_changed(state)
    log.warning(
        "agent %s disconnected; removed if it does not return within %.0fs",
        agent.id,
        state.config.agent_ping_timeout * state.config.max_agent_ping_timeouts,
    )
    for oid in list(agent.offers):
        rescind_offer(state, now, out, oid)


def ping_agents(state: MasterState, now: float, out: Effects) -> None:
    """Every ``agent_ping_timeout``: count missed pongs; remove silent agents."""
    if state.paused:
        return
    for agent in list(state.agents.values()):
        if agent.pong_pending or not agent.connected:
            agent.missed_pings += 1
            if agent.missed_pings >= state.config.max_agent_ping_timeouts:
                remove_agent(state, now, out, agent, "agent missed too many pings")
                continue
        if agent.link is not None:
            agent.pong_pending = True
            to_agent(agent, amsg.Ping(), out)


def remove_agent(
    state: MasterState, now: float, out: Effects, agent: AgentRecord, why: str
) -> None:
    log.warning("removing agent %s: %s", agent.id, why)
    agents_changed(state)
    state.metrics["master/slave_removals"] += 1
    for oid in list(agent.offers):
        rescind_offer(state, now, out, oid)
    for task in list(agent.tasks.values()):
        fw = state.frameworks.get(task.framework_id)
        if fw is not None and fw.partition_aware:
            status = TaskStatus(
                task_id=task.info.task_id,
                state="TASK_UNREACHABLE",
                reason="REASON_AGENT_REMOVED",
                message=f"Agent {agent.id} is unreachable: {why}",
                source="SOURCE_MASTER",
                agent_id=ID(agent.id),
                timestamp=now,
                unreachable_time={"nanoseconds": int(now * 1e9)},
            )
            task.record(status)
            out.append(Publish(TaskUpdated(fw.id, status, status.state)))
            fw.tasks.pop(task.task_id, None)
            fw.sub_used(task.role, task.resources)
            fw.unreachable_tasks[task.task_id] = task
            to_framework(fw, s.Event(type="UPDATE", update=s.Update(status=status)), out)
        else:
            finish_task(
                state,
                now,
                out,
                task,
                "TASK_LOST",
                reason="REASON_AGENT_REMOVED",
                message=f"Agent {agent.id} removed: {why}",
            )
    for ex in list(agent.executors.values()):
        remove_executor(state, out, ex)
    del state.agents[agent.id]
    out.append(Publish(AgentRemoved(agent.id)))
    state.unreachable_agents[agent.id] = now
    out.append(Persist(MarkUnreachable(agent.id, now)))
    for fw in state.frameworks.values():
        to_framework(fw, s.Event(type="FAILURE", failure=s.Failure(agent_id=ID(agent.id))), out)
    to_agent(agent, amsg.ShutdownAgent(message=why), out)
    allocate_soon(state, out)
