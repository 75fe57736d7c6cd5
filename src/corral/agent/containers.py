"""What the containerizers tell the agent: containers started, failed to start, ended."""

from __future__ import annotations

from typing import TYPE_CHECKING

from corral.agent.containerizer.base import (
    ContainerEvent,
    Exited,
    LaunchCancelled,
    LaunchFailed,
    Lost,
    Recovered,
    Started,
)
from corral.agent.executors import executor_resources
from corral.agent.model import ExecutorEntry, TaskEntry
from corral.resources import from_wire
from corral.wire import agent as msg
from corral.wire.base import ID

if TYPE_CHECKING:
    from corral.agent.agent import Agent


def on_container_event(agent: Agent, event: ContainerEvent) -> None:
    owner = agent.containers.get(event.container_id)
    if owner is None:
        if isinstance(event, Recovered):  # running, and nobody's: it must not go on
            agent.containerizers.destroy(event.container_id)
        return
    if isinstance(owner, TaskEntry):
        task_container_event(agent, owner, event)
    else:
        executor_container_event(agent, owner, event)


def task_container_event(agent: Agent, task: TaskEntry, event: ContainerEvent) -> None:
    if isinstance(event, Started):
        task.pid = event.pid
        if task.kill_requested:
            task.kill_requested = False
            agent.kill_task(task.framework_id, task.task_id, None)
        else:
            agent.status_update(task, "TASK_RUNNING")
    elif isinstance(event, Recovered):
        task.pid = event.pid
        if task.state in ("TASK_STAGING", "TASK_STARTING"):
            agent.status_update(task, "TASK_RUNNING")
    elif isinstance(event, LaunchFailed):
        task_launch_failed(agent, task, event.message)
    elif isinstance(event, LaunchCancelled):
        agent.containers.pop(event.container_id, None)
        agent.status_update(task, "TASK_KILLED", reason="REASON_TASK_KILLED_DURING_LAUNCH")
    elif isinstance(event, Exited):
        agent.containers.pop(event.container_id, None)
        task_container_ended(agent, task, event)
    else:
        agent.containers.pop(event.container_id, None)
        agent.status_update(
            task,
            "TASK_KILLED" if task.kill_requested else "TASK_FAILED",
            source="SOURCE_AGENT",
            reason="REASON_EXECUTOR_TERMINATED",
            message=event.message,
        )


def task_launch_failed(agent: Agent, task: TaskEntry, message: str) -> None:
    """A task's container could not be made (fetch, image, cgroups, spawn, docker)."""
    agent.containers.pop(task.container_id or "", None)
    agent.status_update(
        task,
        "TASK_FAILED",
        message=message,
        reason="REASON_CONTAINER_LAUNCH_FAILED",
        source="SOURCE_AGENT",
    )


def task_container_ended(agent: Agent, task: TaskEntry, event: Exited) -> None:
    """A task's container ended: its terminal update, with the reason when a disk quota or
    the memory limit ended it."""
    disk = agent.disk.forget(event.container_id)
    text = event.message
    if disk is not None:
        agent.status_update(
            task,
            "TASK_FAILED",
            source="SOURCE_AGENT",
            reason="REASON_CONTAINER_LIMITATION_DISK",
            message=disk,
        )
    elif event.limitation == "memory":
        mem = from_wire(task.info.resources).scalar("mem")
        agent.status_update(
            task,
            "TASK_FAILED",
            source="SOURCE_AGENT",
            reason="REASON_CONTAINER_LIMITATION_MEMORY",
            message=f"Memory limit exceeded: the container was OOM-killed at its "
            f"limit of {mem:g} MB ({text})",
        )
    elif task.kill_requested:
        agent.status_update(task, "TASK_KILLED", message=text)
    elif event.succeeded:
        agent.status_update(task, "TASK_FINISHED", message=text)
    else:
        agent.status_update(task, "TASK_FAILED", message=text)


def executor_container_event(agent: Agent, ex: ExecutorEntry, event: ContainerEvent) -> None:
    fw = agent.frameworks.get(ex.framework_id)
    if isinstance(event, Started | Recovered):
        ex.pid = event.pid
        if isinstance(event, Started) and ex.kind != "group":
            # Tasks that joined while it was being spawned: its container holds them too.
            agent.containerizers.update(ex.container_id, executor_resources(agent, ex))
        return
    agent.containers.pop(event.container_id, None)
    if fw is None:
        return
    if not isinstance(event, Exited):  # failed to launch, or gone
        message = event.message if isinstance(event, LaunchFailed | Lost) else "cancelled"
        for tid in list(ex.tasks):
            task = fw.tasks.get(tid)
            if task is not None:
                agent.status_update(
                    task,
                    "TASK_FAILED",
                    message=message,
                    reason="REASON_CONTAINER_LAUNCH_FAILED",
                    source="SOURCE_AGENT",
                )
        status = 1
    else:
        status = event.status
        disk = agent.disk.forget(event.container_id)
        for tid in list(ex.tasks):
            task = fw.tasks.get(tid)
            if task is None:
                continue
            if disk is not None or event.limitation == "memory":
                agent.status_update(
                    task,
                    "TASK_FAILED",
                    message=disk or "Memory limit exceeded: the executor was OOM-killed",
                    reason="REASON_CONTAINER_LIMITATION_DISK"
                    if disk is not None
                    else "REASON_CONTAINER_LIMITATION_MEMORY",
                    source="SOURCE_AGENT",
                )
            elif ex.shutting_down:
                agent.status_update(
                    task, "TASK_KILLED", message="Executor was shut down", source="SOURCE_AGENT"
                )
            else:
                agent.status_update(
                    task,
                    "TASK_FAILED",
                    message="Executor terminated",
                    reason="REASON_EXECUTOR_TERMINATED",
                    source="SOURCE_AGENT",
                )
    if ex.stream is not None:
        ex.stream.close()
    fw.executors.pop(ex.executor_id, None)
    agent.checkpoint.forget_executor(fw.framework_id, ex.executor_id)
    agent.send(
        msg.ExecutorExited(
            framework_id=ID(fw.framework_id), executor_id=ex.info.executor_id, status=status
        )
    )
