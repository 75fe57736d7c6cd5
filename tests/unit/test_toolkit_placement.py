"""Placement: resources, ports, roles, Marathon constraints, and the reasons it gives."""

from __future__ import annotations

import pytest

from corral.resources import Resources, parse, scalars
from corral.scheduler_client.placement import (
    AgentOffer,
    Constraint,
    Placed,
    TaskSpec,
    agents_from_offers,
    place,
    totals_from_state,
)
from corral.wire.base import ID
from corral.wire.common import Attribute, Text
from corral.wire.scheduler import Offer


def agent(i: int, res: str = "cpus:4;mem:4096;ports:[31000-31009]", **attrs: str) -> AgentOffer:
    return AgentOffer(f"a{i}", f"host{i}", attrs, parse(res), (f"o{i}",))


def spec(cpus: float = 1, mem: float = 128, **kw: object) -> TaskSpec:
    return TaskSpec(name=str(kw.pop("name", "web")), resources=scalars(cpus=cpus, mem=mem), **kw)  # type: ignore[arg-type]


def c(text: str) -> tuple[Constraint, ...]:
    return (Constraint.parse(text),)


# ------------------------------------------------------------------ resources and reasons
def test_scalars_fit_and_consume_the_agent() -> None:
    p = place([spec(cpus=2), spec(cpus=2), spec(cpus=2)], [agent(1)])
    assert [a.agent_id for a in p.assignments] == ["a1", "a1"]
    assert p.assignments[0].offer_ids == ("o1",)
    assert p.assignments[0].resources.scalar("cpus") == 2
    assert len(p.unplaced) == 1
    assert p.unplaced[0].reason == "needs cpus 2, largest free on any agent is 0"


def test_too_big_says_largest_free_and_agent_total() -> None:
    agents = [agent(1, "cpus:2;mem:1024"), agent(2, "cpus:1;mem:1024")]
    totals = {"a1": parse("cpus:4;mem:2048"), "a2": parse("cpus:4;mem:2048")}
    p = place([spec(cpus=8)], agents, totals=totals)
    assert p.unplaced[0].reason == "needs cpus 8, largest free on any agent is 2 (agent total 4)"
    p = place([spec(cpus=8)], agents)
    assert p.unplaced[0].reason == "needs cpus 8, largest free on any agent is 2"


def test_fits_separately_but_not_together() -> None:
    agents = [agent(1, "cpus:4;mem:64"), agent(2, "cpus:0.5;mem:4096")]
    p = place([spec(cpus=1, mem=1024)], agents)
    assert p.unplaced[0].reason == "no single agent has cpus 1, mem 1024 free at once"


def test_no_offers() -> None:
    p = place([spec()], [])
    assert "no agent is offering" in p.unplaced[0].reason


def test_from_wire_offers_merge_per_agent() -> None:
    def offer(oid: str, aid: str, res: str) -> Offer:
        return Offer(
            id=ID(oid),
            framework_id=ID("f"),
            agent_id=ID(aid),
            hostname=f"h-{aid}",
            resources=parse(res).to_wire(),
            attributes=[
                Attribute(name="rack", type="TEXT", text=Text(value="a")),
                {"name": "level", "type": "SCALAR", "scalar": {"value": 3.0}},
            ],
        )

    offers = [offer("o1", "a1", "cpus:1;mem:128"), offer("o2", "a1", "cpus:1;mem:128")]
    agents = agents_from_offers(offers)
    assert len(agents) == 1
    assert agents[0].available.scalar("cpus") == 2
    assert agents[0].attributes == {"rack": "a", "level": "3"}
    p = place([spec(cpus=2, mem=256)], offers)
    assert p.assignments[0].offer_ids == ("o1", "o2")
    assert p.offer_ids() == {"o1", "o2"}


# ------------------------------------------------------------------ ports
def test_any_n_ports() -> None:
    p = place([spec(ports=3), spec(ports=3)], [agent(1, "cpus:4;mem:4096;ports:[31000-31004]")])
    assert p.assignments[0].ports == (31000, 31001, 31002)
    assert p.assignments[0].resources.port_ranges() == ((31000, 31002),)
    assert p.unplaced[0].reason == "needs 3 ports, most free on any agent is 2"


