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

from corral.agent import launcher_protocol as lp
from corral.agent.containers import drop_unowned
from corral.agent.docker_spec import is_docker
from corral.agent.model import ExecutorEntry, TaskEntry
from corral.wire.tasks import is_terminal

if TYPE_CHECKING:
    from corral.agent.agent import Agent

log = logging.getLogger("corral.agent")


async def cleanup(agent: Agent) -> None:
    if agent.docker is not None:
        await agent.docker.cleanup()
    listing = await agent.launcher.list()
    for cid in listing.running:
        agent.launcher.send(lp.KillRequest(id=cid, grace=0))
    if listing.exited:
        agent.launcher.send(lp.ForgetRequest(ids=list(listing.exited)))
    agent.checkpoint.wipe()
    agent.updates.reset()
    if listing.running:
        log.info("--recover cleanup: killed %d leftover containers", len(listing.running))


async def recover(agent: Agent) -> None:
    recovered = agent.checkpoint.recover()
    latest = agent.updates.recover()
    agent._latest_state.update(latest)
    agent.agent_id = recovered.agent_id
    for e in recovered.executors:
        fw = agent._framework(e.framework)
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
        fw = agent._framework(t.framework)
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

    # Docker tasks are dockerd's containers, not the launcher's children.
    if agent.docker is None:
        docker_tasks = [
            o for o in agent.containers.values() if isinstance(o, TaskEntry) and is_docker(o.info)
        ]
        if docker_tasks:
            # Reporting them as gone would free resources their containers still use.
            raise RuntimeError(
                f"{len(docker_tasks)} docker task(s) were running under this agent, but docker "
                "is not available now (see above); start dockerd and restart the agent, or "
                "restart it with --recover cleanup"
            )
    in_docker = await agent.docker.recover() if agent.docker is not None else set()
    listing = await agent.launcher.list()
    adopted = ended = gone = 0
    for cid, owner in list(agent.containers.items()):
        if cid in in_docker:
            continue
        if cid in listing.running:
            owner.pid = listing.running[cid]
            adopted += 1
            if isinstance(owner, TaskEntry) and owner.state in ("TASK_STAGING", "TASK_STARTING"):
                agent.status_update(owner, "TASK_RUNNING")
        elif cid in listing.exited:
            ended += 1
            agent._on_launcher(lp.Exited(id=cid, status=listing.exited[cid]))
        else:
            gone += 1
            agent.containers.pop(cid, None)
            if isinstance(owner, TaskEntry):
                agent.status_update(
                    owner,
                    "TASK_FAILED",
                    reason="REASON_EXECUTOR_TERMINATED",
                    message="The task's process was gone when the agent restarted",
                    source="SOURCE_AGENT",
                )
            else:
                agent._on_launcher(lp.Failed(id=cid, error="executor gone after agent restart"))
    leftovers = drop_unowned(agent, listing)
    # Executors whose tasks all ended and which have no process of their own (task groups).
    for fw in agent.frameworks.values():
        for eid, ex in list(fw.executors.items()):
            if ex.kind == "group" and not ex.tasks:
                del fw.executors[eid]
                agent.checkpoint.forget_executor(fw.framework_id, eid)
    if recovered.agent_id or adopted or ended:
        log.info(
            "recovered agent %s: %d running containers adopted, %d ended while down, %d gone, "
            "%d unknown killed",
            recovered.agent_id,
            adopted,
            ended,
            gone,
            leftovers,
        )


def _path(p: str) -> Path:
    return Path(p)
