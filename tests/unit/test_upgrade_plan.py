"""The rolling upgrade's order and health decisions (pure)."""

from __future__ import annotations

from dataclasses import replace

from corral.deploy.inventory import parse
from corral.deploy.upgrade_plan import Before, FrameworkSeen, Seen, Step, decide, steps

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
roles = ["agent", "services"]
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
        ("upgrade-framework", "a2"),
    ]
    # each step restarts one service of its host, and knows where that one answers
    last = steps(INV, "10.0.0.2")[-2:]
    assert [(s.role, s.endpoint) for s in last] == [
        ("agent", "10.0.0.5:5051"),
        ("services", "10.0.0.5:8080"),
    ]


def test_no_leader_known_means_no_handover() -> None:
    kinds = [s.kind for s in steps(INV, None)]
    assert "handover" not in kinds and kinds.count("upgrade-standby") == 3


STANDBY = Step("upgrade-standby", "m1", "10.0.0.1", 5050)
HANDOVER = Step("handover", "m2", "10.0.0.2", 5050)
AGENT = Step("upgrade-agent", "a1", "10.0.0.4", 5051, "agent")
SERVICES = Step("upgrade-framework", "a2", "10.0.0.5", 8080, "services")


def test_standby_back_at_new_version_continues_else_waits_then_stops() -> None:
    ok = Seen(leader="10.0.0.2", versions={"10.0.0.1:5050": "2"}, standby=frozenset({"10.0.0.1"}))
    assert decide(STANDBY, "2", Before(), ok, 60)[0] == "continue"
    old = Seen(leader="10.0.0.2", versions={"10.0.0.1:5050": "1"}, standby=frozenset({"10.0.0.1"}))
    assert decide(STANDBY, "2", Before(), old, 60)[0] == "wait"
    late = Seen(leader="10.0.0.2", elapsed=61)
    verdict, why = decide(STANDBY, "2", Before(), late, 60)
    assert verdict == "stop" and why.startswith("m1: upgrade-standby not done after 60 s")


def test_handover_needs_an_upgraded_new_leader() -> None:
    still = Seen(leader="10.0.0.2", versions={"10.0.0.2:5050": "1"})
    assert decide(HANDOVER, "2", Before(), still, 5)[0] == "wait"
    moved = Seen(leader="10.0.0.1", versions={"10.0.0.1:5050": "2"})
    assert decide(HANDOVER, "2", Before(), moved, 5)[0] == "continue"
    stale = Seen(leader="10.0.0.3", versions={"10.0.0.3:5050": "1"})
    verdict, why = decide(HANDOVER, "2", Before(), stale, 5)
    assert verdict == "stop" and "not at 2" in why


def test_agent_same_id_tasks_running_continues() -> None:
    before = Before(agent_id="A1", running_tasks=frozenset({"t1"}))
    ok = Seen(
        leader="10.0.0.1",
        versions={"10.0.0.4:5051": "2"},
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


def test_a_task_that_finished_by_itself_is_no_loss() -> None:
    before = Before(agent_id="A1", running_tasks=frozenset({"t1", "t2"}))
    ended = Seen(
        leader="10.0.0.1",
        versions={"10.0.0.4:5051": "2"},
        agent_ids={"10.0.0.4": "A1"},
        task_states={"t1": "TASK_RUNNING", "t2": "TASK_FINISHED"},
    )
    assert decide(AGENT, "2", before, ended, 60)[0] == "continue"
    killed = Seen(leader="10.0.0.1", task_states={"t1": "TASK_RUNNING", "t2": "TASK_KILLED"})
    verdict, why = decide(AGENT, "2", before, killed, 60)
    assert verdict == "stop" and "t2: TASK_KILLED" in why


OLD_FW = FrameworkSeen("F1", active=True, subscribed=100.0)


def test_framework_back_with_its_id_subscribed_anew_and_tasks_running_continues() -> None:
    before = Before(running_tasks=frozenset({"web.1"}), framework=OLD_FW)
    back = Seen(
        leader="10.0.0.1",
        versions={"10.0.0.5:8080": "2"},
        frameworks={"services": FrameworkSeen("F1", True, 130.0)},
        task_states={"web.1": "TASK_RUNNING"},
    )
    # subscribed again, but still reconciling its tasks: not ready
    assert decide(SERVICES, "2", before, back, 60) == (
        "wait",
        "services at 2, re-registered, not ready yet",
    )
    ready = replace(back, ready=frozenset({"services"}))
    assert decide(SERVICES, "2", before, ready, 60) == (
        "continue",
        "services re-registered as F1 at 2, ready",
    )


def test_framework_not_yet_back_waits_saying_what_is_missing() -> None:
    before = Before(framework=OLD_FW)
    # the old process still answers and the master has not seen it go
    stale = Seen(
        leader="10.0.0.1", versions={"10.0.0.5:8080": "1"}, frameworks={"services": OLD_FW}
    )
    assert decide(SERVICES, "2", before, stale, 60) == (
        "wait",
        "services at 1, active, not re-registered yet",
    )
    # the new process answers, but has not subscribed again yet
    gone = FrameworkSeen("F1", False, 100.0)
    early = Seen(leader="10.0.0.1", versions={"10.0.0.5:8080": "2"}, frameworks={"services": gone})
    assert decide(SERVICES, "2", before, early, 60) == (
        "wait",
        "services at 2, not re-registered yet",
    )
    late = Seen(leader="10.0.0.1", frameworks={}, elapsed=61)
    verdict, why = decide(SERVICES, "2", before, late, 60)
    assert verdict == "stop" and why == (
        "a2: upgrade-framework not done after 60 s (services at no answer, not registered)"
    )


def test_framework_with_another_id_or_a_lost_task_stops_at_once() -> None:
    before = Before(running_tasks=frozenset({"web.1"}), framework=OLD_FW)
    other = Seen(
        leader="10.0.0.1",
        versions={"10.0.0.5:8080": "2"},
        frameworks={"services": FrameworkSeen("F2", True, 130.0)},
        task_states={"web.1": "TASK_RUNNING"},
    )
    verdict, why = decide(SERVICES, "2", before, other, 60)
    assert verdict == "stop" and "came back as F2, not F1" in why
    lost = Seen(
        leader="10.0.0.1",
        frameworks={"services": FrameworkSeen("F1", True, 130.0)},
        task_states={"web.1": "TASK_KILLED"},
    )
    verdict, why = decide(SERVICES, "2", before, lost, 60)
    assert verdict == "stop" and why.startswith("a2: after upgrade-framework, tasks not running")


def test_a_framework_left_alone_at_the_new_version_continues_without_resubscribing() -> None:
    before = Before(framework=OLD_FW, restarted=False)
    there = Seen(
        leader="10.0.0.1",
        versions={"10.0.0.5:8080": "2"},
        frameworks={"services": OLD_FW},
        ready=frozenset({"services"}),
    )
    assert decide(SERVICES, "2", before, there, 60)[0] == "continue"
