"""The master core: offers, their timeout and rescind, filters, SUPPRESS/REVIVE, and every
way an ACCEPT is refused (a refused call changes nothing)."""

from __future__ import annotations

import copy

import pytest
from master_builders import (
    Harness,
    executor,
    framework_info,
    launch,
    launch_group,
    new_state,
    res,
    subscribe,
    task,
)

from corral.master.core import events as ev
from corral.master.core.effects import CancelTimer, SetTimer
from corral.master.errors import CallError
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import Filters


def offered(h: Harness) -> tuple[str, str, str, list[str]]:
    fid = h.framework("st1")
    aid = h.agent(1)
    offers = h.allocate()
    return fid, "st1", aid, [o.id.value for o in offers]


def test_allocation_offers_an_agents_resources_once() -> None:
    h = Harness()
    fid, _, aid, oids = offered(h)
    assert len(oids) == 1
    offer = h.state.offers[oids[0]]
    assert offer.framework_id == fid and offer.agent_id == aid
    agent = h.state.agents[aid]
    assert agent.offered == agent.total and agent.available.is_empty()
    assert h.allocate() == []  # nothing left to offer


def test_no_offers_while_paused() -> None:
    h = Harness()
    h.framework("st1")
    h.agent(1)
    h.feed(ev.Paused())
    assert h.allocate() == []
    h.feed(ev.Resumed())
    assert h.allocation_asked
    assert len(h.allocate()) == 1


def test_offer_timeout_rescinds_and_reoffers() -> None:
    h = Harness(state=new_state(offer_timeout=10.0))
    _fid, st, aid, (oid,) = offered(h)
    assert h.timers[("offer", oid)].at == h.now + 10
    h.advance(10)
    (rescind,) = h.events(st, "RESCIND")
    assert rescind.rescind is not None and rescind.rescind.offer_id.value == oid
    assert oid not in h.state.offers
    assert h.state.agents[aid].available == h.state.agents[aid].total
    assert len(h.allocate()) == 1


def test_offer_timeout_while_paused_waits() -> None:
    h = Harness(state=new_state(offer_timeout=10.0))
    _, _st, _, (oid,) = offered(h)
    h.feed(ev.Paused())
    h.advance(10)
    assert oid in h.state.offers
    assert h.timers[("offer", oid)].at == h.now + 1
    h.feed(ev.Resumed())
    h.advance(1)
    assert oid not in h.state.offers


def test_using_an_offer_cancels_its_timer() -> None:
    h = Harness(state=new_state(offer_timeout=10.0))
    fid, st, aid, (oid,) = offered(h)
    h.accept(fid, st, [oid], launch(task("t1", aid)))
    assert CancelTimer(("offer", oid)) in h.out


def test_agent_disconnect_rescinds_its_offers() -> None:
    h = Harness()
    _fid, st, aid, (oid,) = offered(h)
    h.feed(ev.AgentDisconnected(1))
    assert oid not in h.state.offers
    assert h.events(st, "RESCIND")
    assert not h.state.agents[aid].connected


def test_decline_filters_the_agent_until_refuse_seconds_lapse() -> None:
    h = Harness()
    fid, st, aid, (oid,) = offered(h)
    h.call(
        fid,
        st,
        "DECLINE",
        decline=s.Decline(offer_ids=[ID(oid)], filters=Filters(refuse_seconds=30)),
    )
    assert oid not in h.state.offers
    assert h.allocate() == []  # filtered
    (timer,) = [t for t in h.timers.values() if t.key[0] == "filter"]  # type: ignore[index]
    assert timer.at == pytest.approx(h.now + 30.001)
    h.advance(31)
    assert aid not in h.state.frameworks[fid].filters  # pruned when it lapsed
    assert h.allocation_asked
    assert len(h.allocate()) == 1


def test_default_refuse_seconds_and_revive_clears_filters() -> None:
    h = Harness()
    fid, st, aid, (oid,) = offered(h)
    h.call(fid, st, "DECLINE", decline=s.Decline(offer_ids=[ID(oid)]))
    (f,) = h.state.frameworks[fid].filters[aid]
    assert f.until == h.now + 5.0
    h.call(fid, st, "REVIVE")
    assert h.state.frameworks[fid].filters == {}
    assert len(h.allocate()) == 1


def test_suppress_stops_new_offers_and_revive_resumes_them() -> None:
    h = Harness()
    fid, st, _aid, (oid,) = offered(h)
    h.call(fid, st, "SUPPRESS")
    h.call(
        fid,
        st,
        "DECLINE",
        decline=s.Decline(offer_ids=[ID(oid)], filters=Filters(refuse_seconds=0)),
    )
    assert h.allocate() == []
    h.call(fid, st, "REVIVE")
    assert len(h.allocate()) == 1


