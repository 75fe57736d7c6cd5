"""Tasks on this agent: their status updates, their end, kills, acknowledgements.

Every function takes the state and ``now`` and appends what the shell must do to
``state.outbox`` (``handle`` returns it)."""

from __future__ import annotations

from corral.agent.core.effects import (
    ForgetExecutor,
    ForgetTask,
    KillContainer,
    SendToExecutor,
    SendToMaster,
)
from corral.agent.core.probes import annotate
from corral.agent.core.state import (
    MAX_COMPLETED_FRAMEWORKS,
    MAX_COMPLETED_TASKS,
    AgentState,
    ExecutorEntry,
    FrameworkEntry,
    TaskEntry,
)
from corral.agent.environment import kill_grace
from corral.wire import agent as msg
from corral.wire.base import ID
from corral.wire.executor import ExecutorEvent, ExecutorKill
from corral.wire.tasks import TaskStatus, is_terminal

DEFAULT_KILL_GRACE = 3.0


# ------------------------------------------------------------------ status updates
def status_update(
    state: AgentState,
    now: float,
    task: TaskEntry,
    new_state: str,
    *,
    message: str | None = None,
    reason: str | None = None,
    source: str = "SOURCE_EXECUTOR",
    status: TaskStatus | None = None,
) -> None:
    """Record a new state for a task and queue a reliable update for its framework."""
    if is_terminal(task.state):
        return
    if status is None:
        status = TaskStatus(
            task_id=task.info.task_id,
            state=new_state,
            message=message,
            reason=reason,
            source=source,
            uuid=state.update_uuids(),
        )
    status.agent_id = ID(state.agent_id or "")
    status.timestamp = status.timestamp or now
    if task.executor_id:
        status.executor_id = ID(task.executor_id)
    task.state = status.state
    state.latest_state[(task.framework_id, task.task_id)] = status.state
    annotate(state, task, status)  # health checks: starts/stops probes, adds their results
    state.updates.push(msg.StatusUpdate(framework_id=ID(task.framework_id), status=status), now)
    if is_terminal(task.state):
        task_terminal(state, now, task)


def task_terminal(state: AgentState, now: float, task: TaskEntry) -> None:
    fw = state.frameworks.get(task.framework_id)
    if fw is None:
        return
    fw.tasks.pop(task.task_id, None)
    fw.completed.append(task)  # forgotten by the checkpoint once its update is acknowledged
    if len(fw.completed) > MAX_COMPLETED_TASKS:
        del fw.completed[: len(fw.completed) - MAX_COMPLETED_TASKS]
    if task.executor_id:
        ex = fw.executors.get(task.executor_id)
        if ex is not None:
            ex.tasks.discard(task.task_id)
            if ex.kind == "group":
                group_task_ended(state, now, fw, ex, task)
            # A custom executor's container is not shrunk as its tasks end: lowering a
            # memory limit below what the executor still holds would OOM-kill it (Mesos
            # too only ever raises the hard limit).


def group_task_ended(
    state: AgentState, now: float, fw: FrameworkEntry, ex: ExecutorEntry, task: TaskEntry
) -> None:
    """A task of a task group ended: one that did not finish kills its siblings (as Mesos's
    default executor does); the group's executor is gone with its last task."""
    if task.state != "TASK_FINISHED":
        for tid in list(ex.tasks):
            other = fw.tasks.get(tid)
            if other is not None:
                kill_task(state, now, fw.framework_id, tid, kill_grace(other.info.kill_policy))
    if not ex.tasks:
        fw.executors.pop(ex.executor_id, None)
        state.outbox.append(ForgetExecutor(fw.framework_id, ex.executor_id))
        state.outbox.append(
            SendToMaster(
                msg.ExecutorExited(
                    framework_id=ID(fw.framework_id), executor_id=ex.info.executor_id, status=0
                )
            )
        )


def acknowledge(state: AgentState, now: float, m: msg.AcknowledgeUpdate) -> None:
    acked = state.updates.acknowledge(m.framework_id, m.task_id, m.uuid, now)
    if acked is not None and is_terminal(acked.status.state):
        state.latest_state.pop((m.framework_id.value, m.task_id.value), None)
        state.outbox.append(ForgetTask(m.framework_id.value, m.task_id.value))
        maybe_forget_framework(state, m.framework_id.value)


def maybe_forget_framework(state: AgentState, fid: str) -> None:
    """A framework with nothing left here (tasks, executors, pending updates) is done."""
    fw = state.frameworks.get(fid)
    if fw is None or fw.tasks or fw.executors:
        return
    if any(state.updates.has_pending(fid, t.task_id) for t in fw.completed):
        return
    del state.frameworks[fid]
    state.completed_frameworks.append(fw)
    if len(state.completed_frameworks) > MAX_COMPLETED_FRAMEWORKS:
        del state.completed_frameworks[0]


# ------------------------------------------------------------------ executors' streams
def to_executor(state: AgentState, ex: ExecutorEntry, event: ExecutorEvent) -> None:
    """Send to a custom executor now, or when it subscribes."""
    if ex.connected:
        state.outbox.append(SendToExecutor(ex.framework_id, ex.executor_id, event))
    else:
        ex.queued.append(event)


# ------------------------------------------------------------------ kills
def kill_task(
    state: AgentState,
    now: float,
    fid: str,
    tid: str,
    grace: float | None,
    reason: str | None = None,
) -> None:
    """``reason``: the TASK_KILLED's (e.g. REASON_CONTAINER_PREEMPTED from the master)."""
    fw = state.frameworks.get(fid)
    task = fw.tasks.get(tid) if fw else None
    if fw is None or task is None:
        return
    if reason is not None:
        task.kill_reason = reason
    if task.executor_id and task.container_id is None:  # a custom executor's task: its call
        ex = fw.executors.get(task.executor_id)
        if ex is not None:
            kill = ExecutorKill(task_id=task.info.task_id, kill_policy=task.info.kill_policy)
            to_executor(state, ex, ExecutorEvent(type="KILL", kill=kill))
        return
    if task.kill_requested:
        return
    task.kill_requested = True
    if task.pid is None:
        return  # still fetching or spawning: reported KILLED once the launch returns
    if "TASK_KILLING_STATE" in fw.info.capability_set():
        status_update(state, now, task, "TASK_KILLING")
    if grace is None:
        grace = kill_grace(task.info.kill_policy)
    assert task.container_id is not None
    state.outbox.append(
        KillContainer(task.container_id, DEFAULT_KILL_GRACE if grace is None else grace)
    )
