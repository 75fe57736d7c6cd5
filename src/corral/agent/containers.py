"""What the launcher tells the agent: containers started, failed to start, exited."""

from __future__ import annotations

from typing import TYPE_CHECKING

from corral.agent import launcher_protocol as lp
from corral.agent.executors import executor_limits
from corral.agent.model import ExecutorEntry, TaskEntry
from corral.resources import from_wire
from corral.wire import agent as msg
from corral.wire.base import ID

if TYPE_CHECKING:
    from corral.agent.agent import Agent


def _on_launcher(self: Agent, reply: lp.Reply) -> None:
    if isinstance(reply, lp.Listing):
        # After reconnecting to the launcher: catch up on exits we missed meanwhile.
        for cid, status in reply.exited.items():
            if cid in self.containers:
                self._on_launcher(lp.Exited(id=cid, status=status))
        drop_unowned(self, reply)
        return
    owner = self.containers.get(reply.id)
    if owner is None:
        if isinstance(reply, lp.Exited):
            self.launcher.send(lp.ForgetRequest(ids=[reply.id]))
        return
    if isinstance(owner, TaskEntry):
        self._task_container_event(owner, reply)
    else:
        self._executor_container_event(owner, reply)


def _task_container_event(self: Agent, task: TaskEntry, reply: lp.Reply) -> None:
    if isinstance(reply, lp.Started):
        task.pid = reply.pid
        if task.kill_requested:
            task.kill_requested = False
            self.kill_task(task.framework_id, task.task_id, None)
        else:
            self.status_update(task, "TASK_RUNNING")
    elif isinstance(reply, lp.Failed):
        task_launch_failed(self, task, reply.error)
    elif isinstance(reply, lp.Exited):
        self.containers.pop(reply.id, None)
        self.launcher.send(lp.ForgetRequest(ids=[reply.id]))
        ok, text = lp.describe_status(reply.status)
        task_container_ended(self, task, reply.id, ok, text, reply.limitation == "memory")


def drop_unowned(self: Agent, listing: lp.Listing) -> int:
    """Kill the launcher's containers that no task or executor of this agent owns (how many),
    and let it forget the exit statuses nobody will collect."""
    leftovers = [cid for cid in listing.running if cid not in self.containers]
    for cid in leftovers:
        self.launcher.send(lp.KillRequest(id=cid, grace=0))
    stale = [cid for cid in listing.exited if cid not in self.containers]
    if stale:
        self.launcher.send(lp.ForgetRequest(ids=stale))
    return len(leftovers)


def task_launch_failed(self: Agent, task: TaskEntry, message: str) -> None:
    """A task's container could not be made (fetch, image, cgroups, spawn, docker)."""
    self.containers.pop(task.container_id or "", None)
    self.status_update(
        task,
        "TASK_FAILED",
        message=message,
        reason="REASON_CONTAINER_LAUNCH_FAILED",
        source="SOURCE_AGENT",
    )


def task_container_ended(
    self: Agent, task: TaskEntry, cid: str, ok: bool, text: str, oom_killed: bool
) -> None:
    """A task's container ended (launcher or docker): its terminal update, with the reason
    when a disk quota or the memory limit ended it."""
    disk = self.disk.forget(cid)
    if disk is not None:
        self.status_update(
            task,
            "TASK_FAILED",
            source="SOURCE_AGENT",
            reason="REASON_CONTAINER_LIMITATION_DISK",
            message=disk,
        )
    elif oom_killed:
        mem = from_wire(task.info.resources).scalar("mem")
        self.status_update(
            task,
            "TASK_FAILED",
            source="SOURCE_AGENT",
            reason="REASON_CONTAINER_LIMITATION_MEMORY",
            message=f"Memory limit exceeded: the container was OOM-killed at its "
            f"limit of {mem:g} MB ({text})",
        )
    elif task.kill_requested:
        self.status_update(task, "TASK_KILLED", message=text)
    elif ok:
        self.status_update(task, "TASK_FINISHED", message=text)
    else:
        self.status_update(task, "TASK_FAILED", message=text)


def _executor_container_event(self: Agent, ex: ExecutorEntry, reply: lp.Reply) -> None:
    fw = self.frameworks.get(ex.framework_id)
    if isinstance(reply, lp.Started):
        ex.pid = reply.pid
        if self.linux and ex.kind != "group":
            # Tasks that joined while it was being spawned: its cgroups hold them too.
            limits = executor_limits(self, ex)
            self.launcher.send(lp.UpdateRequest(id=ex.container_id, cgroups=limits))
        return
    assert not isinstance(reply, lp.Listing)
    self.containers.pop(reply.id, None)
    if fw is None:
        return
    if isinstance(reply, lp.Failed):
        self._executor_failed(fw, ex, reply.error, "REASON_CONTAINER_LAUNCH_FAILED")
        status = 1
    else:
        assert isinstance(reply, lp.Exited)
        self.launcher.send(lp.ForgetRequest(ids=[reply.id]))
        status = reply.status
        disk = self.disk.forget(reply.id)
        for tid in list(ex.tasks):
            task = fw.tasks.get(tid)
            if task is None:
                continue
            if disk is not None or reply.limitation == "memory":
                self.status_update(
                    task,
                    "TASK_FAILED",
                    message=disk or "Memory limit exceeded: the executor was OOM-killed",
                    reason="REASON_CONTAINER_LIMITATION_DISK"
                    if disk is not None
                    else "REASON_CONTAINER_LIMITATION_MEMORY",
                    source="SOURCE_AGENT",
                )
            elif ex.shutting_down:
                self.status_update(
                    task, "TASK_KILLED", message="Executor was shut down", source="SOURCE_AGENT"
                )
            else:
                self.status_update(
                    task,
                    "TASK_FAILED",
                    message="Executor terminated",
                    reason="REASON_EXECUTOR_TERMINATED",
                    source="SOURCE_AGENT",
                )
    if ex.stream is not None:
        ex.stream.close()
    fw.executors.pop(ex.executor_id, None)
    self.checkpoint.forget_executor(fw.framework_id, ex.executor_id)
    self._send(
        msg.ExecutorExited(
            framework_id=ID(fw.framework_id), executor_id=ex.info.executor_id, status=status
        )
    )
