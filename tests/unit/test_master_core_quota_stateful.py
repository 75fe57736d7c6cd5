"""Property-based test of quota in the master core: random agents, frameworks in two roles,
quota updates (forced or not), allocations, launches, task ends and declines never let an offer
take a role past its limit, and a refused update changes nothing."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from master_builders import Harness, launch, new_state, status, task

from corral.master.core import events as ev
from corral.master.core.quota import consumed
from corral.master.errors import CallError
from corral.resources import Resources
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import Filters, Scalar
from corral.wire.quota import QuotaConfig

ROLES = ("a", "b")


class QuotaCore(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = Harness(state=new_state())
        self.links = 0
        self.tasks = 0
        self.frameworks: dict[str, str] = {}  # framework id -> stream id
        self.running: list[tuple[int, str, str]] = []  # (link, framework id, task id)
        self.agent_links: dict[str, int] = {}

    @initialize()
    def cluster(self) -> None:
        self.add_agent(4)
        self.add_agent(2)
        for role in ROLES:
            self.subscribe(role)

    @rule(cpus=st.integers(1, 6))
    def add_agent(self, cpus: int) -> None:
        self.links += 1
        aid = self.h.agent(self.links, f"cpus:{cpus};mem:{cpus * 1024}")
        self.agent_links[aid] = self.links

    @rule(role=st.sampled_from(ROLES))
    def subscribe(self, role: str) -> None:
        stream = f"st{len(self.frameworks)}"
        fid = self.h.framework(stream, roles=[role])
        self.frameworks[fid] = stream

    @rule(
        role=st.sampled_from(ROLES),
        guarantee=st.one_of(st.none(), st.integers(0, 8)),
        limit=st.one_of(st.none(), st.integers(0, 8)),
        force=st.booleans(),
    )
    def set_quota(self, role: str, guarantee: int | None, limit: int | None, force: bool) -> None:
        c = QuotaConfig(
            role=role,
            guarantees={"cpus": Scalar(value=guarantee)} if guarantee is not None else {},
            limits={"cpus": Scalar(value=limit)} if limit is not None else {},
        )
        before = dict(self.h.state.quotas)
        try:
            self.h.feed(ev.QuotaUpdate(None, (c,), force=force))
        except CallError as exc:
            assert exc.status == 400
            assert self.h.state.quotas == before, "a refused update changed the quotas"

    @rule()
    def allocate(self) -> None:
        self.h.allocate()

    @precondition(lambda self: self.h.state.offers)
    @rule(data=st.data(), cpus=st.sampled_from([0.5, 1, 2]))
    def accept(self, data: st.DataObject, cpus: float) -> None:
        oid = data.draw(st.sampled_from(sorted(self.h.state.offers)))
        offer = self.h.state.offers[oid]
        if offer.resources.scalar("cpus") < cpus:
            return
        self.tasks += 1
        tid = f"t{self.tasks}"
        fid = offer.framework_id
        self.h.accept(
            fid,
            self.frameworks[fid],
            [oid],
            launch(task(tid, offer.agent_id, f"cpus:{cpus};mem:64")),
            refuse=0,
        )
        self.running.append((self.agent_links[offer.agent_id], fid, tid))

    @precondition(lambda self: self.running)
    @rule(data=st.data())
    def task_ends(self, data: st.DataObject) -> None:
        link, fid, tid = data.draw(st.sampled_from(self.running))
        self.running.remove((link, fid, tid))
        self.h.update(link, fid, status(tid, "TASK_FINISHED"))

    @precondition(lambda self: self.h.state.offers)
    @rule(data=st.data())
    def decline(self, data: st.DataObject) -> None:
        oid = data.draw(st.sampled_from(sorted(self.h.state.offers)))
        fid = self.h.state.offers[oid].framework_id
        self.h.call(
            fid,
            self.frameworks[fid],
            "DECLINE",
            decline=s.Decline(offer_ids=[ID(oid)], filters=Filters(refuse_seconds=0)),
        )

    @invariant()
    def offers_never_take_a_role_past_its_limit(self) -> None:
        used = consumed(self.h.state, offered=False)
        offered: dict[str, Resources] = {}
        for o in self.h.state.offers.values():
            offered[o.role] = offered.get(o.role, Resources()) + o.resources
        for role, q in self.h.state.quotas.items():
            for kind, limit in q.limits.items():
                o = offered.get(role, Resources()).scalar(kind)
                u = used.get(role, Resources()).scalar(kind)
                assert o == 0 or u + o <= limit + 1e-9, (role, kind, u, o, limit)


TestQuotaCore = QuotaCore.TestCase
TestQuotaCore.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("ERROR", logger="corral.master")
