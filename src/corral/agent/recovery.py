"""Agent restart: re-adopt the tasks the launcher kept running, report those that ended.

``--recover reconnect`` (the default) reads the checkpoint (agent id, tasks, executors), the
status-update journal (unacknowledged updates, latest states) and asks the launcher what is
still running and what exited meanwhile. The agent then re-registers with its old id and its
tasks; updates for tasks that ended while it was down are sent as soon as it is registered.
``--recover cleanup`` kills everything an earlier run left and starts with a new identity.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from corral.agent.containerizer.base import Recoverable
from corral.agent.model import ExecutorEntry, TaskEntry
from corral.wire.tasks import is_terminal

if TYPE_CHECKING:
    from corral.agent.agent import Agent

log = logging.getLogger("corral.agent")


async def cleanup(agent: Agent) -> None:
    await agent.containerizers.cleanup()
    agent.checkpoint.wipe()
    agent.updates.reset()


async def recover(agent: Agent) -> None:
    recovered = agent.checkpoint.recover()
    latest = agent.updates.recover()
    agent.latest_state.update(latest)
    agent.agent_id = recovered.agent_id
    for e in recovered.executors:
        fw = agent.framework_entry(e.framework)
        ex = ExecutorEntry(
            framework_id=fw.framework_id,
            info=e.executor,
            sandbox=_path(e.sandbox),
            container_id=e.container_id,
            kind=e.kind,
        )
        fw.executors[ex.executor_id] = ex
        if e.kind == "custom":
            agent.containers[e.container_id] = ex
    for t in recovered.tasks:
        fw = agent.framework_entry(t.framework)
        tid = t.task.task_id.value
        state = latest.get((fw.framework_id, tid), "TASK_STAGING")
        task = TaskEntry(
            framework_id=fw.framework_id,
            info=t.task,
            sandbox=_path(t.sandbox),
            state=state,
            executor_id=t.executor_id,
            container_id=t.container_id,
        )
        if is_terminal(state):
            # Ended; its terminal update may still wait for acknowledgement: report it as
            # ended (not missing) when re-registering.
            if agent.updates.has_pending(fw.framework_id, tid):
                fw.completed.append(task)
            else:
                agent.checkpoint.forget_task(fw.framework_id, tid)
            continue
        fw.tasks[tid] = task
        if t.executor_id and t.executor_id in fw.executors:
            fw.executors[t.executor_id].tasks.add(tid)
        if t.container_id:
            agent.containers[t.container_id] = task

    # Each containerizer reports its containers (still running, ended meanwhile, gone) as
    # events, and destroys its containers no task or executor owns.
    found = await agent.containerizers.recover(
        {
            cid: Recoverable(
                sandbox=owner.sandbox,
                container=owner.info.container if isinstance(owner, TaskEntry) else None,
            )
            for cid, owner in agent.containers.items()
        }
    )
    # Executors whose tasks all ended and which have no process of their own (task groups).
    for fw in agent.frameworks.values():
        for eid, ex in list(fw.executors.items()):
            if ex.kind == "group" and not ex.tasks:
                del fw.executors[eid]
                agent.checkpoint.forget_executor(fw.framework_id, eid)
    if recovered.agent_id or found.running or found.ended:
        log.info(
            "recovered agent %s: %d running containers adopted, %d ended while down, %d gone, "
            "%d unknown killed",
            recovered.agent_id,
            found.running,
            found.ended,
            found.gone,
            found.unknown,
        )


def _path(p: str) -> Path:
    return Path(p)
