"""Agent restart, the pure half: the checkpoint (agent id, tasks, executors) and the status
update journal (unacknowledged updates, latest states) → the state the agent had.

The shell then asks each containerizer about the containers of that state; their answers
(still running, ended while the agent was down, gone) come back as ordinary container events,
then ``RecoveryFinished``.
"""

from __future__ import annotations

from pathlib import Path

from corral.agent.checkpoint import Recovered
from corral.agent.core.effects import Effect, ForgetExecutor, ForgetTask
from corral.agent.core.probes import resume as resume_probes
from corral.agent.core.state import AgentState, ExecutorEntry, TaskEntry
from corral.agent.status_updates import Pending
from corral.wire.tasks import is_terminal


def recover(
    state: AgentState,
    checkpoint: Recovered,
    pending: Pending,
    latest: dict[tuple[str, str], str],
) -> list[Effect]:
    """Rebuild ``state`` from what the last agent process left; the checkpoint records of
    tasks that ended and were acknowledged are forgotten."""
    state.updates.restore(pending)
    state.latest_state.update(latest)
    state.agent_id = checkpoint.agent_id
    for e in checkpoint.executors:
        fw = state.framework_entry(e.framework)
        ex = ExecutorEntry(
            framework_id=fw.framework_id,
            info=e.executor,
            sandbox=Path(e.sandbox),
            container_id=e.container_id,
            kind=e.kind,
        )
        fw.executors[ex.executor_id] = ex
        if e.kind == "custom":
            state.containers[e.container_id] = ex
    for t in checkpoint.tasks:
        fw = state.framework_entry(t.framework)
        tid = t.task.task_id.value
        task_state = latest.get((fw.framework_id, tid), "TASK_STAGING")
        task = TaskEntry(
            framework_id=fw.framework_id,
            info=t.task,
            sandbox=Path(t.sandbox),
            state=task_state,
            executor_id=t.executor_id,
            container_id=t.container_id,
        )
        if is_terminal(task_state):
            # Ended; its terminal update may still wait for acknowledgement: report it as
            # ended (not missing) when re-registering.
            if state.updates.has_pending(fw.framework_id, tid):
                fw.completed.append(task)
            else:
                state.outbox.append(ForgetTask(fw.framework_id, tid))
            continue
        fw.tasks[tid] = task
        if t.executor_id and t.executor_id in fw.executors:
            fw.executors[t.executor_id].tasks.add(tid)
        if t.container_id:
            state.containers[t.container_id] = task
    out, state.outbox = state.outbox, []
    return out


def recovery_finished(state: AgentState) -> None:
    """Task groups whose tasks all ended while the agent was down are gone (they have no
    container of their own to report it); tasks still running get their probes back."""
    for fw in state.frameworks.values():
        for task in fw.tasks.values():
            resume_probes(state, task)
        for eid, ex in list(fw.executors.items()):
            if ex.kind == "group" and not ex.tasks:
                del fw.executors[eid]
                state.outbox.append(ForgetExecutor(fw.framework_id, eid))
