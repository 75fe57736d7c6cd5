"""Tasks and executors in the master: adding them, their status updates, acknowledgements,
kills and reconciliation."""

from __future__ import annotations

import msgspec

from corral.master.core.effects import Effects, Observe, Publish, TaskAdded, TaskUpdated
from corral.master.core.send import allocate_soon, to_agent, to_framework
from corral.master.core.state import (
    MAX_FORWARDED,
    AgentRecord,
    ExecutorRecord,
    FrameworkRecord,
    MasterState,
    TaskRecord,
)
from corral.master.errors import CallError
from corral.resources import Resources
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.tasks import TaskInfo, TaskStatus, is_terminal


def add_task(
    state: MasterState,
    out: Effects,
    fw: FrameworkRecord,
    agent: AgentRecord,
    task: TaskInfo,
    role: str,
    res: Resources,
    executor_id: str | None = None,
    task_state: str = "TASK_STAGING",
) -> TaskRecord:
    """Record a task on ``agent``; the caller settles ``agent.available``."""
    rec = TaskRecord(
        framework_id=fw.id,
        agent_id=agent.id,
        info=task,
        role=role,
        resources=res,
        executor_id=executor_id or (task.executor.executor_id.value if task.executor else None),
        state=task_state,
    )
    fw.tasks[rec.task_id] = rec
    fw.add_used(role, res)
    agent.tasks[(fw.id, rec.task_id)] = rec
    agent.used = agent.used + res
    state.metrics["master/tasks_launched"] += 1
    out.append(Publish(TaskAdded(rec)))
    return rec


def add_executor(state: MasterState, ex: ExecutorRecord) -> None:
    """Record an executor; the caller settles ``agent.available``."""
    fw = state.frameworks[ex.framework_id]
    agent = state.agents[ex.agent_id]
    fw.executors[(ex.agent_id, ex.info.executor_id.value)] = ex
    agent.executors[(ex.framework_id, ex.info.executor_id.value)] = ex
    fw.add_used(ex.role, ex.resources)
    agent.used = agent.used + ex.resources


def remove_executor(state: MasterState, out: Effects, ex: ExecutorRecord) -> None:
    fw = state.frameworks.get(ex.framework_id)
    agent = state.agents.get(ex.agent_id)
    key = (ex.agent_id, ex.info.executor_id.value)
    if fw is not None and fw.executors.pop(key, None) is not None:
        fw.sub_used(ex.role, ex.resources)
    if (
        agent is not None
        and agent.executors.pop((ex.framework_id, ex.info.executor_id.value), None) is not None
    ):
        agent.used = agent.used - ex.resources
        agent.refresh()
    allocate_soon(state, out)


def finish_task(
    state: MasterState,
    now: float,
    out: Effects,
    task: TaskRecord,
    task_state: str,
    *,
    reason: str | None = None,
    message: str | None = None,
    notify: bool = True,
    status: TaskStatus | None = None,
) -> None:
    """Move a task to a terminal state and free its resources."""
    fw = state.frameworks.get(task.framework_id)
    if status is None:
        status = TaskStatus(
            task_id=task.info.task_id,
            state=task_state,
            reason=reason,
            message=message,
            source="SOURCE_MASTER",
            agent_id=ID(task.agent_id),
            timestamp=now,
            executor_id=ID(task.executor_id) if task.executor_id else None,
        )
    task.record(status)
    out.append(Publish(TaskUpdated(task.framework_id, status, task_state)))
    agent = state.agents.get(task.agent_id)
    if agent is not None and agent.tasks.pop((task.framework_id, task.task_id), None) is not None:
        agent.used = agent.used - task.resources
        agent.refresh()
    if fw is not None:
        if fw.tasks.pop(task.task_id, None) is not None:
            fw.sub_used(task.role, task.resources)
        fw.unreachable_tasks.pop(task.task_id, None)
        fw.completed_tasks.append(task)
        if notify:
            to_framework(fw, s.Event(type="UPDATE", update=s.Update(status=status)), out)
    state.terminal_counts[task_state] = state.terminal_counts.get(task_state, 0) + 1
    allocate_soon(state, out)


