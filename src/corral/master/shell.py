"""The master's shell: it owns what the core may not — event streams by stream id, agent
links by link id, asyncio timers by key, the registry's writer thread and the clock — feeds
events to ``core.handle`` and carries out the effects it returns, in order."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor

from corral.coordination.interfaces import Registry
from corral.master.core import MasterState, handle
from corral.master.core import events as ev
from corral.master.core.config import MasterConfig
from corral.master.core.effects import (
    AdmitAgent,
    AllocateSoon,
    CancelTimer,
    CloseStream,
    Effects,
    MarkGone,
    MarkUnreachable,
    Observe,
    Persist,
    Publish,
    RegistryOp,
    SaveMaintenance,
    SendToAgent,
    SendToFramework,
    SetTimer,
    StoreQuota,
    StoreWeights,
)
from corral.master.subscribers import Subscribers
from corral.transport.streaming import EventStream
from corral.wire import agent as amsg
from corral.wire.codec import encode

log = logging.getLogger("corral.master")

AgentSend = Callable[[amsg.MasterToAgent], None]
ObserveFn = Callable[[str, float], None]


def ignore(metric: str, seconds: float) -> None:
    """The default ``observe``: no histograms."""


class MasterShell:
    """One leading master: its core state and the I/O that state names by id."""

    def __init__(
        self,
        config: MasterConfig,
        registry: Registry | None = None,
        observe: ObserveFn = ignore,
    ) -> None:
        now = time.time()
        self.state = MasterState(config=config, id=str(uuid.uuid4()), start_time=now)
        self.registry = registry
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="registry")
        self.streams: dict[str, EventStream] = {}
        self.links: dict[int, AgentSend] = {}
        self.next_link = 0
        self.timers: dict[Hashable, asyncio.TimerHandle] = {}
        self.allocation: asyncio.TimerHandle | None = None
        self.closed = False
        self.subscribers = Subscribers()  # the operator event stream's
        self.observe = observe  # latency histograms: (metric, seconds)

    # ------------------------------------------------------------------ the loop
    def feed(self, event: ev.Event) -> None:
        """Apply ``event`` now and carry out its effects (raises the core's CallError)."""
        self.apply(handle(self.state, event, time.time()))

    def apply(self, effects: Effects) -> None:
        if self.closed:
            return
        for e in effects:
            if type(e) is SendToFramework:
                stream = self.streams.get(e.stream_id)
                if stream is not None:
                    stream.send(encode(e.event))
            elif type(e) is SendToAgent:
                send = self.links.get(e.link)
                if send is not None:
                    send(e.message)
            elif type(e) is SetTimer:
                self.set_timer(e)
            elif type(e) is CancelTimer:
                handle_ = self.timers.pop(e.key, None)
                if handle_ is not None:
                    handle_.cancel()
            elif type(e) is AllocateSoon:
                if self.allocation is None:
                    loop = asyncio.get_running_loop()
                    self.allocation = loop.call_later(
                        self.state.config.allocation_delay, self.allocate
                    )
            elif type(e) is CloseStream:
                stream = self.streams.get(e.stream_id)
                if stream is not None:
                    stream.close()
            elif type(e) is Publish:
                if self.subscribers:
                    self.subscribers.publish(e.happened)
            elif type(e) is Observe:
                self.observe(e.metric, e.seconds)
            elif type(e) is Persist:
                self.persist(e.op)

    def set_timer(self, e: SetTimer) -> None:
        old = self.timers.pop(e.key, None)
        if old is not None:
            old.cancel()
        delay = max(0.0, e.at - time.time())
        self.timers[e.key] = asyncio.get_running_loop().call_later(
            delay, self.timer_fired, e.key, e.event
        )

    def timer_fired(self, key: Hashable, event: ev.TimerEvent) -> None:
        self.timers.pop(key, None)
        self.feed(event)

    def allocate(self) -> None:
        self.allocation = None
        if self.closed:
            return
        started = time.perf_counter()
        self.feed(ev.AllocationDue())
        ms = (time.perf_counter() - started) * 1e3
        self.observe("allocation", ms / 1e3)
        if not self.state.paused:
            self.feed(ev.AllocationTimed(ms))

    # ------------------------------------------------------------------ registry
    def persist(self, op: RegistryOp) -> None:
        """Apply a registry write in order, off the event loop (ZooKeeper round trips)."""
        registry = self.registry
        if registry is None:
            return

        def write() -> None:
            try:
                if isinstance(op, AdmitAgent):
                    registry.admit_agent(op.agent_id, op.info)
                elif isinstance(op, MarkUnreachable):
                    registry.mark_unreachable(op.agent_id, op.when)
                elif isinstance(op, MarkGone):
                    registry.mark_gone(op.agent_id, op.when)
                elif isinstance(op, StoreQuota):
                    empty = not op.guarantees and not op.limits
                    quota = {"guarantees": op.guarantees, "limits": op.limits}
                    registry.put_quota(op.role, None if empty else quota)
                elif isinstance(op, StoreWeights):
                    registry.put_weights(op.weights)
                elif isinstance(op, SaveMaintenance):
                    registry.save_maintenance(op.data)
            except Exception as exc:
                log.error("registry write %s failed: %s", type(op).__name__, exc)

        self.writer.submit(write)

    async def persisted(self) -> None:
        """Wait until every registry write asked for so far is done (they run in order)."""
        if self.registry is not None and not self.closed:
            try:
                await asyncio.get_running_loop().run_in_executor(self.writer, lambda: None)
            except RuntimeError:  # the term ended meanwhile: the writer is shut down
                pass

    async def recover(self) -> None:
        """On election: read what earlier masters admitted, and tell the core."""
        if self.registry is None:
            return
        snap = await asyncio.get_running_loop().run_in_executor(self.writer, self.registry.load)
        self.feed(ev.RegistryRecovered(snap))

    # ------------------------------------------------------------------ streams and links
    def open_stream(self, stream: EventStream) -> str:
        stream_id = str(uuid.uuid4())
        self.streams[stream_id] = stream
        return stream_id

    def close_stream(self, stream_id: str) -> None:
        self.streams.pop(stream_id, None)
        self.feed(ev.StreamClosed(stream_id))

    def open_link(self, send: AgentSend) -> int:
        link = self.next_link
        self.next_link += 1
        self.links[link] = send
        return link

    def close_link(self, link: int) -> None:
        self.links.pop(link, None)
        self.feed(ev.AgentDisconnected(link))

    # ------------------------------------------------------------------ leadership
    def pause(self) -> None:
        self.feed(ev.Paused())

    def resume(self) -> None:
        self.feed(ev.Resumed())

    def shutdown(self) -> None:
        """Stop acting: this master is no longer the leader (or the process stops)."""
        self.closed = True
        for t in self.timers.values():
            t.cancel()
        self.timers.clear()
        if self.allocation is not None:
            self.allocation.cancel()
        for stream in self.streams.values():
            stream.close()
        self.subscribers.close()
        self.writer.shutdown(wait=False)