def test_snapshot_building_changes_nothing() -> None:
    from corral.master.core.offers import snapshot

    h = Harness()
    fid, st, _aid, (oid,) = offered(h)
    h.call(
        fid,
        st,
        "DECLINE",
        decline=s.Decline(offer_ids=[ID(oid)], filters=Filters(refuse_seconds=1)),
    )
    h.now += 100  # the filter has expired
    before = copy.deepcopy(h.state.frameworks[fid].filters)
    snap = snapshot(h.state, h.now)
    assert h.state.frameworks[fid].filters == before
    with pytest.raises(TypeError):
        snap.frameworks[0].filters["x"] = []  # type: ignore[index]


# ---------------------------------------------------------------- ACCEPT errors
def refused(h: Harness, fid: str, st: str, oids: list[str], *ops: s.Operation) -> CallError:
    before = (copy.deepcopy(h.state.offers), copy.deepcopy(h.state.frameworks[fid].tasks))
    with pytest.raises(CallError) as e:
        h.accept(fid, st, oids, *ops)
    assert e.value.status == 400
    assert (h.state.offers, h.state.frameworks[fid].tasks) == before
    return e.value


def test_accept_unknown_offer() -> None:
    h = Harness()
    fid, st, aid, _ = offered(h)
    e = refused(h, fid, st, ["nope"], launch(task("t", aid)))
    assert "'accept.offer_ids[0]'" in e.message and "no longer valid" in e.message


def test_accept_used_offer() -> None:
    h = Harness()
    fid, st, aid, (oid,) = offered(h)
    h.accept(fid, st, [oid], launch(task("t", aid)))
    e = refused(h, fid, st, [oid], launch(task("t2", aid)))
    assert "no longer valid" in e.message


def test_accept_rescinded_offer() -> None:
    h = Harness(state=new_state(offer_timeout=1.0))
    fid, st, aid, (oid,) = offered(h)
    h.advance(1)
    e = refused(h, fid, st, [oid], launch(task("t", aid)))
    assert "rescinded" in e.message


def test_accept_foreign_offer() -> None:
    h = Harness()
    _fid, _st, aid, (oid,) = offered(h)
    other = h.framework("st2", name="other")
    e = refused(h, other, "st2", [oid], launch(task("t", aid)))
    assert "belongs to another framework" in e.message


def test_accept_duplicate_offer() -> None:
    h = Harness()
    fid, st, aid, (oid,) = offered(h)
    e = refused(h, fid, st, [oid, oid], launch(task("t", aid)))
    assert "'accept.offer_ids[1]'" in e.message and "listed twice" in e.message


def test_accept_offers_on_two_agents() -> None:
    h = Harness()
    fid = h.framework("st1")
    a1, a2 = h.agent(1), h.agent(2)
    oids = [o.id.value for o in h.allocate()]
    assert {h.state.offers[o].agent_id for o in oids} == {a1, a2}
    e = refused(h, fid, "st1", oids, launch(task("t", a1)))
    assert "same agent" in e.message


def test_accept_offers_of_two_roles() -> None:
    h = Harness()
    h.feed(subscribe("st1", framework_info(roles=["a", "b"])))
    fid = h.state.streams["st1"]
    aid = h.agent(1, "cpus:8;mem:8192")
    # offer the agent's halves to each role by hand: two plans, one per role
    from corral.master.allocator import OfferPlan
    from corral.master.core.offers import offer_plans

    out: list[object] = []
    half = res("cpus:2;mem:1024")
    offer_plans(
        h.state, h.now, out, [OfferPlan(fid, aid, "a", half), OfferPlan(fid, aid, "b", half)]
    )  # type: ignore[arg-type]
    oids = list(h.state.frameworks[fid].offers)
    e = refused(h, fid, "st1", oids, launch(task("t", aid)))
    assert "same role" in e.message


def test_accept_no_offers() -> None:
    h = Harness()
    fid, st, aid, _ = offered(h)
    e = refused(h, fid, st, [], launch(task("t", aid)))
    assert "at least one offer" in e.message


def test_accept_bad_resources() -> None:
    h = Harness()
    fid, st, aid, (oid,) = offered(h)
    bad = task("t", aid)
    bad.resources[0].scalar = None  # type: ignore[union-attr]
    e = refused(h, fid, st, [oid], launch(bad))
    assert "accept.operations[0].launch.task_infos[0].resources" in e.message


def test_accept_unsupported_operation() -> None:
    h = Harness()
    fid, st, _aid, (oid,) = offered(h)
    e = refused(h, fid, st, [oid], s.Operation(type="RESERVE"))
    assert "'accept.operations[0].type' RESERVE" in e.message
    e = refused(h, fid, st, [oid], s.Operation(type="LAUNCH"))
    assert "'accept.operations[0].launch' is missing" in e.message


