"""The master's side of agents: (re-)registration, pings, removal, their messages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from corral.master.state import AgentRecord, ExecutorRecord, FrameworkRecord, TaskRecord
from corral.resources import ResourceError, Resources, from_wire
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.tasks import TaskStatus, is_terminal

if TYPE_CHECKING:
    from corral.master.master import Master

log = logging.getLogger("corral.master")


def agent_registered(
    self: Master, reg: amsg.RegisterAgent, send: Callable[[amsg.MasterToAgent], None]
) -> AgentRecord:
    now = self._now()
    try:
        total = from_wire(reg.agent_info.resources, field_name="agent_info.resources")
    except ResourceError as exc:
        raise ValueError(str(exc)) from None
    aid = reg.agent_id.value if reg.agent_id and reg.agent_id.value else None
    agent = self.agents.get(aid) if aid else None
    if agent is not None:
        # Re-registration over a new connection: keep the record, refresh the link.
        self.metrics["master/slave_reregistrations"] += 1
        agent.send = send
        agent.connected = True
        agent.active = True
        agent.missed_pings = 0
        agent.pong_pending = False
        agent.reregistered_time = now
        agent.info = reg.agent_info
        agent.address = reg.address
        agent.total = total
        _reconcile_agent_tasks(self, agent, reg)
        log.info("agent %s re-registered from %s", aid, reg.address)
    else:
        if aid is None:
            aid = f"{self.id}-S{self._next_agent}"
            self._next_agent += 1
            self.metrics["master/slave_registrations"] += 1
        else:
            self.metrics["master/slave_reregistrations"] += 1
        was_unreachable = self.unreachable_agents.pop(aid, None) is not None
        agent = AgentRecord(
            id=aid,
            info=reg.agent_info,
            address=reg.address,
            version=reg.version,
            total=total,
            registered_time=now,
            send=send,
        )
        if reg.agent_id is not None and reg.agent_id.value:
            agent.reregistered_time = now  # it ran under an earlier master
        self.agents[aid] = agent
        _reconcile_agent_tasks(self, agent, reg, returning=was_unreachable)
        log.info("agent %s registered from %s with %s", aid, reg.address, total)
    agent.info.id = ID(agent.id)
    self.agents_version += 1
    self.recovered_agents.pop(agent.id, None)
    if self.registry is not None:
        self.persist(
            self.registry.admit_agent,
            agent.id,
            {"hostname": agent.hostname, "address": agent.address},
        )
    send(amsg.Registered(agent_id=ID(agent.id), master_info=self.master_info()))
    self.schedule_allocation()
    return agent


def _reconcile_agent_tasks(
    self: Master, agent: AgentRecord, reg: amsg.RegisterAgent, returning: bool = False
) -> None:
    """Learn the tasks an agent reports; tasks we expected there and it lacks are lost."""
    infos = {fi.id.value: fi for fi in reg.frameworks if fi.id is not None}
    reported: set[tuple[str, str]] = set()
    for at in reg.tasks:
        fid, tid = at.framework_id.value, at.task.task_id.value
        reported.add((fid, tid))
        if (fid, tid) in agent.tasks:
            continue
        fw = self.frameworks.get(fid)
        if fw is None:
            if fid in self.removed_framework_ids or fid not in infos:
                if not is_terminal(at.state) and agent.send is not None:
                    agent.send(amsg.KillTask(framework_id=at.framework_id, task_id=at.task.task_id))
                continue
            # A framework from before a master failover: known only from the agent.
            fw = FrameworkRecord(
                id=fid, info=infos[fid], registered_time=self._now(), recovered=True
            )
            self.frameworks[fid] = fw
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
            agent.send and agent.send(
                amsg.KillTask(framework_id=at.framework_id, task_id=at.task.task_id)
            )
            continue
        fw.unreachable_tasks.pop(tid, None)
        try:
            res = from_wire(at.task.resources)
        except ResourceError:
            res = Resources()
        role = (fw.roles or ("*",))[0]
        rec = self._add_task(
            fw,
            agent,
            at.task,
            role,
            res,
            executor_id=at.executor_id.value if at.executor_id else None,
            state=at.state,
        )
        self.metrics["master/tasks_launched"] -= 1
        rec.state = at.state
    # Executors: count the ones the agent runs; forget the ones it no longer does.
    running = {(e.framework_id.value, e.executor.executor_id.value): e for e in reg.executors}
    for key, ex in list(agent.executors.items()):
        if key not in running:
            self._remove_executor(ex)
    for (fid, eid), e in running.items():
        fw = self.frameworks.get(fid)
        if fw is None or (agent.id, eid) in fw.executors:
            continue
        try:
            res = from_wire(e.executor.resources)
        except ResourceError:
            res = Resources()
        self._add_executor(ExecutorRecord(fid, agent.id, e.executor, (fw.roles or ("*",))[0], res))
    for key, task in list(agent.tasks.items()):
        if key not in reported:
            # Re-registration comes on a new link: a launch sent on the old one that the
            # agent does not report never reached it, and never will.
            fw = self.frameworks.get(task.framework_id)
            dropped = fw is not None and fw.partition_aware and task.state == "TASK_STAGING"
            self._finish_task(
                task,
                "TASK_DROPPED" if dropped else "TASK_LOST",
                reason="REASON_AGENT_REREGISTERED",
                message="Task was not reported by the re-registering agent",
            )


def agent_message(self: Master, agent: AgentRecord, m: amsg.AgentToMaster) -> None:
    if isinstance(m, amsg.Pong):
        agent.pong_pending = False
        agent.missed_pings = 0
    elif isinstance(m, amsg.StatusUpdate):
        self.status_update(agent, m)
    elif isinstance(m, amsg.UsageReport):
        _record_usage(self, agent, m)
    elif isinstance(m, amsg.ExecutorToFramework):
        fw = self.frameworks.get(m.framework_id.value)
        if fw is not None:
            self.send_event(
                fw,
                s.Event(
                    type="MESSAGE",
                    message=s.EventMessage(
                        agent_id=ID(agent.id), executor_id=m.executor_id, data=m.data
                    ),
                ),
            )
    elif isinstance(m, amsg.ExecutorExited):
        fw = self.frameworks.get(m.framework_id.value)
        if fw is None:
            return
        ex = fw.executors.get((agent.id, m.executor_id.value))
        if ex is not None:
            self._remove_executor(ex)
            if ex.info.type != "DEFAULT":
                self.send_event(
                    fw,
                    s.Event(
                        type="FAILURE",
                        failure=s.Failure(
                            agent_id=ID(agent.id), executor_id=m.executor_id, status=m.status
                        ),
                    ),
                )


def _record_usage(self: Master, agent: AgentRecord, report: amsg.UsageReport) -> None:
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


# Statistics that add up across an agent's containers.
USAGE_TOTALS = ("mem_rss_bytes", "cpus_time_ns", "cpus_nr_throttled", "processes")


def agent_disconnected(self: Master, agent: AgentRecord, send: object) -> None:
    if agent.send is not send:
        return  # an older connection of a re-registered agent
    agent.send = None
    agent.connected = False
    self.agents_version += 1
    log.warning(
        "agent %s disconnected; removed if it does not return within %.0fs",
        agent.id,
        self.config.agent_ping_timeout * self.config.max_agent_ping_timeouts,
    )
    for oid in list(agent.offers):
        self.rescind_offer(oid)


def ping_agents(self: Master) -> None:
    """Called every ``agent_ping_timeout``: count missed pongs; remove silent agents."""
    for agent in list(self.agents.values()):
        if agent.pong_pending or not agent.connected:
            agent.missed_pings += 1
            if agent.missed_pings >= self.config.max_agent_ping_timeouts:
                self.remove_agent(agent, "agent missed too many pings")
                continue
        if agent.send is not None:
            agent.pong_pending = True
            agent.send(amsg.Ping())


def remove_agent(self: Master, agent: AgentRecord, why: str) -> None:
    log.warning("removing agent %s: %s", agent.id, why)
    self.agents_version += 1
    self.metrics["master/slave_removals"] += 1
    for oid in list(agent.offers):
        self.rescind_offer(oid)
    affected: set[str] = set()
    for task in list(agent.tasks.values()):
        fw = self.frameworks.get(task.framework_id)
        affected.add(task.framework_id)
        if fw is not None and fw.partition_aware:
            status = TaskStatus(
                task_id=task.info.task_id,
                state="TASK_UNREACHABLE",
                reason="REASON_AGENT_REMOVED",
                message=f"Agent {agent.id} is unreachable: {why}",
                source="SOURCE_MASTER",
                agent_id=ID(agent.id),
                timestamp=self._now(),
                unreachable_time={"nanoseconds": int(self._now() * 1e9)},
            )
            task.record(status)
            fw.tasks.pop(task.task_id, None)
            fw.sub_used(task.role, task.resources)
            fw.unreachable_tasks[task.task_id] = task
            self.send_event(fw, s.Event(type="UPDATE", update=s.Update(status=status)))
        else:
            self._finish_task(
                task,
                "TASK_LOST",
                reason="REASON_AGENT_REMOVED",
                message=f"Agent {agent.id} removed: {why}",
            )
    for ex in list(agent.executors.values()):
        self._remove_executor(ex)
    del self.agents[agent.id]
    self.unreachable_agents[agent.id] = self._now()
    if self.registry is not None:
        self.persist(self.registry.mark_unreachable, agent.id, self.unreachable_agents[agent.id])
    for fw in self.frameworks.values():
        self.send_event(fw, s.Event(type="FAILURE", failure=s.Failure(agent_id=ID(agent.id))))
    if agent.send is not None:
        agent.send(amsg.ShutdownAgent(message=why))
    self.schedule_allocation()
    del affected


__all__ = ["agent_disconnected", "agent_message", "agent_registered", "ping_agents", "remove_agent"]