def test_named_ports() -> None:
    agents = [
        agent(1, "cpus:4;mem:4096;ports:[31000-31004]"),
        agent(2, "cpus:4;mem:4096;ports:[8080-8080]"),
    ]
    p = place([spec(named_ports=(8080,), ports=0)], agents)
    assert p.assignments[0].agent_id == "a2"
    assert p.assignments[0].ports == (8080,)
    # The second one cannot have 8080 too.
    p = place([spec(named_ports=(8080,)), spec(named_ports=(8080,))], agents)
    assert p.unplaced[0].reason == "needs port 8080, which is free on no agent"


def test_named_and_any_ports_together() -> None:
    p = place([spec(named_ports=(31003,), ports=2)], [agent(1)])
    assert p.assignments[0].ports == (31003, 31000, 31001)


# ------------------------------------------------------------------ roles and reservations
def test_reserved_resources_used_first_then_unreserved() -> None:
    a = agent(1, "cpus:1;cpus(web):2;mem:1024")
    p = place([spec(cpus=2.5, role="web")], [a])
    r = p.assignments[0].resources
    assert r.scalars[("cpus", "web")] == 2
    assert r.scalars[("cpus", "*")] == 0.5


def test_other_roles_reservations_are_not_used() -> None:
    a = agent(1, "cpus:1;cpus(db):8;mem:1024")
    p = place([spec(cpus=2, role="web")], [a])
    assert p.unplaced[0].reason == (
        "needs cpus 2 (unreserved or reserved for role web), largest free on any agent is 1"
    )


def test_reserved_only() -> None:
    a = agent(1, "cpus:8;cpus(web):1;mem(web):1024")
    p = place([spec(cpus=2, role="web", reserved_only=True)], [a])
    assert p.unplaced[0].reason == (
        "needs cpus 2 reserved for role web, largest free on any agent is 1"
    )
    p = place([spec(cpus=1, role="web", reserved_only=True)], [a])
    assert p.assignments[0].resources == Resources({("cpus", "web"): 1, ("mem", "web"): 128})


# ------------------------------------------------------------------ constraints
def test_unique_hostname() -> None:
    agents = [agent(1), agent(2), agent(3)]
    p = place([spec(constraints=c("hostname:UNIQUE"))] * 4, agents)
    assert sorted(a.agent_id for a in p.assignments) == ["a1", "a2", "a3"]
    assert p.unplaced[0].reason == "hostname:UNIQUE leaves 0 of 3 agents"


def test_unique_counts_running_tasks_of_the_same_group_only() -> None:
    agents = [agent(1), agent(2)]
    running = [Placed("web", "a1", "host1"), Placed("other", "a2", "host2")]
    p = place([spec(constraints=c("hostname:UNIQUE"))] * 2, agents, running)
    assert [a.agent_id for a in p.assignments] == ["a2"]


def test_unique_on_attribute_missing_everywhere() -> None:
    p = place([spec(constraints=c("rack:UNIQUE"))], [agent(1), agent(2)])
    assert p.unplaced[0].reason == "no agent has attribute rack"


def test_cluster_with_value() -> None:
    agents = [agent(1, rack="a"), agent(2, rack="b")]
    p = place([spec(constraints=c("rack:CLUSTER:b"))] * 2, agents)
    assert [a.agent_id for a in p.assignments] == ["a2", "a2"]
    p = place([spec(constraints=c("rack:CLUSTER:c"))], agents)
    assert p.unplaced[0].reason == "no agent has attribute rack=c"
    p = place([spec(constraints=c("rack:CLUSTER:b"))], [agent(1), agent(3)])
    assert p.unplaced[0].reason == "no agent has attribute rack=b"


def test_cluster_without_value_follows_the_first_placement() -> None:
    agents = [agent(1, rack="a"), agent(2, rack="b"), agent(3, rack="a")]
    p = place([spec(constraints=c("rack:CLUSTER"))] * 3, agents)
    assert {a.agent_id for a in p.assignments} <= {"a1", "a3"}
    running = [Placed("web", "ax", "hostx", {"rack": "b"})]
    p = place([spec(constraints=c("rack:CLUSTER"))], agents, running)
    assert p.assignments[0].agent_id == "a2"


def test_group_by_spreads_evenly() -> None:
    agents = [agent(1, zone="x"), agent(2, zone="x"), agent(3, zone="y")]
    p = place([spec(cpus=0.5, constraints=c("zone:GROUP_BY"))] * 4, agents)
    zones = [{"a1": "x", "a2": "x", "a3": "y"}[a.agent_id] for a in p.assignments]
    assert sorted(zones) == ["x", "x", "y", "y"]


