"""The effects every transition emits: events to a framework, messages to an agent, and a
request for an allocation pass (at most one outstanding)."""

from __future__ import annotations

from corral.master.core.effects import AllocateSoon, Effects, SendToAgent, SendToFramework
from corral.master.core.state import AgentRecord, FrameworkRecord, MasterState
from corral.wire import agent as amsg
from corral.wire import scheduler as s


def to_framework(fw: FrameworkRecord, event: s.Event, out: Effects) -> None:
    """Send ``event`` on the framework's stream; dropped while it is disconnected."""
    if fw.connected and fw.stream_id is not None:
        out.append(SendToFramework(fw.stream_id, event))


def to_agent(agent: AgentRecord, message: amsg.MasterToAgent, out: Effects) -> None:
    """Send ``message`` on the agent's link; dropped while it is disconnected."""
    if agent.link is not None:
        out.append(SendToAgent(agent.link, message))


def allocate_soon(state: MasterState, out: Effects) -> None:
    if not state.allocation_pending and not state.paused:
        state.allocation_pending = True
        out.append(AllocateSoon())
