"""Marathon's server-sent events: the wire form of the services framework's events.

The core publishes what happens (``status_update_event``, ``deployment_success``, ...); each
``GET /v2/events`` subscribes a queue (``Services.subscribe()``) and writes every event as
Marathon does::

    event: status_update_event
    data: {"eventType":"status_update_event","timestamp":"2026-...Z",...}
    <blank line>

Only the 27 event types the marathon 0.13.0 client knows may be published (an unknown
``eventType`` ends the client's generator), and every payload carries ``eventType`` and
``timestamp`` (``make_event`` fills them in).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import msgspec

# marathon/models/events.py (0.13.0) EventFactory.event_to_class: the only types to emit.
EVENT_TYPES = frozenset(
    {
        "api_post_event",
        "status_update_event",
        "framework_message_event",
        "subscribe_event",
        "unsubscribe_event",
        "add_health_check_event",
        "remove_health_check_event",
        "failed_health_check_event",
        "health_status_changed_event",
        "unhealthy_task_kill_event",
        "group_change_success",
        "group_change_failed",
        "deployment_success",
        "deployment_failed",
        "deployment_info",
        "deployment_step_success",
        "deployment_step_failure",
        "event_stream_attached",
        "event_stream_detached",
        "app_terminated_event",
        "instance_changed_event",
        "unknown_instance_terminated_event",
        "unhealthy_instance_kill_event",
        "instance_health_changed_event",
        "pod_created_event",
        "pod_updated_event",
        "pod_deleted_event",
    }
)

Event = tuple[str, dict[str, Any]]

_encoder = msgspec.json.Encoder()


def timestamp(now: float | None = None) -> str:
    """Marathon's timestamp form, ``2026-01-01T00:00:00.000Z`` (what the client parses)."""
    t = time.time() if now is None else now
    whole = int(t)
    millis = round((t - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def make_event(event_type: str, payload: dict[str, Any], now: float | None = None) -> Event:
    """The event with ``eventType`` and ``timestamp`` filled in; ValueError for a type the
    client does not know."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r} (the marathon client rejects it)")
    body = dict(payload)
    body["eventType"] = event_type
    body.setdefault("timestamp", timestamp(now))
    return event_type, body


def sse(event: Event) -> bytes:
    """One event in the server-sent events form: an ``event:`` line, one ``data:`` line."""
    event_type, payload = event
    return b"event: " + event_type.encode() + b"\ndata: " + _encoder.encode(payload) + b"\n\n"


def parse_event_types(values: Iterable[str]) -> frozenset[str] | None:
    """The ``event_type`` filter of ``GET /v2/events`` (may repeat, or be comma-separated);
    None means every type. ValueError names an unknown type."""
    wanted: set[str] = set()
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if not name:
                continue
            if name not in EVENT_TYPES:
                raise ValueError(f"event_type: unknown event type {name!r}")
            wanted.add(name)
    return frozenset(wanted) if wanted else None


class EventQueue:
    """One subscriber's events, in order: ``async for event_type, payload in queue``;
    ``close()`` ends it. It ends by itself (``overflowed``) if it falls ``limit`` events
    behind, so a slow reader never holds memory or slows the framework."""

    def __init__(self, bus: EventBus | None = None, limit: int = 10_000) -> None:
        self._bus = bus
        self._limit = limit
        self._items: asyncio.Queue[Event | None] = asyncio.Queue()
        self.closed = False
        self.overflowed = False

    def put(self, event: Event) -> None:
        if self.closed:
            return
        if self._items.qsize() >= self._limit:
            self.overflowed = True
            self.close()
            return
        self._items.put_nowait(event)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._items.put_nowait(None)
            if self._bus is not None:
                self._bus.unsubscribe(self)

    async def get(self) -> Event | None:
        """The next event, or None once closed."""
        item = await self._items.get()
        if item is None:
            self._items.put_nowait(None)  # stay closed for later calls
        return item

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            item = await self.get()
            if item is None:
                return
            yield item


class EventBus:
    """Fan-out of events to every subscriber. ``publish`` never blocks; it fills in
    ``eventType`` and ``timestamp`` and refuses types the client does not know."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._subscribers: list[EventQueue] = []
        self.published = 0

    def subscribe(self) -> EventQueue:
        q = EventQueue(self, self.limit)
        self._subscribers.append(q)
        return q

    def unsubscribe(self, q: EventQueue) -> None:
        if q in self._subscribers:
            self._subscribers.remove(q)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, event_type: str, payload: dict[str, Any], now: float | None = None) -> None:
        event = make_event(event_type, payload, now)
        self.published += 1
        for q in list(self._subscribers):
            q.put(event)

    def close(self) -> None:
        for q in list(self._subscribers):
            q.close()


__all__ = [
    "EVENT_TYPES",
    "Event",
    "EventBus",
    "EventQueue",
    "make_event",
    "parse_event_types",
    "sse",
    "timestamp",
]
