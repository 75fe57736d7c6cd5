"""The master core's one entry point: ``handle(state, event, now) -> effects``.

Every change to a ``MasterState`` goes through here. ``now`` is the only clock. A scheduler
call the master refuses (or any call while it is paused: 503) raises ``CallError`` before
anything changes (the HTTP layer answers it); every other outcome is a list of effects for the
shell to carry out, in order."""

from __future__ import annotations

from corral.master.core import (
    agents,
    calls,
    frameworks,
    leadership,
    maintenance,
    offers,
    operator_kill,
    preempting,
    quota,
    schedules,
)
from corral.master.core import events as ev
from corral.master.core.effects import Effects
from corral.master.core.state import MasterState
from corral.master.errors import CallError


def handle(state: MasterState, event: ev.Event, now: float) -> Effects:
    out: Effects = []
    # The most frequent events first.
    if isinstance(event, ev.AgentMessages):
        if not state.paused:  # not acting as leader: the agent resends what matters
            agents.agent_messages(state, now, out, event.link, event.messages)
            maintenance.check_drained(state, now, out)
    elif isinstance(event, ev.SchedulerCall):
        if state.paused:
            raise CallError(503, "ZooKeeper connection suspended: not acting as leader")
        calls.scheduler_call(state, now, out, event)
    elif isinstance(event, ev.AllocationDue):
        offers.allocation_due(state, now, out)
        if not state.paused:  # as allocation_due: nothing is offered while not leading
            schedules.offer_inverse(state, now, out)
    elif isinstance(event, ev.AllocationTimed):
        state.allocation_run_ms.add(event.ms)
    elif isinstance(event, ev.AgentRegistered):
        if not state.paused:
            agents.agent_registered(state, now, out, event.link, event.message)
    elif isinstance(event, ev.AgentDisconnected):
        agents.agent_disconnected(state, now, out, event.link)
    elif isinstance(event, ev.OperatorTeardown):
        if state.paused:
            raise CallError(503, "ZooKeeper connection suspended: not acting as leader")
        frameworks.operator_teardown(state, now, out, event)
    elif isinstance(event, ev.OperatorKill):
        if state.paused:
            raise CallError(503, "ZooKeeper connection suspended: not acting as leader")
        operator_kill.kill_task(state, out, event)
    elif isinstance(event, ev.StreamOpened):
        frameworks.subscribe(state, now, out, event)
    elif isinstance(event, ev.StreamClosed):
        frameworks.stream_closed(state, now, out, event.stream_id)
    elif isinstance(event, ev.OfferTimeout):
        offers.rescind_offer(state, now, out, event.offer_id, event.notify)
    elif isinstance(event, ev.FilterLapsed):
        offers.filter_lapsed(state, now, out, event)
    elif isinstance(event, ev.FailoverTimeout):
        frameworks.failover_expired(state, now, out, event.framework_id)
    elif isinstance(event, ev.PingDue):
        agents.ping_agents(state, now, out)
    elif isinstance(event, ev.ReregisterTimeout):
        leadership.reregister_timeout(state, now, out)
    elif isinstance(event, ev.RegistryRecovered):
        leadership.registry_recovered(state, now, out, event)
        schedules.restore(state, event.snapshot.maintenance)
    elif isinstance(event, ev.AgentMaintenance):
        if state.paused:
            raise CallError(503, "ZooKeeper connection suspended: not acting as leader")
        maintenance.agent_maintenance(state, now, out, event)
    elif isinstance(event, ev.QuotaUpdate | ev.WeightsUpdate):
        if state.paused:
            raise CallError(503, "ZooKeeper connection suspended: not acting as leader")
        if isinstance(event, ev.QuotaUpdate):
            quota.update_quota(state, now, out, event)
        else:
            quota.update_weights(state, now, out, event)
    elif isinstance(event, ev.MachineMaintenance):
        if state.paused:
            raise CallError(503, "ZooKeeper connection suspended: not acting as leader")
        schedules.machine_maintenance(state, now, out, event)
    elif isinstance(event, ev.DrainDue):
        maintenance.drain_due(state, now, out, event.agent_id)
    elif isinstance(event, ev.PreemptionDue):
        preempting.due(state, now, out, event.preemption_id)
    elif isinstance(event, ev.HoldLapsed):
        preempting.hold_lapsed(state, now, out, event.preemption_id)
    elif isinstance(event, ev.Paused):
        leadership.paused(state)
    elif isinstance(event, ev.Resumed):
        leadership.resumed(state, out)
    else:  # pragma: no cover - exhaustive over ev.Event
        raise TypeError(f"not a master event: {event!r}")
    return out