def test_group_by_with_count_waits_for_missing_values() -> None:
    # Three zones expected, only x and y offered: after one task in each, a zone-z agent
    # would be the emptiest, so no more tasks go to x or y.
    agents = [agent(1, zone="x"), agent(2, zone="y")]
    p = place([spec(cpus=0.5, constraints=c("zone:GROUP_BY:3"))] * 3, agents)
    assert len(p.assignments) == 2
    assert p.unplaced[0].reason == "zone:GROUP_BY:3 leaves 0 of 2 agents"


def test_like_and_unlike() -> None:
    agents = [agent(1, rack="rack-1"), agent(2, rack="rack-2"), agent(3)]
    p = place([spec(constraints=c("rack:LIKE:rack-[2-9]"))], agents)
    assert p.assignments[0].agent_id == "a2"
    # LIKE matches the whole value, not a prefix.
    p = place([spec(constraints=c("rack:LIKE:rack"))], agents)
    assert p.unplaced[0].reason == "rack:LIKE:rack leaves 0 of 3 agents"
    # UNLIKE accepts an agent without the attribute.
    p = place([spec(constraints=c("rack:UNLIKE:rack-.*"))], agents)
    assert p.assignments[0].agent_id == "a3"
    p = place([spec(constraints=c("hostname:UNLIKE:host[0-9]"))], agents)
    assert p.unplaced[0].reason == "hostname:UNLIKE:host[0-9] leaves 0 of 3 agents"


def test_max_per() -> None:
    agents = [agent(1, rack="a"), agent(2, rack="a"), agent(3, rack="b")]
    p = place([spec(cpus=0.5, constraints=c("rack:MAX_PER:2"))] * 5, agents)
    racks = sorted({"a1": "a", "a2": "a", "a3": "b"}[a.agent_id] for a in p.assignments)
    assert racks == ["a", "a", "b", "b"]
    assert p.unplaced[0].reason == "rack:MAX_PER:2 leaves 0 of 3 agents"


def test_is_exact() -> None:
    agents = [agent(1, level="3"), agent(2, level="30")]
    p = place([spec(constraints=c("level:IS:3"))], agents)
    assert p.assignments[0].agent_id == "a1"


def test_constraints_combined_with_resources_reason() -> None:
    agents = [agent(1, "cpus:1;mem:1024", rack="a"), agent(2, "cpus:8;mem:1024", rack="b")]
    p = place([spec(cpus=4, constraints=c("rack:CLUSTER:a"))], agents)
    assert p.unplaced[0].reason == (
        "needs cpus 4, largest free on any of the 1 agent the constraints allow is 1"
    )


def test_spread_prefers_agents_with_fewer_of_the_group() -> None:
    p = place([spec(cpus=0.5)] * 4, [agent(1), agent(2)])
    assert sorted(a.agent_id for a in p.assignments) == ["a1", "a1", "a2", "a2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rack", "expected [field, OPERATOR, value?]"),
        ("rack:NEAR", "unknown operator 'NEAR'"),
        ("rack:LIKE", "needs a value"),
        ("rack:UNIQUE:x", "takes no value"),
        ("rack:MAX_PER:zero", "not a positive whole number"),
        ("rack:LIKE:[", "bad regex"),
    ],
)
def test_bad_constraints_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("?", r"\?")):
        Constraint.parse(text)


def test_constraint_from_list_and_lowercase_operator() -> None:
    assert Constraint.parse(["hostname", "unique"]) == Constraint("hostname", "UNIQUE")
    assert str(Constraint.parse(["rack", "CLUSTER", "a"])) == "rack:CLUSTER:a"


def test_totals_from_master_state_feed_the_reason() -> None:
    state = {
        "slaves": [
            {"id": "a1", "resources": {"cpus": 4.0, "mem": 2048.0, "ports": "[31000-31009]"}},
            {"id": "a2", "resources": "garbage"},
            "nonsense",
        ]
    }
    totals = totals_from_state(state)
    assert totals["a1"] == parse("cpus:4;mem:2048;ports:[31000-31009]")
    assert totals["a2"] == Resources()
    p = place([spec(cpus=8)], [agent(1, "cpus:2;mem:1024")], totals=totals)
    assert p.unplaced[0].reason == "needs cpus 8, largest free on any agent is 2 (agent total 4)"
