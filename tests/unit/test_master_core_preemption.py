"""Preemption in the master core: REQUEST with corral's demand, the victims' inverse offers
and notice, the kills with REASON_CONTAINER_PREEMPTED, the hold for the asker, and the
records; no I/O."""

from __future__ import annotations

import msgspec
import pytest
from master_builders import Harness, launch, new_state, status, task

from corral.master.core.preemption_records import HELD, KILLING, LAPSED, OFFERED
from corral.master.errors import CallError
from corral.resources import from_wire, parse
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import Label, Labels
from corral.wire.preemption import Demand, Request, ResourceRequest


def labelled(tid: str, aid: str, resources: str, tier: str, priority: int) -> object:
    t = task(tid, aid, resources)
    t.labels = Labels(
        labels=[
            Label(key="corral.tier", value=tier),
            Label(key="corral.priority", value=str(priority)),
        ]
    )
    return t


def full_cluster(h: Harness) -> tuple[str, str, str]:
    """Agent (link 1) with 2 cpus and 256 MB, filled by framework ``low`` (stream st1): task lo1
    (preemptible, priority 0, 1 cpu) and lo2 (preferred, priority 0, 1 cpu). Framework
    ``high`` subscribes on stream st2."""
    low = h.framework("st1", name="low")
    aid = h.agent(resources="cpus:2;mem:256")
    (offer,) = h.allocate()
    h.accept(
        low,
        "st1",
        [offer.id.value],
        launch(
            labelled("lo1", aid, "cpus:1;mem:128", "preemptible", 0),  # type: ignore[arg-type]
            labelled("lo2", aid, "cpus:1;mem:128", "preferred", 0),  # type: ignore[arg-type]
        ),
        refuse=0,
    )
    for tid in ("lo1", "lo2"):
        h.update(1, low, status(tid, "TASK_RUNNING", agent_id=aid))
    high = h.framework("st2", name="high")
    assert h.allocate() == []  # nothing free
    return low, high, aid


def ask(
    h: Harness,
    fid: str,
    stream: str,
    resources: str = "cpus:1;mem:64",
    *,
    priority: int = 10,
    tier: str = "preferred",
    key: str | None = "web/0",
    role: str | None = None,
) -> None:
    h.call(
        fid,
        stream,
        "REQUEST",
        request=Request(
            requests=[
                ResourceRequest(
                    resources=parse(resources).to_wire(),
                    corral=Demand(priority=priority, tier=tier, key=key, name="web", role=role),
                )
            ]
        ),
    )


def inverse_offers(h: Harness, stream: str) -> list[s.InverseOffer]:
    return [io for e in h.events(stream, "OFFERS") if e.offers for io in e.offers.inverse_offers]


def test_a_request_preempts_the_preemptible_task_after_the_notice() -> None:
    h = Harness(state=new_state(preemption_notice=5.0))
    low, high, aid = full_cluster(h)
    ask(h, high, "st2")
    (io,) = inverse_offers(h, "st1")
    assert io.preemption is not None and io.preemption.task_ids == [ID("lo1")]
    assert "task lo1 (priority 0, preemptible) preempted for framework high's task web" in (
        io.preemption.reason
    )
    assert io.agent_id == ID(aid)
    assert io.unavailability.start.nanoseconds == int((h.now + 5.0) * 1e9)
    assert parse("cpus:1;mem:128").contains(parse("cpus:1"))
    assert h.to_agent(1, amsg.KillTask) == []  # the notice first
    (rec,) = h.state.preemptions.records.values()
    assert rec.framework_id == high and [v.task_id for v in rec.victims] == ["lo1"]
    assert h.state.metrics["master/preemptions"] == h.state.metrics["master/tasks_preempted"] == 1
    h.advance(5.0)
    (kill,) = h.to_agent(1, amsg.KillTask)
    assert kill.task_id == ID("lo1") and kill.reason == "REASON_CONTAINER_PREEMPTED"
    assert rec.state == KILLING
    assert h.events("st1", "RESCIND_INVERSE_OFFER")
    # The freed cpu goes to the asker only: it is offered what it asked for, and what is
    # left of the agent (64 MB) goes through the allocation pass as usual.
    h.update(1, low, status("lo1", "TASK_KILLED", agent_id=aid))
    offers = h.allocate()
    by_fw = {o.framework_id.value: from_wire(o.resources) for o in offers}
    assert by_fw[high] == parse("cpus:1;mem:64")
    assert all(r.scalar("cpus") == 0 for f, r in by_fw.items() if f != high)
    assert rec.hold == OFFERED


def test_the_victims_own_kill_carries_the_reason() -> None:
    h = Harness()
    low, high, _aid = full_cluster(h)
    ask(h, high, "st2")
    h.call(low, "st1", "KILL", kill=s.Kill(task_id=ID("lo1")))
    (kill,) = h.to_agent(1, amsg.KillTask)
    assert kill.reason == "REASON_CONTAINER_PREEMPTED"
    h.call(low, "st1", "KILL", kill=s.Kill(task_id=ID("lo2")))  # not a victim
    (kill,) = h.to_agent(1, amsg.KillTask)
    assert kill.reason is None


