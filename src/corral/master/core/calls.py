"""The scheduler calls other than SUBSCRIBE: who may make them, and what each one does.

A call the master refuses raises ``CallError`` (its HTTP status and a message naming the
field) before anything changes, so a refused call leaves the state untouched."""

from __future__ import annotations

from corral.master.core.effects import Effects, FrameworkUpdated, Publish
from corral.master.core.events import SchedulerCall
from corral.master.core.frameworks import remove_framework
from corral.master.core.launches import accept
from corral.master.core.maintenance import answer_inverse_offers
from corral.master.core.offers import decline
from corral.master.core.preempting import request
from corral.master.core.send import allocate_soon, to_agent
from corral.master.core.state import FrameworkRecord, MasterState
from corral.master.core.tasks import acknowledge, kill, reconcile
from corral.master.errors import CallError
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID

IGNORED_CALLS = (
    "ACKNOWLEDGE_OPERATION_STATUS",
    "RECONCILE_OPERATIONS",
)


def framework_for_call(state: MasterState, call: s.Call, stream_id: str | None) -> FrameworkRecord:
    assert call.framework_id is not None
    fw = state.frameworks.get(call.framework_id.value)
    if fw is None:
        raise CallError(400, "Framework cannot be found")
    if not fw.connected:
        raise CallError(403, "Framework is not subscribed")
    if stream_id is None:
        raise CallError(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
    if stream_id != fw.stream_id:
        raise CallError(
            400,
            f"The stream ID '{stream_id}' included in this request didn't match "
            f"the stream ID currently associated with framework ID {fw.id}",
        )
    return fw


def check_roles(fw: FrameworkRecord, roles: list[str], field_name: str) -> None:
    for role in roles:
        if role not in fw.roles:
            raise CallError(
                400, f"'{field_name}' names role '{role}' the framework is not subscribed to"
            )


def scheduler_call(state: MasterState, now: float, out: Effects, ev: SchedulerCall) -> None:
    """Apply a validated non-SUBSCRIBE call. Raises CallError, leaving state untouched."""
    call = ev.call
    fw = framework_for_call(state, call, ev.stream_id)
    t = call.type
    if t == "ACCEPT":
        assert call.accept is not None
        accept(state, now, out, fw, call.accept)
    elif t == "DECLINE":
        assert call.decline is not None
        decline(state, now, out, fw, call.decline.offer_ids, call.decline.filters)
    elif t == "REVIVE":
        roles = call.revive.roles if call.revive else []
        check_roles(fw, roles, "revive.roles")
        for role in roles or fw.roles:
            fw.suppressed_roles.discard(role)
        fw.filters.clear()
        allocate_soon(state, out)
    elif t == "SUPPRESS":
        roles = call.suppress.roles if call.suppress else []
        check_roles(fw, roles, "suppress.roles")
        # As Mesos: only new offers stop; outstanding ones stay usable.
        fw.suppressed_roles.update(roles or fw.roles)
    elif t == "KILL":
        assert call.kill is not None
        kill(state, now, out, fw, call.kill)
    elif t == "SHUTDOWN":
        assert call.shutdown is not None
        agent = state.agents.get(call.shutdown.agent_id.value)
        if agent is None:
            raise CallError(400, f"Agent {call.shutdown.agent_id.value} is not registered")
        to_agent(
            agent,
            amsg.ShutdownExecutor(framework_id=ID(fw.id), executor_id=call.shutdown.executor_id),
            out,
        )
    elif t == "ACKNOWLEDGE":
        assert call.acknowledge is not None
        acknowledge(state, now, out, fw, call.acknowledge)
    elif t == "RECONCILE":
        reconcile(state, now, out, fw, call.reconcile.tasks if call.reconcile else [])
    elif t == "MESSAGE":
        assert call.message is not None
        agent = state.agents.get(call.message.agent_id.value)
        if agent is None:
            raise CallError(400, f"Agent {call.message.agent_id.value} is not registered")
        to_agent(
            agent,
            amsg.FrameworkToExecutor(
                framework_id=ID(fw.id), executor_id=call.message.executor_id, data=call.message.data
            ),
            out,
        )
    elif t == "TEARDOWN":
        remove_framework(state, now, out, fw)
    elif t in ("ACCEPT_INVERSE_OFFERS", "DECLINE_INVERSE_OFFERS"):
        answer = call.accept_inverse_offers if t == "ACCEPT_INVERSE_OFFERS" else None
        answer = answer or call.decline_inverse_offers
        ids = answer.inverse_offer_ids if answer is not None else []
        answer_inverse_offers(state, now, out, fw, ids, t == "ACCEPT_INVERSE_OFFERS")
    elif t == "REQUEST":
        assert call.request is not None
        request(state, now, out, fw, call.request)  # corral's demand: docs/preemption.md
    elif t in IGNORED_CALLS:
        pass  # accepted and ignored, as Mesos's built-in allocator does
    elif t == "UPDATE_FRAMEWORK":
        assert call.update_framework is not None
        info = call.update_framework.framework_info
        if info.id is None or info.id.value != fw.id:
            raise CallError(400, "'update_framework.framework_info.id' must equal 'framework_id'")
        info.user, info.checkpoint, info.principal = (
            fw.info.user,
            fw.info.checkpoint,
            fw.info.principal,
        )
        fw.info = info
        fw.suppressed_roles = set(call.update_framework.suppressed_roles)
        out.append(Publish(FrameworkUpdated(fw)))
        allocate_soon(state, out)
    else:
        raise CallError(400, f"Unknown call type '{t}'")
