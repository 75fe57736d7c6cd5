"""Health checks and checks in the agent core: which tasks are probed, and what every update
of a probed task carries (its last ``healthy`` and ``check_status``).

``annotate`` runs inside ``status_update`` for every update: TASK_RUNNING starts the probes
of a task that has a health check or check (``StartProbes``), a terminal state stops them
(``StopProbes``). ``health_result`` and ``check_result`` (in ``core/health.py``) turn the
shell's probe verdicts into updates and kills. The probes themselves, and the timing and
verdict rules, are in ``agent/health_checks.py`` and ``corral.health.policy``.
"""

from __future__ import annotations

from corral.agent.core.effects import StartProbes, StopProbes
from corral.agent.core.state import AgentState, TaskEntry
from corral.health.policy import Reported
from corral.wire.tasks import TaskStatus, is_terminal


def resume(state: AgentState, task: TaskEntry) -> None:
    """After an agent restart: a task still running in its container is probed again (from
    a fresh verdict; its grace period starts over)."""
    info = task.info
    if info.health_check is None and info.check is None:
        return
    if task.state != "TASK_RUNNING" or not task.container_id:
        return
    if task.probes is None:
        task.probes = Reported()
    if not task.probes.probing:
        task.probes.probing = True
        state.outbox.append(StartProbes(task.framework_id, task.task_id))


def annotate(state: AgentState, task: TaskEntry, status: TaskStatus) -> None:
    info = task.info
    if task.probes is None:
        if info.health_check is None and info.check is None:
            return
        task.probes = Reported()
    p = task.probes
    if status.healthy is not None:
        p.healthy = status.healthy
    else:
        status.healthy = p.healthy
    if status.check_status is not None:
        p.check_status = status.check_status
    else:
        status.check_status = p.check_status
    key = (task.framework_id, task.task_id)
    if status.state == "TASK_RUNNING" and task.container_id and not p.probing:
        p.probing = True  # command and task-group tasks; a custom executor probes its own
        state.outbox.append(StartProbes(*key))
    elif is_terminal(status.state):
        if p.killed is not None:
            status.message = p.killed
        if p.probing:
            p.probing = False
            state.outbox.append(StopProbes(*key))
