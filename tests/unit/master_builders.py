"""Builders for driving the master core in unit tests: a state, events with realistic
defaults, and a ``Harness`` that feeds events at a controlled ``now`` and sorts the effects."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from corral.master.core import MasterState, handle
from corral.master.core import events as ev
from corral.master.core.config import MasterConfig
from corral.master.core.effects import (
    AllocateSoon,
    CancelTimer,
    CloseStream,
    Effect,
    Persist,
    SendToAgent,
    SendToFramework,
    SetTimer,
)
from corral.resources import Resources, parse
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import AgentInfo, Capability, Filters, FrameworkInfo
from corral.wire.tasks import CommandInfo, ExecutorInfo, TaskGroupInfo, TaskInfo, TaskStatus

E = TypeVar("E")


def new_state(**config: Any) -> MasterState:
    return MasterState(config=MasterConfig(**config), id="M", start_time=1000.0)


def framework_info(
    name: str = "fw",
    *,
    fid: str | None = None,
    failover_timeout: float = 0.0,
    roles: Sequence[str] = (),
    partition_aware: bool = False,
) -> FrameworkInfo:
    caps = [Capability(type="MULTI_ROLE")] if roles else []
    if partition_aware:
        caps.append(Capability(type="PARTITION_AWARE"))
    return FrameworkInfo(
        user="alice",
        name=name,
        id=ID(fid) if fid else None,
        failover_timeout=failover_timeout,
        roles=list(roles),
        capabilities=caps,
    )


def subscribe(
    stream_id: str, info: FrameworkInfo, suppressed: Sequence[str] = ()
) -> ev.StreamOpened:
    call = s.Call(
        type="SUBSCRIBE",
        framework_id=info.id,
        subscribe=s.Subscribe(framework_info=info, suppressed_roles=list(suppressed)),
    )
    return ev.StreamOpened(None, call, stream_id)


def register(
    link: int,
    resources: str = "cpus:4;mem:4096",
    *,
    agent_id: str | None = None,
    hostname: str = "h",
    tasks: Sequence[amsg.AgentTask] = (),
    frameworks: Sequence[FrameworkInfo] = (),
    executors: Sequence[amsg.AgentExecutor] = (),
) -> ev.AgentRegistered:
    info = AgentInfo(hostname=hostname, resources=parse(resources).to_wire())
    return ev.AgentRegistered(
        link,
        amsg.RegisterAgent(
            agent_info=info,
            agent_id=ID(agent_id) if agent_id else None,
            address=f"127.0.0.1:{5051 + link}",
            version="test",
            frameworks=list(frameworks),
            tasks=list(tasks),
            executors=list(executors),
        ),
    )


def task(
    task_id: str,
    agent_id: str,
    resources: str = "cpus:1;mem:128",
    *,
    command: str | None = "sleep 1",
    executor: ExecutorInfo | None = None,
) -> TaskInfo:
    return TaskInfo(
        name=task_id,
        task_id=ID(task_id),
        agent_id=ID(agent_id),
        resources=parse(resources).to_wire(),
        command=CommandInfo(value=command) if command is not None else None,
        executor=executor,
    )


def executor(executor_id: str, resources: str = "cpus:0.1;mem:32") -> ExecutorInfo:
    return ExecutorInfo(
        executor_id=ID(executor_id),
        type="DEFAULT",
        resources=parse(resources).to_wire(),
    )


def launch(*tasks: TaskInfo) -> s.Operation:
    return s.Operation(type="LAUNCH", launch=s.Launch(task_infos=list(tasks)))


def launch_group(ex: ExecutorInfo, *tasks: TaskInfo) -> s.Operation:
    return s.Operation(
        type="LAUNCH_GROUP",
        launch_group=s.LaunchGroup(executor=ex, task_group=TaskGroupInfo(tasks=list(tasks))),
    )


def status(
    task_id: str, state: str, *, uid: bytes | None = None, agent_id: str | None = None
) -> TaskStatus:
    return TaskStatus(
        task_id=ID(task_id),
        state=state,
        uuid=uid if uid is not None else uuid.uuid4().bytes,
        agent_id=ID(agent_id) if agent_id else None,
        source="SOURCE_EXECUTOR",
    )


@dataclass
class Harness:
    """A master core with a clock; ``feed`` keeps the last effects in ``out``."""

    state: MasterState = field(default_factory=new_state)
    now: float = 1000.0
    out: list[Effect] = field(default_factory=list)
    timers: dict[object, SetTimer] = field(default_factory=dict)
    allocation_asked: bool = False

    def feed(self, event: ev.Event) -> list[Effect]:
        self.out = handle(self.state, event, self.now)
        for e in self.out:
            if isinstance(e, SetTimer):
                self.timers[e.key] = e
            elif isinstance(e, CancelTimer):
                self.timers.pop(e.key, None)
            elif isinstance(e, AllocateSoon):
                self.allocation_asked = True
        return self.out

    def call(self, fid: str, stream_id: str | None, call_type: str, **payload: Any) -> list[Effect]:
        return self.feed(
            ev.SchedulerCall(
                None, s.Call(type=call_type, framework_id=ID(fid), **payload), stream_id
            )
        )

    def allocate(self) -> list[s.Offer]:
        """Run an allocation pass; the offers it made, over all frameworks."""
        self.allocation_asked = False
        self.feed(ev.AllocationDue())
        return [
            o for e in self.of(SendToFramework) if e.event.offers for o in e.event.offers.offers
        ]

    def advance(self, seconds: float) -> None:
        """Move the clock; deliver every timer now due, in time order."""
        self.now += seconds
        while True:
            due = [t for t in self.timers.values() if t.at <= self.now]
            if not due:
                return
            first = min(due, key=lambda t: t.at)
            del self.timers[first.key]
            self.feed(first.event)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.out if isinstance(e, kind)]

    def events(self, stream_id: str, kind: str | None = None) -> list[s.Event]:
        return [
            e.event
            for e in self.of(SendToFramework)
            if e.stream_id == stream_id and (kind is None or e.event.type == kind)
        ]

    def to_agent(self, link: int, kind: type[E]) -> list[E]:
        return [
            e.message
            for e in self.of(SendToAgent)
            if e.link == link and isinstance(e.message, kind)
        ]  # type: ignore[misc]

    def updates(self, stream_id: str) -> list[TaskStatus]:
        return [e.update.status for e in self.events(stream_id, "UPDATE") if e.update]

    # ---------------------------------------------------------------- common setups
    def framework(self, stream_id: str = "st1", **info: Any) -> str:
        self.feed(subscribe(stream_id, framework_info(**info)))
        (sub,) = self.events(stream_id, "SUBSCRIBED")
        assert sub.subscribed is not None
        return sub.subscribed.framework_id.value

    def agent(self, link: int = 1, resources: str = "cpus:4;mem:4096", **kw: Any) -> str:
        self.feed(register(link, resources, **kw))
        (reg,) = self.to_agent(link, amsg.Registered)
        return reg.agent_id.value

    def accept(
        self,
        fid: str,
        stream_id: str,
        offer_ids: Sequence[str],
        *ops: s.Operation,
        refuse: float | None = None,
    ) -> list[Effect]:
        return self.call(
            fid,
            stream_id,
            "ACCEPT",
            accept=s.Accept(
                offer_ids=[ID(o) for o in offer_ids],
                operations=list(ops),
                filters=Filters(refuse_seconds=refuse) if refuse is not None else None,
            ),
        )

    def update(
        self, link: int, fid: str, st: TaskStatus, latest: str | None = None
    ) -> list[Effect]:
        return self.feed(
            ev.AgentMessages(
                link, [amsg.StatusUpdate(framework_id=ID(fid), status=st, latest_state=latest)]
            )
        )


def persisted(effects: Sequence[Effect]) -> list[object]:
    return [e.op for e in effects if isinstance(e, Persist)]


def closed(effects: Sequence[Effect]) -> list[str]:
    return [e.stream_id for e in effects if isinstance(e, CloseStream)]


def res(text: str) -> Resources:
    return parse(text)
