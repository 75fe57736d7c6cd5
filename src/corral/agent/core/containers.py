"""What the containerizers report: a container started, failed to start, or ended; and what
that means for the task or executor that owns it."""

from __future__ import annotations

from corral.agent.core.effects import (
    CloseExecutorStream,
    DestroyContainer,
    ForgetExecutor,
    SendToMaster,
    UpdateContainer,
)
from corral.agent.core.events import (
    ContainerExited,
    ContainerLaunchCancelled,
    ContainerLaunchFailed,
    ContainerLost,
    ContainerRecovered,
    ContainerStarted,
    DiskQuotaExceeded,
)
from corral.agent.core.executors import executor_failed, executor_resources
from corral.agent.core.state import AgentState, ExecutorEntry, TaskEntry
from corral.agent.core.tasks import kill_task, status_update
from corral.resources import from_wire
from corral.wire import agent as msg
from corral.wire.base import ID

ContainerEvent = (
    ContainerStarted
    | ContainerRecovered
    | ContainerLaunchFailed
    | ContainerLaunchCancelled
    | ContainerExited
    | ContainerLost
)


def container_event(state: AgentState, now: float, event: ContainerEvent) -> None:
    owner = state.containers.get(event.container_id)
    if owner is None:
        if isinstance(event, ContainerRecovered):  # running, and nobody's: it must not go on
            state.outbox.append(DestroyContainer(event.container_id))
        return
    if isinstance(owner, TaskEntry):
        task_container_event(state, now, owner, event)
    else:
        executor_container_event(state, now, owner, event)


def task_container_event(
    state: AgentState, now: float, task: TaskEntry, event: ContainerEvent
) -> None:
    if isinstance(event, ContainerStarted):
        task.pid = event.pid
        if task.kill_requested:  # killed while it was being spawned: kill it now
            task.kill_requested = False
            kill_task(state, now, task.framework_id, task.task_id, None)
        else:
            status_update(state, now, task, "TASK_RUNNING")
    elif isinstance(event, ContainerRecovered):
        task.pid = event.pid
        if task.state in ("TASK_STAGING", "TASK_STARTING"):
            status_update(state, now, task, "TASK_RUNNING")
    elif isinstance(event, ContainerLaunchFailed):
        task_launch_failed(state, now, task, event.message)
    elif isinstance(event, ContainerLaunchCancelled):
        state.containers.pop(event.container_id, None)
        status_update(state, now, task, "TASK_KILLED", reason="REASON_TASK_KILLED_DURING_LAUNCH")
    elif isinstance(event, ContainerExited):
        state.containers.pop(event.container_id, None)
        task_container_ended(state, now, task, event)
    else:
        state.containers.pop(event.container_id, None)
        status_update(
            state,
            now,
            task,
            "TASK_KILLED" if task.kill_requested else "TASK_FAILED",
            source="SOURCE_AGENT",
            reason="REASON_EXECUTOR_TERMINATED",
            message=event.message,
        )


def task_launch_failed(state: AgentState, now: float, task: TaskEntry, message: str) -> None:
    """A task's container could not be made (fetch, image, cgroups, spawn, docker)."""
    state.containers.pop(task.container_id or "", None)
    status_update(
        state,
        now,
        task,
        "TASK_FAILED",
        message=message,
        reason="REASON_CONTAINER_LAUNCH_FAILED",
        source="SOURCE_AGENT",
    )


def task_container_ended(
    state: AgentState, now: float, task: TaskEntry, event: ContainerExited
) -> None:
    """A task's container ended: its terminal update, with the reason when a disk quota or
    the memory limit ended it."""
    disk = state.disk_exceeded.pop(event.container_id, None)
    text = event.message
    if disk is not None:
        status_update(
            state,
            now,
            task,
            "TASK_FAILED",
            source="SOURCE_AGENT",
            reason="REASON_CONTAINER_LIMITATION_DISK",
            message=disk,
        )
    elif event.limitation == "memory":
        mem = from_wire(task.info.resources).scalar("mem")
        status_update(
            state,
            now,
            task,
            "TASK_FAILED",
            source="SOURCE_AGENT",
            reason="REASON_CONTAINER_LIMITATION_MEMORY",
            message=f"Memory limit exceeded: the container was OOM-killed at its "
            f"limit of {mem:g} MB ({text})",
        )
    elif task.kill_requested:
        status_update(state, now, task, "TASK_KILLED", message=text, reason=task.kill_reason)
    elif event.succeeded:
        status_update(state, now, task, "TASK_FINISHED", message=text)
    else:
        status_update(state, now, task, "TASK_FAILED", message=text)


def executor_container_event(
    state: AgentState, now: float, ex: ExecutorEntry, event: ContainerEvent
) -> None:
    if isinstance(event, ContainerStarted | ContainerRecovered):
        ex.pid = event.pid
        if isinstance(event, ContainerStarted) and ex.kind != "group":
            # Tasks that joined while it was being spawned: its container holds them too.
            state.outbox.append(UpdateContainer(ex.container_id, executor_resources(state, ex)))
        return
    state.containers.pop(event.container_id, None)
    fw = state.frameworks.get(ex.framework_id)
    if fw is None:
        return
    if not isinstance(event, ContainerExited):  # failed to launch, or gone
        message = (
            event.message
            if isinstance(event, ContainerLaunchFailed | ContainerLost)
            else "cancelled"
        )
        executor_failed(state, now, fw, ex, message, "REASON_CONTAINER_LAUNCH_FAILED")
        status = 1
    else:
        status = event.status
        disk = state.disk_exceeded.pop(event.container_id, None)
        for tid in list(ex.tasks):
            task = fw.tasks.get(tid)
            if task is None:
                continue
            if disk is not None or event.limitation == "memory":
                status_update(
                    state,
                    now,
                    task,
                    "TASK_FAILED",
                    message=disk or "Memory limit exceeded: the executor was OOM-killed",
                    reason="REASON_CONTAINER_LIMITATION_DISK"
                    if disk is not None
                    else "REASON_CONTAINER_LIMITATION_MEMORY",
                    source="SOURCE_AGENT",
                )
            elif ex.shutting_down:
                status_update(
                    state,
                    now,
                    task,
                    "TASK_KILLED",
                    message="Executor was shut down",
                    source="SOURCE_AGENT",
                )
            else:
                status_update(
                    state,
                    now,
                    task,
                    "TASK_FAILED",
                    message="Executor terminated",
                    reason="REASON_EXECUTOR_TERMINATED",
                    source="SOURCE_AGENT",
                )
    if ex.connected:
        ex.connected = False
        state.outbox.append(CloseExecutorStream(fw.framework_id, ex.executor_id))
    fw.executors.pop(ex.executor_id, None)
    state.outbox.append(ForgetExecutor(fw.framework_id, ex.executor_id))
    state.outbox.append(
        SendToMaster(
            msg.ExecutorExited(
                framework_id=ID(fw.framework_id), executor_id=ex.info.executor_id, status=status
            )
        )
    )


def disk_quota_exceeded(state: AgentState, event: DiskQuotaExceeded) -> None:
    if event.container_id in state.containers:
        state.disk_exceeded[event.container_id] = event.message
        state.outbox.append(DestroyContainer(event.container_id))
