"""Frameworks: subscription on an event stream, failover, disconnection and removal."""

from __future__ import annotations

import logging

from corral.master.core import preempting
from corral.master.core.authz import check_teardown
from corral.master.core.effects import (
    CancelTimer,
    CloseStream,
    Effects,
    FrameworkAdded,
    FrameworkRemoved,
    FrameworkUpdated,
    Publish,
    SendToFramework,
    SetTimer,
)
from corral.master.core.events import FailoverTimeout, OperatorTeardown, StreamOpened
from corral.master.core.offers import PAUSED_RETRY, consume_offer, rescind_offer
from corral.master.core.send import allocate_soon, to_agent, to_framework
from corral.master.core.state import MAX_COMPLETED_FRAMEWORKS, FrameworkRecord, MasterState
from corral.master.core.tasks import finish_task, remove_executor
from corral.master.errors import CallError
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID

log = logging.getLogger("corral.master")


def failover_timer(framework_id: str) -> tuple[str, str]:
    return ("failover", framework_id)


def subscribe(state: MasterState, now: float, out: Effects, ev: StreamOpened) -> None:
    """Register or re-register a framework on a fresh event stream (already validated)."""
    call, stream_id = ev.call, ev.stream_id
    assert call.subscribe is not None
    info = call.subscribe.framework_info
    fid = info.id.value if info.id and info.id.value else None
    if fid is not None and fid in state.removed_framework_ids:
        error = s.Event(type="ERROR", error=s.Error(message="Framework has been removed"))
        out.append(SendToFramework(stream_id, error))
        out.append(CloseStream(stream_id))
        return
    fw = state.frameworks.get(fid) if fid else None
    known = fw is not None
    if fid is None:
        fid = f"{state.id}-{state.next_framework:04d}"
        state.next_framework += 1
        info.id = ID(fid)
        fw = state.frameworks[fid] = FrameworkRecord(id=fid, info=info, registered_time=now)
        log.info("framework %s (%s) registered", fid, info.name)
    elif fw is None:
        fw = FrameworkRecord(id=fid, info=info, registered_time=now, recovered=True)
        fw.reregistered_time = now
        state.frameworks[fid] = fw
        log.info("framework %s (%s) re-registered (recovered)", fid, info.name)
    else:
        log.info("framework %s (%s) failed over", fid, info.name)
        if fw.connected and fw.stream_id is not None:
            error = s.Event(type="ERROR", error=s.Error(message="Framework failed over"))
            out.append(SendToFramework(fw.stream_id, error))
            out.append(CloseStream(fw.stream_id))
        if fw.stream_id is not None:
            state.streams.pop(fw.stream_id, None)
        out.append(CancelTimer(failover_timer(fid)))
        # user, checkpoint and principal cannot change on re-subscription.
        info.user, info.checkpoint, info.principal = (
            fw.info.user,
            fw.info.checkpoint,
            fw.info.principal,
        )
        fw.info = info
        fw.reregistered_time = now
        for offer_id in list(fw.offers):
            rescind_offer(state, now, out, offer_id)
    fw.stream_id = stream_id
    state.streams[stream_id] = fid
    fw.connected = True
    fw.active = True
    fw.unregistered_time = None
    fw.suppressed_roles = set(call.subscribe.suppressed_roles)
    out.append(Publish(FrameworkUpdated(fw) if known else FrameworkAdded(fw)))
    if call.framework_id is not None:
        # A re-subscription: updates its agents sent while it was away went nowhere, so
        # have them resent now rather than at their next retry.
        for agent in state.agents.values():
            to_agent(agent, amsg.FrameworkSubscribed(framework_id=ID(fid)), out)
    subscribed = s.Subscribed(
        framework_id=ID(fid),
        heartbeat_interval_seconds=state.config.heartbeat_interval,
        master_info=state.master_info(),
    )
    to_framework(fw, s.Event(type="SUBSCRIBED", subscribed=subscribed), out)
    allocate_soon(state, out)


def stream_closed(state: MasterState, now: float, out: Effects, stream_id: str) -> None:
    """A framework's event stream closed: deactivate, and remove after failover_timeout."""
    fid = state.streams.pop(stream_id, None)
    fw = state.frameworks.get(fid) if fid is not None else None
    if fw is None or fw.stream_id != stream_id:
        return
    fw.connected = False
    fw.active = False
    fw.unregistered_time = now
    for offer_id in list(fw.offers):
        rescind_offer(state, now, out, offer_id, notify=False)
    out.append(Publish(FrameworkUpdated(fw)))
    timeout = max(0.0, fw.info.failover_timeout)
    log.info("framework %s disconnected; failover timeout %.1fs", fw.id, timeout)
    out.append(SetTimer(failover_timer(fw.id), now + timeout, FailoverTimeout(fw.id)))


def failover_expired(state: MasterState, now: float, out: Effects, fid: str) -> None:
    if state.paused:  # not acting as leader now: decide when we know we still lead
        out.append(SetTimer(failover_timer(fid), now + PAUSED_RETRY, FailoverTimeout(fid)))
        return
    fw = state.frameworks.get(fid)
    if fw is not None and not fw.connected:
        log.info("framework %s failover timeout expired; removing it", fid)
        remove_framework(state, now, out, fw)


def remove_framework(state: MasterState, now: float, out: Effects, fw: FrameworkRecord) -> None:
    out.append(CancelTimer(failover_timer(fw.id)))
    for offer in list(fw.offers.values()):
        consume_offer(state, offer, out)  # at once, even while paused: nobody can use it
    agents_with_work = {t.agent_id for t in fw.tasks.values()} | {a for a, _ in fw.executors}
    for task in list(fw.tasks.values()):
        # The agent reports TASK_KILLED as the processes end; the master frees the
        # resources now, as Mesos does when it removes a framework.
        finish_task(
            state, now, out, task, "TASK_KILLED", reason="REASON_FRAMEWORK_REMOVED", notify=False
        )
    for ex in list(fw.executors.values()):
        remove_executor(state, out, ex)
    for aid in agents_with_work:
        agent = state.agents.get(aid)
        if agent is not None:
            to_agent(agent, amsg.ShutdownFramework(framework_id=ID(fw.id)), out)
    if fw.connected and fw.stream_id is not None:
        out.append(CloseStream(fw.stream_id))
        state.streams.pop(fw.stream_id, None)
    fw.connected = fw.active = False
    fw.unregistered_time = now
    del state.frameworks[fw.id]
    preempting.asker_removed(state, out, fw.id)
    out.append(Publish(FrameworkRemoved(fw.info)))
    state.removed_framework_ids.add(fw.id)
    state.completed_frameworks.append(fw)
    if len(state.completed_frameworks) > MAX_COMPLETED_FRAMEWORKS:
        del state.completed_frameworks[0]
    allocate_soon(state, out)


def operator_teardown(state: MasterState, now: float, out: Effects, ev: OperatorTeardown) -> None:
    """The operator API's TEARDOWN: 404-like 400 for an unknown framework, 403 when the ACLs
    forbid (nothing changes), else the framework is removed as by its own TEARDOWN."""
    fw = state.frameworks.get(ev.framework_id)
    if fw is None:
        raise CallError(400, f"Framework {ev.framework_id} cannot be found")
    check_teardown(state, ev.principal, fw)
    log.info("framework %s torn down by the operator API (principal %s)", fw.id, ev.principal)
    remove_framework(state, now, out, fw)
