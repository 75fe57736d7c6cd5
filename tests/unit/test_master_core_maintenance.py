"""Agent maintenance in the master core: deactivate, reactivate, drain (inverse offers, the
notice, capped kills, DRAINED, mark_gone) and mark gone (never back), with no I/O."""

from __future__ import annotations

import pytest
from master_builders import Harness, launch, new_state, persisted, register, status, task

from corral.master.core import events as ev
from corral.master.core.effects import AdmitAgent, MarkGone
from corral.master.errors import CallError
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import DurationInfo
from corral.wire.tasks import KillPolicy


def running(h: Harness, grace: float | None = None) -> tuple[str, str]:
    """A framework (stream st1) with task t1 running on an agent (link 1)."""
    fid = h.framework()
    aid = h.agent()
    (offer,) = h.allocate()
    t = task("t1", aid)
    if grace is not None:
        t.kill_policy = KillPolicy(grace_period=DurationInfo(nanoseconds=int(grace * 1e9)))
    h.accept(fid, "st1", [offer.id.value], launch(t), refuse=0)
    h.update(1, fid, status("t1", "TASK_RUNNING", agent_id=aid))
    return fid, aid


def maintain(h: Harness, kind: str, aid: str, **kw: object) -> None:
    h.feed(ev.AgentMaintenance(kind, aid, **kw))  # type: ignore[arg-type]


def test_deactivate_stops_offers_and_reactivate_resumes_them() -> None:
    h = Harness()
    _, aid = running(h)
    h.allocate()
    assert h.state.offers  # the rest of the agent is on offer
    maintain(h, "DEACTIVATE_AGENT", aid)
    assert not h.state.offers and h.events("st1", "RESCIND")
    (op,) = persisted(h.out)
    assert isinstance(op, AdmitAgent) and op.info["deactivated"] is True
    assert h.allocate() == []
    assert h.state.agents[aid].tasks  # its task is untouched
    maintain(h, "REACTIVATE_AGENT", aid)
    assert h.allocate()


def test_a_deactivated_agent_stays_so_when_it_reconnects() -> None:
    h = Harness()
    aid = h.agent()
    maintain(h, "DEACTIVATE_AGENT", aid)
    h.feed(ev.AgentDisconnected(1))
    h.feed(register(2, agent_id=aid))
    assert not h.state.agents[aid].active
    h.framework()
    assert h.allocate() == []


def test_drain_tells_the_frameworks_then_kills_with_the_grace_capped() -> None:
    h = Harness(state=new_state(drain_notice=30.0))
    fid, aid = running(h, grace=60.0)
    maintain(h, "DRAIN_AGENT", aid, max_grace=5.0)
    (offers_event,) = h.events("st1", "OFFERS")
    assert offers_event.offers is not None
    (inverse,) = offers_event.offers.inverse_offers
    assert inverse.agent_id == ID(aid) and inverse.unavailability.start.nanoseconds == int(
        (h.now + 30.0) * 1e9
    )
    assert h.to_agent(1, amsg.KillTask) == []  # the notice first
    assert h.state.agents[aid].drain is not None
    assert h.state.agents[aid].drain.state == "DRAINING"
    h.advance(30.0)
    (kill,) = h.to_agent(1, amsg.KillTask)
    assert kill.task_id == ID("t1") and kill.kill_policy is not None
    assert kill.kill_policy.grace_period == DurationInfo(nanoseconds=5_000_000_000)
    h.update(1, fid, status("t1", "TASK_KILLED", agent_id=aid))
    drain = h.state.agents[aid].drain
    assert drain is not None and drain.state == "DRAINED"
    assert h.events("st1", "RESCIND_INVERSE_OFFER")
    assert h.allocate() == []  # drained agents get no offers until reactivated


def test_when_every_framework_accepts_the_inverse_offer_the_kills_go_at_once() -> None:
    h = Harness()
    fid, aid = running(h)
    maintain(h, "DRAIN_AGENT", aid)
    (e,) = h.events("st1", "OFFERS")
    assert e.offers is not None
    (inverse,) = e.offers.inverse_offers
    h.call(
        fid,
        "st1",
        "ACCEPT_INVERSE_OFFERS",
        accept_inverse_offers=s.InverseOffers(inverse_offer_ids=[inverse.id]),
    )
    (kill,) = h.to_agent(1, amsg.KillTask)
    assert kill.kill_policy is None  # no cap asked: the task's own grace


