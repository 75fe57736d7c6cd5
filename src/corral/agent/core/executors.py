"""Custom executors (processes speaking the v1 executor API) and task groups (LAUNCH_GROUP,
run by the agent itself in the role of Mesos's default executor)."""

from __future__ import annotations

from corral.agent.checkpoint import ExecutorRecord, TaskRecord
from corral.agent.core.effects import (
    CheckpointExecutor,
    CheckpointTask,
    DestroyContainer,
    KillContainer,
    LaunchContainer,
    MakeSandbox,
    PrepareSandbox,
    SendToExecutor,
    SendToMaster,
    SetTimer,
    UpdateContainer,
)
from corral.agent.core.events import ExecutorRegistrationTimeout, ShutdownGraceElapsed
from corral.agent.core.layout import group_task_sandbox, sandbox_dir
from corral.agent.core.registration import agent_info
from corral.agent.core.state import AgentState, ExecutorEntry, FrameworkEntry, TaskEntry
from corral.agent.core.tasks import kill_task, status_update, to_executor
from corral.resources import Resources, from_wire
from corral.wire import agent as msg
from corral.wire.base import ID
from corral.wire.executor import (
    ExecutorAcknowledged,
    ExecutorEvent,
    ExecutorLaunch,
    ExecutorMessageEvent,
)
from corral.wire.executor import ExecutorSubscribed as SubscribedEvent
from corral.wire.tasks import ExecutorInfo, TaskInfo, TaskStatus


def shutdown_grace(state: AgentState, executor: ExecutorInfo | None) -> float:
    if executor is not None and executor.shutdown_grace_period is not None:
        return executor.shutdown_grace_period.nanoseconds / 1e9
    return state.settings.executor_shutdown_grace_period


def executor_resources(state: AgentState, ex: ExecutorEntry) -> Resources:
    """A custom executor's container holds the executor's resources plus its tasks'."""
    res = from_wire(ex.info.resources)
    fw = state.frameworks.get(ex.framework_id)
    for tid in ex.tasks:
        task = fw.tasks.get(tid) if fw else None
        if task is not None:
            res = res + from_wire(task.info.resources)
    return res


# ------------------------------------------------------------------ custom executors
def run_executor_task(
    state: AgentState, now: float, fw: FrameworkEntry, einfo: ExecutorInfo, info: TaskInfo
) -> None:
    eid = einfo.executor_id.value
    ex = fw.executors.get(eid)
    if ex is None:
        ex = start_executor(state, fw, einfo, kind="custom")
    task = TaskEntry(framework_id=fw.framework_id, info=info, sandbox=ex.sandbox, executor_id=eid)
    fw.tasks[info.task_id.value] = task
    ex.tasks.add(info.task_id.value)
    state.outbox.append(
        CheckpointTask(
            TaskRecord(framework=fw.info, task=info, sandbox=str(ex.sandbox), executor_id=eid)
        )
    )
    if ex.pid is not None:  # a running executor's container grows with it
        state.outbox.append(UpdateContainer(ex.container_id, executor_resources(state, ex)))
    to_executor(state, ex, ExecutorEvent(type="LAUNCH", launch=ExecutorLaunch(task=info)))


def start_executor(
    state: AgentState, fw: FrameworkEntry, einfo: ExecutorInfo, kind: str
) -> ExecutorEntry:
    cid = state.container_ids()
    sandbox = sandbox_dir(state.settings.work_dir, cid)
    ex = ExecutorEntry(
        framework_id=fw.framework_id, info=einfo, sandbox=sandbox, container_id=cid, kind=kind
    )
    fw.executors[ex.executor_id] = ex
    state.outbox.append(
        CheckpointExecutor(
            ExecutorRecord(
                framework=fw.info, executor=einfo, sandbox=str(sandbox), container_id=cid, kind=kind
            )
        )
    )
    if kind == "custom":
        state.containers[cid] = ex
        state.outbox.append(PrepareSandbox(cid, sandbox, einfo.command, executor=True))
    else:
        state.outbox.append(MakeSandbox(sandbox))
    return ex