def status_update(
    state: MasterState, now: float, out: Effects, agent: AgentRecord, update: amsg.StatusUpdate
) -> None:
    """A reliable update from an agent: apply it, forward it; the framework acknowledges."""
    status = update.status
    fid = update.framework_id.value
    fw = state.frameworks.get(fid)
    status.agent_id = ID(agent.id)
    if fw is None:
        # Framework removed: nobody will acknowledge; do it for them so the agent stops.
        state.metrics["master/invalid_status_updates"] += 1
        if status.uuid is not None:
            to_agent(
                agent,
                amsg.AcknowledgeUpdate(
                    framework_id=update.framework_id, task_id=status.task_id, uuid=status.uuid
                ),
                out,
            )
        if not is_terminal(status.state):
            to_agent(
                agent, amsg.KillTask(framework_id=update.framework_id, task_id=status.task_id), out
            )
        return
    if status.uuid is not None and fw.acknowledged.get(status.task_id.value) == status.uuid:
        # A resend of an update the framework already acknowledged (its ack crossed the
        # resend): acknowledge again for it, and do not deliver it twice.
        to_agent(
            agent,
            amsg.AcknowledgeUpdate(
                framework_id=update.framework_id, task_id=status.task_id, uuid=status.uuid
            ),
            out,
        )
        return
    state.metrics["master/valid_status_updates"] += 1
    task = fw.tasks.get(status.task_id.value)
    latest = update.latest_state
    if task is not None and latest and is_terminal(latest) and not is_terminal(status.state):
        # The task has already ended on the agent; its older updates are still being
        # delivered one by one. Free its resources now, as Mesos does with latest_state.
        task.status_update_state = status.state
        task.status_update_uuid = status.uuid
        finish_task(
            state,
            now,
            out,
            task,
            latest,
            status=msgspec.structs.replace(status, state=latest),
            notify=False,
        )
        task = None
    if task is not None and status.uuid is not None and status.uuid == task.status_update_uuid:
        pass  # the agent resent the update in flight: forward it again, record nothing new
    elif task is not None:
        task.status_update_state = status.state
        task.status_update_uuid = status.uuid
        if is_terminal(status.state):
            finish_task(state, now, out, task, status.state, status=status, notify=False)
        else:
            task.record(status)
            out.append(Publish(TaskUpdated(fid, status, status.state)))
    if status.uuid is not None and len(fw.forwarded) < MAX_FORWARDED:
        fw.forwarded[status.uuid] = now  # for the update -> ACKNOWLEDGE histogram
    to_framework(fw, s.Event(type="UPDATE", update=s.Update(status=status)), out)


def acknowledge(
    state: MasterState, now: float, out: Effects, fw: FrameworkRecord, ack: s.Acknowledge
) -> None:
    if len(ack.uuid) != 16:
        raise CallError(400, "'acknowledge.uuid' must be 16 bytes (base64 of a UUID)")
    forwarded = fw.forwarded.pop(ack.uuid, None)
    if forwarded is not None:
        out.append(Observe("status_update_ack", now - forwarded))
    fw.remember_ack(ack.task_id.value, ack.uuid)
    agent = state.agents.get(ack.agent_id.value)
    if agent is None:
        return  # the agent is gone (as Mesos: accepted and dropped); it resends if it returns
    to_agent(
        agent,
        amsg.AcknowledgeUpdate(framework_id=ID(fw.id), task_id=ack.task_id, uuid=ack.uuid),
        out,
    )


def kill(state: MasterState, now: float, out: Effects, fw: FrameworkRecord, kill: s.Kill) -> None:
    task = fw.tasks.get(kill.task_id.value)
    if task is None:
        reconcile(
            state, now, out, fw, [s.ReconcileTask(task_id=kill.task_id, agent_id=kill.agent_id)]
        )
        return
    agent = state.agents.get(task.agent_id)
    if agent is None:
        return
    reason = state.preemptions.kill_reason(fw.id, task.task_id)  # a preemption's victim
    to_agent(
        agent,
        amsg.KillTask(
            framework_id=ID(fw.id),
            task_id=kill.task_id,
            kill_policy=kill.kill_policy,
            reason=reason,
        ),
        out,
    )


def reconcile(
    state: MasterState, now: float, out: Effects, fw: FrameworkRecord, tasks: list[s.ReconcileTask]
) -> None:
    def reply(task_id: ID, task_state: str, agent_id: ID | None, src: TaskRecord | None) -> None:
        status = TaskStatus(
            task_id=task_id,
            state=task_state,
            source="SOURCE_MASTER",
            reason="REASON_RECONCILIATION",
            message="Reconciliation: Latest task state",
            agent_id=agent_id,
            timestamp=now,
        )
        if src is not None and src.executor_id:
            status.executor_id = ID(src.executor_id)
        if src is not None and src.latest is not None:
            status.healthy = src.latest.healthy
        to_framework(fw, s.Event(type="UPDATE", update=s.Update(status=status)), out)

    if not tasks:
        for known in [*fw.tasks.values(), *fw.unreachable_tasks.values()]:
            reply(known.info.task_id, known.state, ID(known.agent_id), known)
        return
    for rt in tasks:
        t: TaskRecord | None = fw.tasks.get(rt.task_id.value) or fw.unreachable_tasks.get(
            rt.task_id.value
        )
        if t is None:
            t = next((c for c in fw.completed_tasks if c.task_id == rt.task_id.value), None)
        if t is not None:
            reply(t.info.task_id, t.state, ID(t.agent_id), t)
            continue
        aid = rt.agent_id.value if rt.agent_id else None
        if aid in state.recovered_agents or (aid is None and state.recovered_agents):
            continue  # its agent may still re-register with it: no answer yet (as Mesos)
        if aid is not None and aid in state.agents:
            answer = "TASK_GONE"
        elif aid is not None and aid in state.unreachable_agents:
            answer = "TASK_UNREACHABLE"
        else:
            answer = "TASK_UNKNOWN"
        if not fw.partition_aware:
            answer = "TASK_LOST"
        reply(rt.task_id, answer, rt.agent_id, None)
