"""Property-based test of the master core: random sequences of events keep its invariants.

* no agent's resources are ever offered or used beyond its total (and ``available`` is
  exactly total - used - offered);
* each offer is used at most once;
* every task is in exactly one state (one of a framework's live, unreachable or completed
  collections, and on its agent while live);
* an update the framework acknowledged is never forwarded to it again.
"""

from __future__ import annotations

import uuid

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from master_builders import (
    Harness,
    framework_info,
    launch,
    new_state,
    register,
    status,
    subscribe,
    task,
)

from corral.master.core import events as ev
from corral.master.core.effects import SendToFramework
from corral.master.errors import CallError
from corral.resources import Resources, parse
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import Filters
from corral.wire.preemption import Demand, Request, ResourceRequest

STATES = ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED"]


class MasterCore(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = Harness(state=new_state(offer_timeout=30.0, max_agent_ping_timeouts=3))
        self.next_link = 0
        self.next_stream = 0
        self.next_task = 0
        self.streams: dict[str, str] = {}  # framework id -> its current stream id
        self.used_offers: set[str] = set()
        self.acked: dict[str, set[tuple[str, bytes]]] = {}  # framework -> (task, uuid) acked
        self.last_ack: dict[tuple[str, str], bytes] = {}
        self.sent: dict[tuple[str, str], bytes] = {}  # (fw, task) -> uuid of an update in flight

    # ------------------------------------------------------------ feeding
    def feed(self, event: ev.Event) -> None:
        self.h.feed(event)
        self.check_forwarded()

    def call(self, fid: str, call_type: str, **payload: object) -> bool:
        try:
            self.h.call(fid, self.streams.get(fid), call_type, **payload)
        except CallError:
            self.h.out = []
            return False
        self.check_forwarded()
        return True

    def check_forwarded(self) -> None:
        for e in self.h.out:
            if isinstance(e, SendToFramework) and e.event.type == "UPDATE":
                assert e.event.update is not None
                st_ = e.event.update.status
                fid = self.h.state.streams.get(e.stream_id)
                if fid is not None and st_.uuid is not None:
                    assert (st_.task_id.value, st_.uuid) not in self.acked.get(fid, set()), (
                        "an acknowledged update was forwarded again"
                    )

    # ------------------------------------------------------------ rules
    @rule(cpus=st.integers(1, 8), mem=st.sampled_from([256, 1024, 4096]))
    def add_agent(self, cpus: int, mem: int) -> None:
        self.next_link += 1
        self.feed(register(self.next_link, f"cpus:{cpus};mem:{mem};ports:[31000-31010]"))

    @precondition(lambda self: self.h.state.agents)
    @rule(data=st.data())
    def agent_reconnects(self, data: st.DataObject) -> None:
        agent = data.draw(st.sampled_from(sorted(self.h.state.agents.values(), key=lambda a: a.id)))
        if agent.link is not None:
            self.feed(ev.AgentDisconnected(agent.link))
        if data.draw(st.booleans()):
            self.next_link += 1
            reported = [
                amsg.AgentTask(framework_id=ID(t.framework_id), task=t.info, state=t.state)
                for t in agent.tasks.values()
                if data.draw(st.booleans())
            ]
            reg = register(self.next_link, agent_id=agent.id, tasks=reported)
            reg.message.agent_info.resources = agent.total.to_wire()
            self.feed(reg)

    @rule(partition_aware=st.booleans(), failover=st.sampled_from([0.0, 10.0]))
    def subscribe_framework(self, partition_aware: bool, failover: float) -> None:
        self.next_stream += 1
        sid = f"st{self.next_stream}"
        self.feed(
            subscribe(
                sid, framework_info(failover_timeout=failover, partition_aware=partition_aware)
            )
        )
        fid = self.h.state.streams[sid]
        self.streams[fid] = sid

    @precondition(lambda self: self.h.state.frameworks)
    @rule(data=st.data())
    def framework_reconnects(self, data: st.DataObject) -> None:
        fid = data.draw(st.sampled_from(sorted(self.h.state.frameworks)))
        fw = self.h.state.frameworks[fid]
        if fw.connected and fw.stream_id is not None and data.draw(st.booleans()):
            self.feed(ev.StreamClosed(fw.stream_id))
            return
        self.next_stream += 1
        sid = f"st{self.next_stream}"
        self.feed(
            subscribe(sid, framework_info(fid=fid, failover_timeout=fw.info.failover_timeout))
        )
        if sid in self.h.state.streams:
            self.streams[fid] = sid

    @rule()
    def allocate(self) -> None:
        self.h.allocate()
        self.check_forwarded()

    @initialize()
    def cluster(self) -> None:
        self.add_agent(4, 4096)
        self.add_agent(2, 1024)
        self.subscribe_framework(False, 10.0)

    @rule(
        data=st.data(),
        n=st.integers(0, 3),
        cpus=st.sampled_from([0.5, 1, 3]),
        refuse=st.sampled_from([None, 0.0, 2.0]),
        reuse=st.booleans(),
    )
    def accept(
        self, data: st.DataObject, n: int, cpus: float, refuse: float | None, reuse: bool
    ) -> None:
        if not self.h.state.offers:
            self.allocate()
        pool = self.used_offers if reuse and self.used_offers else set(self.h.state.offers)
        if not pool:
            return
        oid = data.draw(st.sampled_from(sorted(pool)))
        offer = self.h.state.offers.get(oid)
        fid = offer.framework_id if offer else data.draw(st.sampled_from(sorted(self.streams)))
        aid = offer.agent_id if offer else "A"
        tasks = []
        for _ in range(n):
            self.next_task += 1
            tasks.append(task(f"t{self.next_task}", aid, f"cpus:{cpus};mem:64;ports:[31000-31000]"))
        ok = fid in self.h.state.frameworks and self.call(
            fid,
            "ACCEPT",
            accept=s.Accept(
                offer_ids=[ID(oid)],
                operations=[launch(*tasks)],
                filters=Filters(refuse_seconds=refuse) if refuse is not None else None,
            ),
        )
        if oid in self.used_offers:
            assert not ok, "an offer was used twice"
        if ok:
            self.used_offers.add(oid)

    @precondition(lambda self: self.h.state.offers)
    @rule(data=st.data())
    def decline(self, data: st.DataObject) -> None:
        oid = data.draw(st.sampled_from(sorted(self.h.state.offers)))
        fid = self.h.state.offers[oid].framework_id
        if self.call(fid, "DECLINE", decline=s.Decline(offer_ids=[ID(oid)])):
            self.used_offers.add(oid)

    def live_tasks(self) -> list[tuple[str, str, str]]:
        return sorted(
            (t.framework_id, t.task_id, t.agent_id)
            for a in self.h.state.agents.values()
            for t in a.tasks.values()
        )

    @precondition(lambda self: self.live_tasks())
    @rule(
        data=st.data(),
        state=st.sampled_from(STATES),
        latest=st.sampled_from([None, "TASK_FINISHED"]),
    )
    def status_update(self, data: st.DataObject, state: str, latest: str | None) -> None:
        fid, tid, aid = data.draw(st.sampled_from(self.live_tasks()))
        agent = self.h.state.agents[aid]
        if agent.link is None:
            return
        uid = uuid.uuid4().bytes
        self.sent[(fid, tid)] = uid
        self.h.update(agent.link, fid, status(tid, state, uid=uid), latest)
        self.check_forwarded()

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        (fid, tid) = data.draw(st.sampled_from(sorted(self.sent)))
        uid = self.sent.pop((fid, tid))
        if fid not in self.h.state.frameworks:
            return
        aid = next(
            (
                t.agent_id
                for t in [
                    *self.h.state.frameworks[fid].tasks.values(),
                    *self.h.state.frameworks[fid].completed_tasks,
                ]
                if t.task_id == tid
            ),
            "A",
        )
        if self.call(
            fid,
            "ACKNOWLEDGE",
            acknowledge=s.Acknowledge(agent_id=ID(aid), task_id=ID(tid), uuid=uid),
        ):
            self.acked.setdefault(fid, set()).add((tid, uid))
            self.last_ack[(fid, tid)] = uid

    @precondition(lambda self: self.last_ack)
    @rule(data=st.data())
    def resend_acknowledged(self, data: st.DataObject) -> None:
        """The agent resends the update whose ack crossed it: it must not be delivered."""
        (fid, tid) = data.draw(st.sampled_from(sorted(self.last_ack)))
        links = [a.link for a in self.h.state.agents.values() if a.link is not None]
        if not links:
            return
        self.h.update(links[0], fid, status(tid, "TASK_RUNNING", uid=self.last_ack[(fid, tid)]))
        self.check_forwarded()

    @precondition(lambda self: self.streams)
    @rule(
        data=st.data(),
        kind=st.sampled_from(["SUPPRESS", "REVIVE", "RECONCILE", "KILL", "TEARDOWN"]),
    )
    def framework_call(self, data: st.DataObject, kind: str) -> None:
        fid = data.draw(st.sampled_from(sorted(self.streams)))
        if kind == "KILL":
            self.call(
                fid, kind, kill=s.Kill(task_id=ID(f"t{data.draw(st.integers(0, self.next_task))}"))
            )
        elif kind == "RECONCILE":
            self.call(fid, kind, reconcile=s.Reconcile())
        else:
            self.call(fid, kind)

    @precondition(lambda self: self.streams)
    @rule(
        data=st.data(),
        cpus=st.sampled_from([0.5, 2, 6, None]),  # None: all of a busy agent's cpus
        priority=st.integers(-1, 3),
        tier=st.sampled_from(["preferred", "preemptible"]),
    )
    def request_preemption(
        self, data: st.DataObject, cpus: float | None, priority: int, tier: str
    ) -> None:
        fid = data.draw(st.sampled_from(sorted(self.streams)))
        demand = Demand(priority=priority, tier=tier, key=f"k{data.draw(st.integers(0, 2))}")
        busy = sorted(a.id for a in self.h.state.agents.values() if a.tasks)
        agent_id = None
        if cpus is None and busy:
            agent_id = data.draw(st.sampled_from(busy))
            cpus = self.h.state.agents[agent_id].total.scalar("cpus")
        want = ResourceRequest(
            agent_id=ID(agent_id) if agent_id else None,
            resources=parse(f"cpus:{cpus or 1};mem:64").to_wire(),
            corral=demand,
        )
        self.call(fid, "REQUEST", request=Request(requests=[want]))

    @rule(seconds=st.sampled_from([0.5, 3.0, 16.0, 40.0]))
    def time_passes(self, seconds: float) -> None:
        self.h.advance(seconds)
        self.check_forwarded()

    @rule(answer=st.booleans())
    def ping(self, answer: bool) -> None:
        self.feed(ev.PingDue())
        if answer:
            for link in [a.link for a in self.h.state.agents.values() if a.link is not None]:
                self.feed(ev.AgentMessages(link, [amsg.Pong()]))

    @rule(pause=st.booleans())
    def pause_or_resume(self, pause: bool) -> None:
        self.feed(ev.Paused() if pause else ev.Resumed())

    # ------------------------------------------------------------ invariants
    @invariant()
    def agents_never_overcommitted(self) -> None:
        for a in self.h.state.agents.values():
            used = Resources()
            for t in a.tasks.values():
                used = used + t.resources
            for ex in a.executors.values():
                used = used + ex.resources
            offered = Resources()
            for oid in a.offers:
                offered = offered + self.h.state.offers[oid].resources
            assert used == a.used and offered == a.offered
            assert a.total.contains(a.used + a.offered), (a.id, a.total, a.used, a.offered)
            assert a.available == a.total - a.used - a.offered

    @invariant()
    def preemptions_take_only_lower_priorities(self) -> None:
        for rec in self.h.state.preemptions.records.values():
            for v in rec.victims:
                assert v.priority < rec.priority, (rec.id, v.task_id)
                assert v.tier == "preemptible" or v.role == rec.role

    @invariant()
    def offers_are_consistent(self) -> None:
        for oid, o in self.h.state.offers.items():
            assert oid not in self.used_offers
            assert oid in self.h.state.agents[o.agent_id].offers
            assert oid in self.h.state.frameworks[o.framework_id].offers

    @invariant()
    def every_task_in_exactly_one_state(self) -> None:
        where: dict[int, str] = {}
        for fw in [*self.h.state.frameworks.values(), *self.h.state.completed_frameworks]:
            for kind, records in (
                ("live", list(fw.tasks.values())),
                ("unreachable", list(fw.unreachable_tasks.values())),
                ("completed", list(fw.completed_tasks)),
            ):
                for t in records:
                    assert id(t) not in where, f"task {t.task_id} is {where[id(t)]} and {kind}"
                    where[id(t)] = kind
        for fw in self.h.state.frameworks.values():
            for t in fw.tasks.values():
                assert self.h.state.agents[t.agent_id].tasks[(fw.id, t.task_id)] is t
        for a in self.h.state.agents.values():
            for (fid, tid), t in a.tasks.items():
                assert self.h.state.frameworks[fid].tasks[tid] is t


TestMasterCore = MasterCore.TestCase
TestMasterCore.settings = settings(
    max_examples=50,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("ERROR", logger="corral.master")