def launch_executor(state: AgentState, now: float, ex: ExecutorEntry) -> None:
    """Its sandbox is ready: launch the executor's container, and give it until the
    registration timeout to subscribe."""
    fw = state.frameworks.get(ex.framework_id)
    if fw is None:
        return
    cmd = ex.info.command
    if cmd is None or not (cmd.value or cmd.arguments):
        executor_failed(
            state,
            now,
            fw,
            ex,
            "ExecutorInfo.command has no value to run",
            "REASON_CONTAINER_LAUNCH_FAILED",
        )
        return
    state.outbox.append(
        LaunchContainer(
            container_id=ex.container_id,
            framework=fw.info,
            sandbox=ex.sandbox,
            command=cmd,
            resources=executor_resources(state, ex),
            executor_id=ex.executor_id,
            shutdown_grace=shutdown_grace(state, ex.info),
            executor=ex.info,
        )
    )
    state.outbox.append(
        SetTimer(
            ("executor-registration", ex.container_id),
            now + state.settings.executor_registration_timeout,
            ExecutorRegistrationTimeout(fw.framework_id, ex.executor_id, ex.container_id),
        )
    )


def registration_timeout(state: AgentState, now: float, ev: ExecutorRegistrationTimeout) -> None:
    ex = state.executor(ev.framework_id, ev.executor_id)
    if ex is None or ex.container_id != ev.container_id or ex.subscribed:
        return
    if ex.pid is None and ex.container_id not in state.containers:
        return
    fw = state.frameworks[ev.framework_id]
    executor_failed(
        state,
        now,
        fw,
        ex,
        "Executor did not register in time",
        "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
    )
    state.outbox.append(DestroyContainer(ex.container_id))


def executor_failed(
    state: AgentState, now: float, fw: FrameworkEntry, ex: ExecutorEntry, message: str, reason: str
) -> None:
    for tid in list(ex.tasks):
        task = fw.tasks.get(tid)
        if task is not None:
            status_update(
                state,
                now,
                task,
                "TASK_FAILED",
                message=message,
                reason=reason,
                source="SOURCE_AGENT",
            )


# ------------------------------------------------------------------ task groups
def run_task_group(state: AgentState, now: float, m: msg.RunTaskGroup) -> list[TaskEntry]:
    """LAUNCH_GROUP: the agent plays Mesos's default executor; each task is its own container.
    Returns the tasks to launch (their sandboxes are being prepared)."""
    fw = state.framework_entry(m.framework_info)
    einfo = m.executor
    eid = einfo.executor_id.value
    ex = fw.executors.get(eid) or start_executor(state, fw, einfo, kind="group")
    started = []
    for info in m.task_group.tasks:
        tid = info.task_id.value
        if tid in fw.tasks:
            continue
        cid = state.container_ids()
        sandbox = group_task_sandbox(ex.sandbox, tid)
        task = TaskEntry(
            framework_id=fw.framework_id,
            info=info,
            sandbox=sandbox,
            executor_id=eid,
            container_id=cid,
        )
        fw.tasks[tid] = task
        ex.tasks.add(tid)
        state.containers[cid] = task
        state.outbox.append(
            CheckpointTask(
                TaskRecord(
                    framework=fw.info,
                    task=info,
                    sandbox=str(sandbox),
                    container_id=cid,
                    executor_id=eid,
                )
            )
        )
        started.append(task)
    return started


# ------------------------------------------------------------------ shutdown
def shutdown_executor(state: AgentState, now: float, fid: str, eid: str) -> None:
    ex = state.executor(fid, eid)
    if ex is None:
        return
    if ex.kind == "group":
        for tid in list(ex.tasks):
            kill_task(state, now, fid, tid, None)
        return
    ex.shutting_down = True
    grace = shutdown_grace(state, ex.info)
    if ex.connected:
        # As Mesos: SHUTDOWN, and destroy the container only if it outlives the grace period.
        to_executor(state, ex, ExecutorEvent(type="SHUTDOWN"))
        state.outbox.append(
            SetTimer(
                ("executor-shutdown", ex.container_id),
                now + grace,
                ShutdownGraceElapsed(ex.container_id),
            )
        )
    else:
        state.outbox.append(KillContainer(ex.container_id, grace))
    # its tasks are reported when the executor's container ends


