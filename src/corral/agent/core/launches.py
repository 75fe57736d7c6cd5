"""Launching command tasks and task-group tasks: record, checkpoint, prepare the sandbox
(the shell fetches URIs), then launch the container through the containerizers."""

from __future__ import annotations

from corral.agent.checkpoint import TaskRecord
from corral.agent.core.effects import CheckpointTask, LaunchContainer, PrepareSandbox
from corral.agent.core.executors import launch_executor, run_executor_task, shutdown_grace
from corral.agent.core.layout import sandbox_dir
from corral.agent.core.state import AgentState, ExecutorEntry, TaskEntry
from corral.agent.core.tasks import status_update
from corral.resources import from_wire
from corral.wire import agent as msg


def run_task(state: AgentState, now: float, m: msg.RunTask) -> None:
    fw = state.framework_entry(m.framework_info)
    info = m.task
    tid = info.task_id.value
    if tid in fw.tasks:
        return  # a duplicate delivery
    if info.executor is not None:
        run_executor_task(state, now, fw, info.executor, info)
        return
    cid = state.container_ids()
    sandbox = sandbox_dir(state.settings.work_dir, cid)
    task = TaskEntry(framework_id=fw.framework_id, info=info, sandbox=sandbox, container_id=cid)
    fw.tasks[tid] = task
    state.containers[cid] = task
    state.outbox.append(
        CheckpointTask(
            TaskRecord(framework=fw.info, task=info, sandbox=str(sandbox), container_id=cid)
        )
    )
    prepare(state, now, task)


def prepare(state: AgentState, now: float, task: TaskEntry) -> None:
    """Ask for the task's sandbox (and its URIs: TASK_STARTING while they are fetched)."""
    command = task.info.command
    assert task.container_id is not None
    if command is not None and command.uris:
        status_update(state, now, task, "TASK_STARTING")
    state.outbox.append(PrepareSandbox(task.container_id, task.sandbox, command))


def sandbox_ready(state: AgentState, now: float, cid: str) -> None:
    owner = state.containers.get(cid)
    if isinstance(owner, ExecutorEntry):
        launch_executor(state, now, owner)
    elif owner is not None:
        launch_task(state, now, owner)


def launch_task(state: AgentState, now: float, task: TaskEntry) -> None:
    info = task.info
    assert info.command is not None and task.container_id is not None
    if task.kill_requested:
        state.containers.pop(task.container_id, None)
        status_update(state, now, task, "TASK_KILLED", reason="REASON_TASK_KILLED_DURING_LAUNCH")
        return
    if task.state == "TASK_STAGING":
        status_update(state, now, task, "TASK_STARTING")
    fw = state.frameworks[task.framework_id]
    state.outbox.append(
        LaunchContainer(
            container_id=task.container_id,
            framework=fw.info,
            sandbox=task.sandbox,
            command=info.command,
            resources=from_wire(info.resources),
            executor_id=info.task_id.value,
            shutdown_grace=shutdown_grace(state, None),
            task=info,
        )
    )