def task_errors(h: Harness, st: str) -> list[str]:
    return [u.message or "" for u in h.updates(st) if u.state == "TASK_ERROR"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda aid: task("t", aid, "cpus:100;mem:128"), "more resources"),
        (lambda aid: task("", aid), "must not be empty"),
        (lambda aid: task("t", "other-agent"), "the offer is for agent"),
        (lambda aid: task("t", aid, command=None), "exactly one of 'command' or 'executor'"),
        (
            lambda aid: task("t", aid, executor=executor("e")),
            "exactly one of 'command' or 'executor'",
        ),
        (lambda aid: task("t", aid, command=""), "'command.value' is empty"),
    ],
)
def test_accept_answers_an_invalid_task_with_task_error(make, message) -> None:  # type: ignore[no-untyped-def]
    h = Harness()
    fid, st, aid, (oid,) = offered(h)
    h.accept(fid, st, [oid], launch(make(aid)))
    (err,) = task_errors(h, st)
    assert message in err
    assert h.state.frameworks[fid].tasks == {}
    assert oid not in h.state.offers  # the offer was used; its resources are free again
    agent = h.state.agents[aid]
    assert agent.used.is_empty() and agent.available == agent.total


def test_accept_reused_task_id() -> None:
    h = Harness()
    fid, st, aid, (oid,) = offered(h)
    h.accept(fid, st, [oid], launch(task("t", aid), task("t", aid)))
    (err,) = task_errors(h, st)
    assert "already exists" in err
    assert list(h.state.frameworks[fid].tasks) == ["t"]


def test_launch_sends_run_task_and_accounts_resources() -> None:
    h = Harness()
    fid, st, aid, (oid,) = offered(h)
    h.now += 0.25
    h.accept(fid, st, [oid], launch(task("t1", aid), task("t2", aid)), refuse=0)
    runs = h.to_agent(1, amsg.RunTask)
    assert [r.task.task_id.value for r in runs] == ["t1", "t2"]
    agent = h.state.agents[aid]
    assert agent.used == res("cpus:2;mem:256")
    assert agent.available == agent.total - agent.used
    assert h.state.frameworks[fid].tasks["t1"].state == "TASK_STAGING"
    assert h.state.metrics["master/tasks_launched"] == 2
    assert h.state.offer_accept_ms.values[-1] == pytest.approx(250.0)
    assert len(h.allocate()) == 1  # the rest is offered again (refuse_seconds 0)


def test_launch_with_an_executor_counts_it_once() -> None:
    h = Harness()
    fid, st, aid, (oid,) = offered(h)
    ex = executor("e1")
    h.accept(
        fid,
        st,
        [oid],
        launch(
            task("t1", aid, command=None, executor=ex), task("t2", aid, command=None, executor=ex)
        ),
    )
    assert list(h.state.frameworks[fid].executors) == [(aid, "e1")]
    assert h.state.agents[aid].used == res("cpus:2.1;mem:288")


def test_launch_group() -> None:
    h = Harness()
    fid, st, aid, (oid,) = offered(h)
    h.accept(fid, st, [oid], launch_group(executor("ex"), task("a", aid), task("b", aid)))
    (run,) = h.to_agent(1, amsg.RunTaskGroup)
    assert [t.task_id.value for t in run.task_group.tasks] == ["a", "b"]
    tasks = h.state.frameworks[fid].tasks
    assert tasks["a"].executor_id == tasks["b"].executor_id == "ex"
    assert h.state.agents[aid].used == res("cpus:2.1;mem:288")


def test_launch_group_invalid_answers_every_task() -> None:
    h = Harness()
    fid, st, aid, (oid,) = offered(h)
    h.accept(fid, st, [oid], launch_group(executor("ex"), task("a", aid), task("a", aid)))
    errs = task_errors(h, st)
    assert len(errs) == 2 and all("appears twice" in m for m in errs)
    assert h.state.frameworks[fid].tasks == {}
    assert not h.to_agent(1, amsg.RunTaskGroup)
    assert [u.reason for u in h.updates(st)] == ["REASON_TASK_GROUP_INVALID"] * 2


def test_set_timer_keys_are_unique_per_filter() -> None:
    h = Harness()
    fid, st, _aid, (oid,) = offered(h)
    h.call(fid, st, "DECLINE", decline=s.Decline(offer_ids=[ID(oid)]))
    h.call(fid, st, "REVIVE")
    (o2,) = [o.id.value for o in h.allocate()]
    h.call(fid, st, "DECLINE", decline=s.Decline(offer_ids=[ID(o2)]))
    keys = [t.key for t in h.timers.values() if isinstance(t, SetTimer) and t.key[0] == "filter"]  # type: ignore[index]
    assert len(set(keys)) == 2
