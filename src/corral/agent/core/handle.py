"""The agent core's one entry point: ``handle(state, event, now) -> list[Effect]``.

``now`` is the wall clock in seconds (status update timestamps, retry backoff, timers); the
shell passes it in, so a test controls it. The effects are returned in the order they must
be carried out."""

from __future__ import annotations

from corral.agent.core import events as ev
from corral.agent.core.containers import (
    container_event,
    disk_quota_exceeded,
    task_launch_failed,
)
from corral.agent.core.effects import Effect, Reconnect, Registered, SaveAgentId, SendToMaster
from corral.agent.core.executors import (
    disconnected,
    executor_failed,
    executor_message,
    executor_update,
    framework_message,
    registration_timeout,
    run_task_group,
    shutdown_executor,
    shutdown_framework,
    shutdown_grace_elapsed,
    subscribed,
)
from corral.agent.core.health import check_result, health_result
from corral.agent.core.launches import prepare, run_task, sandbox_ready
from corral.agent.core.recovery import recovery_finished
from corral.agent.core.state import AgentState, ExecutorEntry
from corral.agent.core.tasks import acknowledge, kill_task
from corral.agent.environment import kill_grace
from corral.wire import agent as msg


def handle(state: AgentState, event: ev.Event, now: float) -> list[Effect]:
    """Apply ``event`` to ``state``; what the shell must do, in order."""
    if isinstance(event, ev.FromMaster):
        from_master(state, event.message, now)
    elif isinstance(
        event,
        ev.ContainerStarted
        | ev.ContainerRecovered
        | ev.ContainerLaunchFailed
        | ev.ContainerLaunchCancelled
        | ev.ContainerExited
        | ev.ContainerLost,
    ):
        container_event(state, now, event)
    elif isinstance(event, ev.SandboxReady):
        sandbox_ready(state, now, event.container_id)
    elif isinstance(event, ev.SandboxFailed):
        sandbox_failed(state, now, event)
    elif isinstance(event, ev.Tick):
        state.updates.retry(now)
    elif isinstance(event, ev.MasterDisconnected):
        state.registered = False
        state.updates.on_disconnected()
    elif isinstance(event, ev.ExecutorSubscribed):
        subscribed(state, event.framework_id, event.executor_id, event.unacknowledged)
    elif isinstance(event, ev.ExecutorDisconnected):
        disconnected(state, event.framework_id, event.executor_id)
    elif isinstance(event, ev.ExecutorUpdate):
        executor_update(state, now, event.framework_id, event.executor_id, event.status)
    elif isinstance(event, ev.ExecutorMessage):
        executor_message(state, event.framework_id, event.executor_id, event.data)
    elif isinstance(event, ev.ExecutorRegistrationTimeout):
        registration_timeout(state, now, event)
    elif isinstance(event, ev.ShutdownGraceElapsed):
        shutdown_grace_elapsed(state, event)
    elif isinstance(event, ev.DiskQuotaExceeded):
        disk_quota_exceeded(state, event)
    elif isinstance(event, ev.HealthResult):
        health_result(state, now, event)
    elif isinstance(event, ev.CheckResult):
        check_result(state, now, event)
    else:
        recovery_finished(state)
    out, state.outbox = state.outbox, []
    return out


def from_master(state: AgentState, m: msg.MasterToAgent, now: float) -> None:
    if isinstance(m, msg.RunTask):
        run_task(state, now, m)
    elif isinstance(m, msg.AcknowledgeUpdate):
        acknowledge(state, now, m)
    elif isinstance(m, msg.Ping):
        state.outbox.append(SendToMaster(msg.Pong()))
    elif isinstance(m, msg.KillTask):
        kill_task(
            state, now, m.framework_id.value, m.task_id.value, kill_grace(m.kill_policy), m.reason
        )
    elif isinstance(m, msg.RunTaskGroup):
        for task in run_task_group(state, now, m):
            prepare(state, now, task)
    elif isinstance(m, msg.Registered):
        if state.agent_id != m.agent_id.value:
            state.agent_id = m.agent_id.value
            state.outbox.append(SaveAgentId(state.agent_id))
        state.master_info = m.master_info
        state.registered = True
        state.outbox.append(Registered(state.agent_id))
        state.updates.on_connected(now)
    elif isinstance(m, msg.ShutdownExecutor):
        shutdown_executor(state, now, m.framework_id.value, m.executor_id.value)
    elif isinstance(m, msg.ShutdownFramework):
        shutdown_framework(state, now, m.framework_id.value)
    elif isinstance(m, msg.FrameworkToExecutor):
        framework_message(state, m)
    elif isinstance(m, msg.FrameworkSubscribed):
        state.updates.resend(m.framework_id.value, now)
    elif isinstance(m, msg.ShutdownAgent):
        # Removed (e.g. after missed pings): reconnect with the same id, so the master
        # treats it as a returning agent (and kills what its frameworks gave up on).
        state.outbox.append(Reconnect(m.message or ""))


def sandbox_failed(state: AgentState, now: float, event: ev.SandboxFailed) -> None:
    owner = state.containers.get(event.container_id)
    if isinstance(owner, ExecutorEntry):
        fw = state.frameworks.get(owner.framework_id)
        if fw is not None:
            executor_failed(state, now, fw, owner, event.message, "REASON_CONTAINER_LAUNCH_FAILED")
    elif owner is not None:
        task_launch_failed(state, now, owner, event.message)
