"""corral's KILL_TASK operator call (``corral kill TASK``): the master finds the task, checks
the caller may act on its framework (the ``teardown_frameworks`` ACL, as TEARDOWN), and sends
the kill to its agent, with the caller's grace period or the task's own."""

from __future__ import annotations

import logging

from corral.master.core.authz import check_teardown
from corral.master.core.effects import Effects
from corral.master.core.events import OperatorKill
from corral.master.core.send import to_agent
from corral.master.core.state import MasterState, TaskRecord
from corral.master.errors import CallError
from corral.wire import agent as amsg
from corral.wire.base import ID
from corral.wire.common import DurationInfo
from corral.wire.tasks import KillPolicy

log = logging.getLogger("corral.master")


def find_task(state: MasterState, task_id: str, framework_id: str | None) -> TaskRecord:
    """The running task ``task_id`` (of ``framework_id`` if given); CallError 404 / 400."""
    if not task_id:
        raise CallError(400, "'kill_task.task_id' is missing")
    if framework_id is not None:
        fw = state.frameworks.get(framework_id)
        if fw is None:
            raise CallError(404, f"Framework {framework_id} is not registered")
        task = fw.tasks.get(task_id)
        if task is None:
            raise CallError(404, f"Task {task_id} of framework {framework_id} is not running")
        return task
    found = [fw.tasks[task_id] for fw in state.frameworks.values() if task_id in fw.tasks]
    if not found:
        raise CallError(404, f"Task {task_id} is not running (no framework has it)")
    if len(found) > 1:
        owners = ", ".join(sorted(t.framework_id for t in found))
        raise CallError(
            400, f"Task id {task_id} is used by frameworks {owners}: name the framework"
        )
    return found[0]


def kill_task(state: MasterState, out: Effects, ev: OperatorKill) -> None:
    """Send the kill; CallError (nothing sent) if the task or its agent cannot be reached."""
    if ev.grace is not None and ev.grace < 0:
        raise CallError(400, "'kill_task.kill_policy.grace_period' must not be negative")
    task = find_task(state, ev.task_id, ev.framework_id)
    fw = state.frameworks[task.framework_id]
    check_teardown(state, ev.principal, fw)
    agent = state.agents.get(task.agent_id)
    if agent is None or agent.link is None:
        raise CallError(
            409, f"Agent {task.agent_id} of task {ev.task_id} is not connected: cannot kill it now"
        )
    policy = task.info.kill_policy
    if ev.grace is not None:
        policy = KillPolicy(grace_period=DurationInfo(nanoseconds=int(ev.grace * 1e9)))
    to_agent(
        agent,
        amsg.KillTask(framework_id=ID(fw.id), task_id=task.info.task_id, kill_policy=policy),
        out,
    )
    log.info("operator %s killed task %s of framework %s", ev.principal, ev.task_id, fw.id)
