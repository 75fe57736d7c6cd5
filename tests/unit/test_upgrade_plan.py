"""The rolling upgrade's order and health decisions (pure)."""

from __future__ import annotations

from corral.deploy.inventory import parse
from corral.deploy.upgrade_plan import Before, Seen, Step, decide, steps

INV = parse(
    """\
[[hosts]]
name = "m1"
address = "10.0.0.1"
roles = ["zookeeper", "master"]
[[hosts]]
name = "m2"
address = "10.0.0.2"
roles = ["zookeeper", "master"]
[[hosts]]
name = "m3"
address = "10.0.0.3"
roles = ["zookeeper", "master"]
[[hosts]]
name = "a1"
address = "10.0.0.4"
roles = ["agent"]
[[hosts]]
name = "a2"
address = "10.0.0.5"
roles = ["agent"]
"""
)


def test_standbys_first_then_handover_old_leader_agents_one_at_a_time() -> None:
    order = [(s.kind, s.host) for s in steps(INV, "10.0.0.2")]
    assert order == [
        ("upgrade-standby", "m1"),
        ("upgrade-standby", "m3"),
        ("handover", "m2"),
        ("upgrade-old-leader", "m2"),
        ("upgrade-agent", "a1"),
        ("upgrade-agent", "a2"),
    ]


def test_no_leader_known_means_no_handover() -> None:
    kinds = [s.kind for s in steps(INV, None)]
    assert "handover" not in kinds and kinds.count("upgrade-standby") == 3


STANDBY = Step("upgrade-standby", "m1", "10.0.0.1")
HANDOVER = Step("handover", "m2", "10.0.0.2")
AGENT = Step("upgrade-agent", "a1", "10.0.0.4")


def test_standby_back_at_new_version_continues_else_waits_then_stops() -> None:
    ok = Seen(leader="10.0.0.2", versions={"10.0.0.1": "2"}, standby=frozenset({"10.0.0.1"}))
    assert decide(STANDBY, "2", Before(), ok, 60)[0] == "continue"
    old = Seen(leader="10.0.0.2", versions={"10.0.0.1": "1"}, standby=frozenset({"10.0.0.1"}))
    assert decide(STANDBY, "2", Before(), old, 60)[0] == "wait"
    late = Seen(leader="10.0.0.2", elapsed=61)
    verdict, why = decide(STANDBY, "2", Before(), late, 60)
    assert verdict == "stop" and why.startswith("m1: upgrade-standby not done after 60 s")


def test_handover_needs_an_upgraded_new_leader() -> None:
    still = Seen(leader="10.0.0.2", versions={"10.0.0.2": "1"})
    assert decide(HANDOVER, "2", Before(), still, 5)[0] == "wait"
    moved = Seen(leader="10.0.0.1", versions={"10.0.0.1": "2"})
    assert decide(HANDOVER, "2", Before(), moved, 5)[0] == "continue"
    stale = Seen(leader="10.0.0.3", versions={"10.0.0.3": "1"})
    verdict, why = decide(HANDOVER, "2", Before(), stale, 5)
    assert verdict == "stop" and "not at 2" in why


def test_agent_same_id_tasks_running_continues() -> None:
    before = Before(agent_id="A1", running_tasks=frozenset({"t1"}))
    ok = Seen(
        leader="10.0.0.1",
        versions={"10.0.0.4": "2"},
        agent_ids={"10.0.0.4": "A1"},
        task_states={"t1": "TASK_RUNNING"},
    )
    assert decide(AGENT, "2", before, ok, 60)[0] == "continue"
    new_id = Seen(
        leader="10.0.0.1", agent_ids={"10.0.0.4": "B2"}, task_states={"t1": "TASK_RUNNING"}
    )
    verdict, why = decide(AGENT, "2", before, new_id, 60)
    assert verdict == "stop" and "came back as B2, not A1" in why


def test_a_lost_task_stops_at_once() -> None:
    before = Before(agent_id="A1", running_tasks=frozenset({"t1"}))
    lost = Seen(leader="10.0.0.1", task_states={"t1": "TASK_LOST"})
    verdict, why = decide(AGENT, "2", before, lost, 60)
    assert verdict == "stop" and "t1: TASK_LOST" in why and why.startswith("a1:")