def shutdown_grace_elapsed(state: AgentState, ev: ShutdownGraceElapsed) -> None:
    if ev.container_id in state.containers:
        state.outbox.append(DestroyContainer(ev.container_id))


def shutdown_framework(state: AgentState, now: float, fid: str) -> None:
    fw = state.frameworks.get(fid)
    if fw is None:
        return
    for eid in list(fw.executors):
        shutdown_executor(state, now, fid, eid)
    for tid, task in list(fw.tasks.items()):
        if task.container_id is not None:
            kill_task(state, now, fid, tid, None)


def framework_message(state: AgentState, m: msg.FrameworkToExecutor) -> None:
    ex = state.executor(m.framework_id.value, m.executor_id.value)
    if ex is not None:
        to_executor(
            state, ex, ExecutorEvent(type="MESSAGE", message=ExecutorMessageEvent(data=m.data))
        )


# ------------------------------------------------------------------ the executor API
def subscribed(state: AgentState, fid: str, eid: str, known: frozenset[str]) -> None:
    """A custom executor (re-)subscribed: SUBSCRIBED, then what waited for it. A first
    subscription gets everything queued; a re-subscribing one what was queued while it was
    away (kills, messages, shutdown) and launches only of tasks it has not started yet."""
    fw = state.frameworks.get(fid)
    ex = fw.executors.get(eid) if fw else None
    if fw is None or ex is None:
        return
    first = not ex.subscribed
    ex.subscribed = True
    ex.connected = True
    einfo = ex.info
    if einfo.framework_id is None:
        einfo.framework_id = ID(fw.framework_id)
    event = SubscribedEvent(
        executor_info=einfo,
        framework_info=fw.info,
        agent_info=agent_info(state),
        container_id={"value": ex.container_id},
    )
    out = state.outbox
    out.append(SendToExecutor(fid, eid, ExecutorEvent(type="SUBSCRIBED", subscribed=event)))
    queued, ex.queued = ex.queued, []
    out.extend(SendToExecutor(fid, eid, e) for e in queued)
    if first:
        return
    staging = {t for t in ex.tasks if (e := fw.tasks.get(t)) and e.state == "TASK_STAGING"}
    queued_launches = {
        e.launch.task.task_id.value for e in queued if e.type == "LAUNCH" and e.launch is not None
    }
    for tid in sorted(staging - queued_launches - known):
        launch = ExecutorLaunch(task=fw.tasks[tid].info)
        out.append(SendToExecutor(fid, eid, ExecutorEvent(type="LAUNCH", launch=launch)))


def disconnected(state: AgentState, fid: str, eid: str) -> None:
    ex = state.executor(fid, eid)
    if ex is not None:
        ex.connected = False


def executor_update(state: AgentState, now: float, fid: str, eid: str, status: TaskStatus) -> None:
    """UPDATE: record the task's new state, and acknowledge it to the executor (the agent
    acknowledges, not the scheduler)."""
    fw = state.frameworks.get(fid)
    task = fw.tasks.get(status.task_id.value) if fw else None
    status.source = status.source or "SOURCE_EXECUTOR"
    if task is not None:
        status_update(state, now, task, status.state, status=status)
    ex = state.executor(fid, eid)
    if ex is not None and ex.connected and status.uuid is not None:
        ack = ExecutorAcknowledged(task_id=status.task_id, uuid=status.uuid)
        state.outbox.append(
            SendToExecutor(fid, eid, ExecutorEvent(type="ACKNOWLEDGED", acknowledged=ack))
        )


def executor_message(state: AgentState, fid: str, eid: str, data: bytes) -> None:
    state.outbox.append(
        SendToMaster(msg.ExecutorToFramework(framework_id=ID(fid), executor_id=ID(eid), data=data))
    )
