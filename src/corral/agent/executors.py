"""Custom executors (processes speaking the v1 executor API) and task groups (LAUNCH_GROUP,
run by the agent itself in the role of Mesos's default executor)."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

from corral.agent.checkpoint import ExecutorRecord as CheckpointedExecutor
from corral.agent.checkpoint import TaskRecord as CheckpointedTask
from corral.agent.containerizer.base import LaunchSpec
from corral.agent.environment import kill_grace
from corral.agent.model import ExecutorEntry, FrameworkEntry, TaskEntry
from corral.agent.sandbox import FetchError, fetch_uris, make_sandbox, sandbox_dir
from corral.resources import Resources, from_wire
from corral.wire import agent as msg
from corral.wire.base import ID
from corral.wire.codec import encode
from corral.wire.common import FrameworkInfo
from corral.wire.executor import ExecutorEvent, ExecutorLaunch
from corral.wire.tasks import ExecutorInfo, TaskInfo

if TYPE_CHECKING:
    from corral.agent.agent import Agent


def _run_executor_task(
    self: Agent, fw: FrameworkEntry, einfo: ExecutorInfo, info: TaskInfo
) -> None:
    eid = einfo.executor_id.value
    ex = fw.executors.get(eid)
    if ex is None:
        ex = self._start_executor(fw, einfo, kind="custom")
    task = TaskEntry(framework_id=fw.framework_id, info=info, sandbox=ex.sandbox, executor_id=eid)
    fw.tasks[info.task_id.value] = task
    ex.tasks.add(info.task_id.value)
    self.checkpoint.task(
        CheckpointedTask(framework=fw.info, task=info, sandbox=str(ex.sandbox), executor_id=eid)
    )
    if ex.pid is not None:  # a running executor's container grows with it
        self.containerizers.update(ex.container_id, executor_resources(self, ex))
    self._to_executor(ex, ExecutorEvent(type="LAUNCH", launch=ExecutorLaunch(task=info)))


def _start_executor(
    self: Agent, fw: FrameworkEntry, einfo: ExecutorInfo, kind: str
) -> ExecutorEntry:
    eid = einfo.executor_id.value
    cid = str(uuid.uuid4())
    sandbox = sandbox_dir(self.config.work_dir, cid)
    ex = ExecutorEntry(
        framework_id=fw.framework_id, info=einfo, sandbox=sandbox, container_id=cid, kind=kind
    )
    fw.executors[eid] = ex
    self.checkpoint.executor(
        CheckpointedExecutor(
            framework=fw.info, executor=einfo, sandbox=str(sandbox), container_id=cid, kind=kind
        )
    )
    if kind == "custom":
        self.containers[cid] = ex
        asyncio.get_running_loop().create_task(self._launch_executor(fw, ex))
    else:
        make_sandbox(sandbox)
    return ex


async def _launch_executor(self: Agent, fw: FrameworkEntry, ex: ExecutorEntry) -> None:
    cmd = ex.info.command
    try:
        make_sandbox(ex.sandbox)
        if cmd is None or not (cmd.value or cmd.arguments):
            raise FetchError("ExecutorInfo.command has no value to run")
        if cmd.uris:
            await fetch_uris(cmd.uris, ex.sandbox, self._session, ex.sandbox / "stderr")
    except (FetchError, OSError) as exc:
        self._executor_failed(fw, ex, str(exc), "REASON_CONTAINER_LAUNCH_FAILED")
        return
    await self.containerizers.launch(
        LaunchSpec(
            container_id=ex.container_id,
            framework=fw.info,
            sandbox=ex.sandbox,
            command=cmd,
            resources=executor_resources(self, ex),
            executor_id=ex.executor_id,
            agent=self.facts(),
            shutdown_grace=self._shutdown_grace(ex.info),
            executor=ex.info,
        )
    )
    asyncio.get_running_loop().call_later(
        self.config.executor_registration_timeout, self._registration_timeout, ex
    )


def executor_resources(agent: Agent, ex: ExecutorEntry) -> Resources:
    """A custom executor's container holds the executor's resources plus its tasks'."""
    res = from_wire(ex.info.resources)
    fw = agent.frameworks.get(ex.framework_id)
    for tid in ex.tasks:
        task = fw.tasks.get(tid) if fw else None
        if task is not None:
            res = res + from_wire(task.info.resources)
    return res


def _registration_timeout(self: Agent, ex: ExecutorEntry) -> None:
    if ex.subscribed or (ex.pid is None and ex.container_id not in self.containers):
        return
    fw = self.frameworks.get(ex.framework_id)
    if fw is None or fw.executors.get(ex.executor_id) is not ex:
        return
    self._executor_failed(
        fw, ex, "Executor did not register in time", "REASON_EXECUTOR_REGISTRATION_TIMEOUT"
    )
    self.containerizers.destroy(ex.container_id)


def _executor_failed(
    self: Agent, fw: FrameworkEntry, ex: ExecutorEntry, message: str, reason: str
) -> None:
    for tid in list(ex.tasks):
        task = fw.tasks.get(tid)
        if task is not None:
            self.status_update(
                task, "TASK_FAILED", message=message, reason=reason, source="SOURCE_AGENT"
            )


def _to_executor(self: Agent, ex: ExecutorEntry, event: ExecutorEvent) -> None:
    data = encode(event)
    if ex.stream is not None and not ex.stream.closed:
        ex.stream.send(data)
    else:
        ex.queued.append(data)


# ------------------------------------------------------------------ task groups
def run_task_group(
    self: Agent, framework_info: FrameworkInfo, einfo: ExecutorInfo, tasks: list[TaskInfo]
) -> None:
    """LAUNCH_GROUP: the agent plays Mesos's default executor; each task is its own process."""
    fw = self.framework_entry(framework_info)
    eid = einfo.executor_id.value
    ex = fw.executors.get(eid) or self._start_executor(fw, einfo, kind="group")
    for info in tasks:
        tid = info.task_id.value
        if tid in fw.tasks:
            continue
        cid = str(uuid.uuid4())
        sandbox = ex.sandbox / "tasks" / tid
        task = TaskEntry(
            framework_id=fw.framework_id,
            info=info,
            sandbox=sandbox,
            executor_id=eid,
            container_id=cid,
        )
        fw.tasks[tid] = task
        ex.tasks.add(tid)
        self.containers[cid] = task
        self.checkpoint.task(
            CheckpointedTask(
                framework=fw.info,
                task=info,
                sandbox=str(sandbox),
                container_id=cid,
                executor_id=eid,
            )
        )
        asyncio.get_running_loop().create_task(self._launch_command(fw, task, sandbox))


def _group_task_ended(self: Agent, fw: FrameworkEntry, ex: ExecutorEntry, task: TaskEntry) -> None:
    if task.state != "TASK_FINISHED":
        for tid in list(ex.tasks):
            other = fw.tasks.get(tid)
            if other is not None:
                self.kill_task(fw.framework_id, tid, kill_grace(other.info.kill_policy))
    if not ex.tasks:
        fw.executors.pop(ex.executor_id, None)
        self.checkpoint.forget_executor(fw.framework_id, ex.executor_id)
        self.send(
            msg.ExecutorExited(
                framework_id=ID(fw.framework_id), executor_id=ex.info.executor_id, status=0
            )
        )
