"""The operator event stream's subscribers (SUBSCRIBE on ``/api/v1``): what the core says
happened (``Publish`` effects), rendered as ``master::Event`` once and written to every
subscriber's RecordIO stream.

A subscriber never slows the master: each has a bounded backlog of records not yet written,
and one whose backlog passes ``max_backlog`` (a client that reads too slowly) is closed and
dropped with a log line. At most ``max_subscribers`` streams are open at once (Mesos's
``--max_operator_event_stream_subscribers``)."""

from __future__ import annotations

import logging

from corral.master.core.effects import (
    AgentAdded,
    AgentRemoved,
    FrameworkAdded,
    FrameworkRemoved,
    FrameworkUpdated,
    Happened,
    TaskAdded,
    TaskUpdated,
)
from corral.master.views import v1_agent, v1_framework, v1_task
from corral.transport.streaming import EventStream
from corral.wire import operator as op
from corral.wire.base import ID
from corral.wire.codec import encode

log = logging.getLogger("corral.master")

MAX_SUBSCRIBERS = 1000
MAX_BACKLOG = 10_000  # records queued for one subscriber before it is dropped


def render(happened: Happened) -> op.OperatorEvent:
    """One core ``Happened`` as the operator API's event."""
    h = happened
    if type(h) is TaskUpdated:
        return op.OperatorEvent(
            type="TASK_UPDATED",
            task_updated=op.TaskUpdated(
                framework_id=ID(h.framework_id), status=h.status, state=h.state
            ),
        )
    if type(h) is TaskAdded:
        return op.OperatorEvent(type="TASK_ADDED", task_added=op.TaskAdded(task=v1_task(h.task)))
    if type(h) is AgentAdded:
        return op.OperatorEvent(
            type="AGENT_ADDED", agent_added=op.AgentAdded(agent=v1_agent(h.agent))
        )
    if type(h) is AgentRemoved:
        return op.OperatorEvent(
            type="AGENT_REMOVED", agent_removed=op.AgentRemoved(agent_id=ID(h.agent_id))
        )
    if type(h) is FrameworkAdded:
        return op.OperatorEvent(
            type="FRAMEWORK_ADDED",
            framework_added=op.FrameworkEvent(framework=v1_framework(h.framework)),
        )
    if type(h) is FrameworkUpdated:
        return op.OperatorEvent(
            type="FRAMEWORK_UPDATED",
            framework_updated=op.FrameworkEvent(framework=v1_framework(h.framework)),
        )
    assert type(h) is FrameworkRemoved
    return op.OperatorEvent(
        type="FRAMEWORK_REMOVED", framework_removed=op.FrameworkRemoved(framework_info=h.info)
    )


class Subscribers:
    """The open operator event streams of one leading master."""

    def __init__(
        self, max_subscribers: int = MAX_SUBSCRIBERS, max_backlog: int = MAX_BACKLOG
    ) -> None:
        self.streams: dict[int, EventStream] = {}
        self.next_id = 0
        self.max_subscribers = max_subscribers
        self.max_backlog = max_backlog
        self.dropped = 0  # subscribers closed for falling behind

    def __bool__(self) -> bool:
        return bool(self.streams)

    def full(self) -> bool:
        return len(self.streams) >= self.max_subscribers

    def add(self, stream: EventStream) -> int:
        sid = self.next_id
        self.next_id += 1
        self.streams[sid] = stream
        return sid

    def remove(self, sid: int) -> None:
        self.streams.pop(sid, None)

    def publish(self, happened: Happened) -> None:
        """Render ``happened`` once and queue it on every stream (called only if any)."""
        data = encode(render(happened))
        for sid, stream in list(self.streams.items()):
            if stream.backlog >= self.max_backlog:
                log.warning(
                    "operator event subscriber %d fell %d events behind; closing its stream",
                    sid,
                    stream.backlog,
                )
                self.dropped += 1
                stream.close()
                del self.streams[sid]
                continue
            stream.send(data)

    def close(self) -> None:
        for stream in self.streams.values():
            stream.close()
        self.streams.clear()