def test_freed_resources_are_held_from_others_until_the_hold_lapses() -> None:
    h = Harness(state=new_state(preemption_notice=1.0, preemption_hold=2.0))
    low, high, aid = full_cluster(h)
    # 1.5 cpus: both must go (lo2 is preferred, but of the preferred asker's role "*").
    ask(h, high, "st2", "cpus:1.5")
    (rec,) = h.state.preemptions.records.values()
    assert sorted(v.task_id for v in rec.victims) == ["lo1", "lo2"]
    # The first victim ends: not enough yet for the ask, and nobody else gets it.
    h.update(1, low, status("lo1", "TASK_KILLED", agent_id=aid))
    assert h.allocate() == []  # held: the low framework does not get the freed cpu back
    h.advance(1.0 + 3.0 + 2.0)  # notice + grace + hold
    assert rec.hold == LAPSED
    offers = h.allocate()
    assert offers and {o.framework_id.value for o in offers} <= {low, high}


def test_a_repeated_key_is_served_once_and_a_new_key_again() -> None:
    h = Harness()
    _low, high, _aid = full_cluster(h)
    ask(h, high, "st2")
    ask(h, high, "st2")
    assert len(h.state.preemptions.records) == 1
    ask(h, high, "st2", key="web/1")  # lo1 is taken; lo2 is preferred of role "*": allowed
    assert len(h.state.preemptions.records) == 2
    victims = [v.task_id for r in h.state.preemptions.records.values() for v in r.victims]
    assert victims == ["lo1", "lo2"]


def test_nothing_is_preempted_for_an_equal_priority_or_a_preemptible_asker() -> None:
    h = Harness()
    _low, high, _aid = full_cluster(h)
    ask(h, high, "st2", priority=0)
    ask(h, high, "st2", "cpus:2", tier="preemptible", key="other")  # lo2 is preferred
    assert not h.state.preemptions.records
    assert inverse_offers(h, "st1") == []


def test_a_request_that_fits_already_preempts_nothing() -> None:
    h = Harness()
    h.framework("st1", name="low")
    h.agent(resources="cpus:2;mem:1024")
    high = h.framework("st2", name="high")
    ask(h, high, "st2")
    assert not h.state.preemptions.records
    assert h.allocation_asked


def test_bad_requests_name_the_field_and_change_nothing() -> None:
    h = Harness()
    _low, high, _aid = full_cluster(h)
    with pytest.raises(CallError, match=r"request.requests\[0\].corral.tier.*'gold'"):
        ask(h, high, "st2", tier="gold")
    with pytest.raises(CallError, match=r"request.requests\[0\].corral.role"):
        ask(h, high, "st2", role="nope")
    with pytest.raises(CallError, match=r"request.requests\[0\].resources' is empty"):
        ask(h, high, "st2", "")
    assert not h.state.preemptions.records
    with pytest.raises(msgspec.ValidationError, match=r"request.requests\[0\].corral.priority"):
        msgspec.json.decode(
            b'{"type":"REQUEST","request":{"requests":[{"corral":{"priority":"high"}}]}}',
            type=s.Call,
        )


def test_a_plain_mesos_request_is_ignored() -> None:
    h = Harness()
    _low, high, _aid = full_cluster(h)
    h.call(
        high,
        "st2",
        "REQUEST",
        request=Request(requests=[ResourceRequest(resources=parse("cpus:1").to_wire())]),
    )
    assert not h.state.preemptions.records


def test_a_task_with_a_bad_priority_label_is_refused_at_launch() -> None:
    h = Harness()
    fid = h.framework()
    aid = h.agent()
    (offer,) = h.allocate()
    bad = task("t1", aid)
    bad.labels = Labels(labels=[Label(key="corral.priority", value="high")])
    h.accept(fid, "st1", [offer.id.value], launch(bad))
    (st,) = h.updates("st1")
    assert st.state == "TASK_ERROR" and st.message is not None
    assert "labels.corral.priority: 'high' is not a whole number" in st.message
    assert h.state.preemptions.records == {}


def test_hold_is_held_only_while_active() -> None:
    h = Harness(state=new_state(preemption_notice=0.0))
    _low, high, _aid = full_cluster(h)
    ask(h, high, "st2")
    (rec,) = h.state.preemptions.records.values()
    assert rec.hold == HELD
    h.advance(0.0)
    assert h.to_agent(1, amsg.KillTask)  # no notice: killed at once


def test_the_view_lists_each_preemption_with_its_victims_state_and_reason() -> None:
    from corral.master.preemption_view import preemptions_view
    from corral.wire.codec import encode

    h = Harness(state=new_state(preemption_notice=1.0))
    low, high, aid = full_cluster(h)
    ask(h, high, "st2")
    (p,) = preemptions_view(h.state).preemptions
    assert (p.framework_name, p.priority, p.state, p.hold) == ("high", 10, "NOTIFIED", "HELD")
    (v,) = p.victims
    assert (v.task_id, v.state, v.tier, v.priority) == ("lo1", "TASK_RUNNING", "preemptible", 0)
    h.advance(1.0)
    h.update(1, low, status("lo1", "TASK_KILLED", agent_id=aid))
    (p,) = preemptions_view(h.state).preemptions
    assert p.state == "DONE" and p.victims[0].state == "TASK_KILLED"
    assert b'"reason":"task lo1 (priority 0, preemptible) preempted for framework high' in encode(p)
