"""The shell's probe verdicts, applied: a TASK_RUNNING update with ``healthy`` (or
``check_status``), and the kill of a task whose health check failed too often."""

from __future__ import annotations

from corral.agent.core import events as ev
from corral.agent.core.state import AgentState, TaskEntry
from corral.agent.core.tasks import kill_task, status_update
from corral.health.policy import CHECK_REASON, HEALTH_REASON
from corral.wire.tasks import TaskStatus, is_terminal


def probed_task(state: AgentState, framework_id: str, task_id: str) -> TaskEntry | None:
    fw = state.frameworks.get(framework_id)
    task = fw.tasks.get(task_id) if fw else None
    if task is None or is_terminal(task.state) or task.probes is None:
        return None
    return task


def health_result(state: AgentState, now: float, e: ev.HealthResult) -> None:
    task = probed_task(state, e.framework_id, e.task_id)
    if task is None:
        return
    status = TaskStatus(
        task_id=task.info.task_id,
        state="TASK_RUNNING",
        message=e.message,
        reason=HEALTH_REASON,
        source="SOURCE_EXECUTOR",
        uuid=state.update_uuids(),
        healthy=e.healthy,
    )
    status_update(state, now, task, "TASK_RUNNING", status=status)
    if e.kill is not None and task.probes is not None:
        task.probes.killed = e.kill
        kill_task(state, now, e.framework_id, e.task_id, None)


def check_result(state: AgentState, now: float, e: ev.CheckResult) -> None:
    task = probed_task(state, e.framework_id, e.task_id)
    if task is None:
        return
    status = TaskStatus(
        task_id=task.info.task_id,
        state="TASK_RUNNING",
        reason=CHECK_REASON,
        source="SOURCE_EXECUTOR",
        uuid=state.update_uuids(),
        check_status=e.check_status,
    )
    status_update(state, now, task, "TASK_RUNNING", status=status)
