"""A fake master for unit-testing a framework's logic without processes: offers in, calls out.

``FakeMaster`` takes the calls a ``FrameworkCore`` makes (it is a ``CallSink``), keeps the
tasks they launch, answers reconciliation the way the real master does (known tasks: their
state; unknown ones: TASK_LOST) and turns KILL into TASK_KILLED. Events go back to the core
when the test calls ``subscribe``, ``offer``, ``set_state`` and so on; each returns after the
core has handled everything that followed (answers to its own calls included).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from corral.resources import Resources, from_wire, parse
from corral.scheduler_client.toolkit import FrameworkCore
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import Attribute, Text, TimeInfo
from corral.wire.preemption import Notice
from corral.wire.tasks import TaskInfo, TaskStatus, is_terminal


@dataclass
class FakeAgent:
    agent_id: str
    hostname: str
    resources: Resources
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeTask:
    info: TaskInfo
    agent_id: str
    state: str = "TASK_STAGING"


class FakeMaster:
    def __init__(self, core: FrameworkCore, framework_id: str = "fake-0000") -> None:
        self.core = core
        self.framework_id = framework_id
        self.agents: dict[str, FakeAgent] = {}
        self.tasks: dict[str, FakeTask] = {}
        self.calls: list[s.Call] = []
        self.declined: list[str] = []
        self.killed: list[str] = []
        self._ids = itertools.count(1)
        self._events: list[s.Event] = []
        self._delivering = False

    # ------------------------------------------------------------------ the cluster
    def add_agent(
        self, resources: str = "cpus:4;mem:4096;ports:[31000-31099]", **attributes: str
    ) -> FakeAgent:
        n = len(self.agents) + 1
        agent = FakeAgent(f"agent-{n}", f"host{n}", parse(resources), dict(attributes))
        self.agents[agent.agent_id] = agent
        return agent

    def free(self, agent_id: str) -> Resources:
        agent = self.agents[agent_id]
        used = Resources()
        for t in self.tasks.values():
            if t.agent_id == agent_id and not is_terminal(t.state):
                used = used + from_wire(t.info.resources)
        return agent.resources - used

    def launched(self) -> list[TaskInfo]:
        return [t.info for t in self.tasks.values()]

    def running(self) -> list[str]:
        return sorted(tid for tid, t in self.tasks.items() if not is_terminal(t.state))

    def calls_of(self, type_: str) -> list[s.Call]:
        return [c for c in self.calls if c.type == type_]

    # ------------------------------------------------------------------ events to the core
    async def subscribe(self) -> None:
        await self._deliver(
            s.Event(
                type="SUBSCRIBED",
                subscribed=s.Subscribed(framework_id=ID(self.framework_id)),
            )
        )

    async def offer(self, *agent_ids: str) -> list[s.Offer]:
        """Offer the free resources of these agents (all agents when none are named)."""
        offers = []
        for aid in agent_ids or tuple(self.agents):
            agent = self.agents[aid]
            offers.append(
                s.Offer(
                    id=ID(f"offer-{next(self._ids)}"),
                    framework_id=ID(self.framework_id),
                    agent_id=ID(aid),
                    hostname=agent.hostname,
                    resources=self.free(aid).to_wire(),
                    attributes=[
                        Attribute(name=k, type="TEXT", text=Text(value=v))
                        for k, v in sorted(agent.attributes.items())
                    ],
                )
            )
        await self._deliver(s.Event(type="OFFERS", offers=s.Offers(offers=offers)))
        return offers

    async def preempt(self, *task_ids: str, reason: str = "preempted") -> s.InverseOffer:
        """An inverse offer taking ``task_ids`` back, as the master sends for a preemption
        (docs/preemption.md)."""
        agent_id = self.tasks[task_ids[0]].agent_id
        io = s.InverseOffer(
            id=ID(f"inverse-{next(self._ids)}"),
            framework_id=ID(self.framework_id),
            agent_id=ID(agent_id),
            unavailability=s.Unavailability(start=TimeInfo(nanoseconds=0)),
            resources=sum(
                (from_wire(self.tasks[t].info.resources) for t in task_ids), Resources()
            ).to_wire(),
            preemption=Notice(id="P1", task_ids=[ID(t) for t in task_ids], reason=reason),
        )
        await self.core.inverse_offers(self, [io])
        return io

    async def set_state(self, task_id: str, state: str, healthy: bool | None = None) -> None:
        task = self.tasks[task_id]
        task.state = state
        await self._deliver(self._update(task_id, state, task.agent_id, healthy=healthy))

    async def start_all(self) -> None:
        for tid, t in list(self.tasks.items()):
            if t.state == "TASK_STAGING":
                await self.set_state(tid, "TASK_RUNNING")

    def _update(
        self,
        task_id: str,
        state: str,
        agent_id: str | None,
        reason: str | None = None,
        healthy: bool | None = None,
    ) -> s.Event:
        status = TaskStatus(
            task_id=ID(task_id),
            state=state,
            agent_id=ID(agent_id) if agent_id else None,
            reason=reason,
            healthy=healthy,
            source="SOURCE_MASTER" if reason else "SOURCE_EXECUTOR",
        )
        return s.Event(type="UPDATE", update=s.Update(status=status))

    async def _deliver(self, event: s.Event) -> None:
        self._events.append(event)
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._events:
                ev = self._events.pop(0)
                if ev.subscribed is not None:
                    await self.core.subscribed(self, ev.subscribed.framework_id.value)
                elif ev.offers is not None:
                    await self.core.offers(self, ev.offers.offers)
                elif ev.update is not None:
                    await self.core.update(self, ev.update.status)
        finally:
            self._delivering = False

    # ------------------------------------------------------------------ calls from the core
    async def call(self, call: s.Call) -> None:
        self.calls.append(call)
        if call.type == "ACCEPT" and call.accept is not None:
            for op in call.accept.operations:
                if op.launch is None:
                    continue
                for info in op.launch.task_infos:
                    aid = info.agent_id.value if info.agent_id else ""
                    self.tasks[info.task_id.value] = FakeTask(info, aid)
        elif call.type == "DECLINE" and call.decline is not None:
            self.declined += [o.value for o in call.decline.offer_ids]
        elif call.type == "KILL" and call.kill is not None:
            tid = call.kill.task_id.value
            self.killed.append(tid)
            task = self.tasks.get(tid)
            if task is None:
                self._events.append(self._reconcile_answer(tid, None))
            elif not is_terminal(task.state):
                task.state = "TASK_KILLED"
                self._events.append(self._update(tid, "TASK_KILLED", task.agent_id))
        elif call.type == "RECONCILE" and call.reconcile is not None:
            if not call.reconcile.tasks:
                for tid, t in self.tasks.items():
                    if not is_terminal(t.state):
                        self._events.append(self._reconcile_answer(tid, t))
            for rt in call.reconcile.tasks:
                self._events.append(
                    self._reconcile_answer(rt.task_id.value, self.tasks.get(rt.task_id.value))
                )

    def _reconcile_answer(self, task_id: str, task: FakeTask | None) -> s.Event:
        if task is None:
            return self._update(task_id, "TASK_LOST", None, reason="REASON_RECONCILIATION")
        return self._update(task_id, task.state, task.agent_id, reason="REASON_RECONCILIATION")


class MemoryKV:
    """A framework store in memory (a ``KeyValueStore``): give it to ``Store`` to test a
    failover, two ``FrameworkCore``s sharing one."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def put(self, key: str, value: bytes) -> None:
        self.data[key] = value

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        self.data.update(items)

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self.data if k.startswith(prefix))

    def close(self) -> None:
        pass


__all__ = ["FakeAgent", "FakeMaster", "FakeTask", "MemoryKV"]