def test_drain_with_mark_gone_ends_with_the_agent_gone_for_good() -> None:
    h = Harness()
    fid, aid = running(h)
    maintain(h, "DRAIN_AGENT", aid, mark_gone=True)
    h.advance(h.state.config.drain_notice)
    h.update(1, fid, status("t1", "TASK_KILLED", agent_id=aid))
    assert aid not in h.state.agents and aid in h.state.gone_agents
    assert any(isinstance(op, MarkGone) for op in persisted(h.out))
    assert h.to_agent(1, amsg.ShutdownAgent)
    h.feed(register(3, agent_id=aid))  # it tries to come back
    (refused,) = h.to_agent(3, amsg.ShutdownAgent)
    assert "marked gone" in refused.message
    assert aid not in h.state.agents


def test_mark_gone_ends_its_tasks_as_gone_by_operator() -> None:
    h = Harness()
    _, aid = running(h)
    maintain(h, "MARK_AGENT_GONE", aid)
    (update,) = h.updates("st1")
    assert update.state == "TASK_GONE_BY_OPERATOR" and update.task_id == ID("t1")
    assert h.events("st1", "FAILURE")
    with pytest.raises(CallError) as err:
        maintain(h, "DRAIN_AGENT", aid)
    assert "gone" in err.value.message


def test_bad_maintenance_calls_change_nothing() -> None:
    h = Harness()
    aid = h.agent()
    for kind in ("DRAIN_AGENT", "DEACTIVATE_AGENT", "REACTIVATE_AGENT", "MARK_AGENT_GONE"):
        with pytest.raises(CallError) as err:
            maintain(h, kind, "no-such-agent")
        assert err.value.status == 404 and "no-such-agent" in err.value.message
    with pytest.raises(CallError) as err:
        maintain(h, "DRAIN_AGENT", aid, max_grace=-1.0)
    assert err.value.status == 400 and "max_grace_period" in err.value.message
    assert h.state.agents[aid].active and h.state.agents[aid].drain is None


def test_an_idle_agent_is_drained_at_once() -> None:
    h = Harness()
    aid = h.agent()
    maintain(h, "DRAIN_AGENT", aid)
    drain = h.state.agents[aid].drain
    assert drain is not None and drain.state == "DRAINED"


def test_a_drain_survives_a_failover_and_goes_on() -> None:
    from corral.coordination.interfaces import RegistrySnapshot
    from corral.master.core.maintenance import registry_info

    h = Harness()
    fid, aid = running(h)
    maintain(h, "DRAIN_AGENT", aid, max_grace=2.0)
    info = registry_info(h.state.agents[aid])
    assert info["drain"] == {"state": "DRAINING", "max_grace": 2.0, "mark_gone": False,
                             "since": h.now}  # fmt: skip
    # A new leader: the registry has the agent with its drain; it re-registers with its task.
    h2 = Harness()
    h2.feed(ev.RegistryRecovered(RegistrySnapshot(agents={aid: info})))
    h2.feed(subscribe_again(fid))
    h2.feed(register(1, agent_id=aid, tasks=[running_task(fid, aid)]))
    agent = h2.state.agents[aid]
    assert agent.deactivated and not agent.active
    assert agent.drain is not None and agent.drain.state == "DRAINING"
    h2.advance(0)
    (kill,) = h2.to_agent(1, amsg.KillTask)
    assert kill.kill_policy is not None
    assert kill.kill_policy.grace_period == DurationInfo(nanoseconds=2_000_000_000)


def subscribe_again(fid: str) -> ev.StreamOpened:
    from master_builders import framework_info, subscribe

    return subscribe("st1", framework_info(fid=fid, failover_timeout=60.0))


def running_task(fid: str, aid: str) -> amsg.AgentTask:
    return amsg.AgentTask(framework_id=ID(fid), task=task("t1", aid), state="TASK_RUNNING")
