"""The ci framework's provisioning rules, with a controllable clock and no event loop."""

from __future__ import annotations

from corral.frameworks.ci import provisioning as p
from corral.frameworks.ci.templates import CiConfig, Template


def config(**over: object) -> CiConfig:
    base: dict[str, object] = {
        "name": "linux",
        "command": "agent",
        "labels": ("linux",),
        "max": 3,
        "provision_delay": 60.0,
        "idle_termination": 100.0,
    }
    base.update(over)
    return CiConfig(templates=(Template(**base),))  # type: ignore[arg-type]


class World:
    """A state, a clock, and helpers that play the shell's part."""

    def __init__(self, cfg: CiConfig) -> None:
        self.state = p.CiState(cfg)
        self.now = 1000.0
        self.decisions: list[p.Decision] = []

    def feed(self, event: p.Event, at: float | None = None) -> list[p.Decision]:
        if at is not None:
            self.now = at
        out = p.handle(self.state, event, self.now)
        self.decisions += out
        return out

    def advance(self, seconds: float) -> list[p.Decision]:
        return self.feed(p.Tick(), self.now + seconds)

    def kinds(self, out: list[p.Decision]) -> list[str]:
        return [d.kind for d in out]

    def launch_all(self) -> list[str]:
        names = []
        for a in self.state.pending():
            self.feed(p.Launched(a.name, f"{a.name}.t", "agent-1", "host"))
            self.feed(p.Running(a.name))
            names.append(a.name)
        return names

    def demand(self, n: int, labels: tuple[str, ...] = ("linux",)) -> list[p.Decision]:
        return self.feed(p.SetDemand(frozenset(labels), n))


def test_no_agent_before_provision_delay() -> None:
    w = World(config())
    out = w.demand(1)
    assert w.kinds(out) == ["wait"] and "provision-delay" in out[0].reason
    assert "due in 60 s" in out[0].reason
    assert w.advance(59) == []  # the wait was said once; nothing new yet
    assert not w.state.agents
    out = w.advance(1)
    assert w.kinds(out) == ["create"]
    assert "waited 60 s unserved (provision-delay 60 s)" in out[0].reason
    assert [a.state for a in w.state.agents.values()] == ["pending"]


def test_demand_served_within_the_delay_makes_no_agent() -> None:
    w = World(config())
    w.demand(2)
    w.advance(30)
    w.demand(0)  # the builds found an executor elsewhere, or were cancelled
    assert w.advance(60) == [] and not w.state.agents


def test_one_agent_per_starving_build_up_to_the_maximum() -> None:
    w = World(config(max=3))
    w.demand(5)
    out = w.advance(60)
    assert w.kinds(out).count("create") == 3
    waits = [d for d in out if d.kind == "wait"]
    assert (
        len(waits) == 1 and "at its maximum" in waits[0].reason and "linux (3)" in waits[0].reason
    )
    assert len(w.state.agents) == 3
    assert w.advance(600) == []  # still at the maximum: nothing more, nothing repeated


def test_agents_with_several_executors_take_several_builds() -> None:
    w = World(config(executors=2, max=10))
    w.demand(5)
    out = w.advance(60)
    assert w.kinds(out).count("create") == 3  # 2 + 2 + 1


def test_existing_capacity_serves_first_and_later_builds_wait_their_own_delay() -> None:
    w = World(config(max=10))
    w.demand(1)
    w.advance(60)
    (_first,) = w.launch_all()
    w.demand(2)  # one more build at t=60: the idle agent takes the first
    assert not [d for d in w.advance(59) if d.kind == "create"]
    out = w.advance(1)
    assert w.kinds(out) == ["create"]  # only the new build starves, and only after its delay


def test_idle_agents_are_removed_after_idle_termination_and_busy_ones_never() -> None:
    w = World(config(max=10))
    w.demand(2)
    w.advance(60)
    a, b = w.launch_all()
    w.feed(p.Report(a, 1))  # a runs a build
    w.demand(0)
    w.feed(p.Report(b, 0))
    assert w.advance(99) == []
    out = w.advance(1)
    assert [(d.kind, d.agent) for d in out] == [("remove", b)]
    assert out[0].task_id == f"{b}.t" and "idle for 100 s (idle-termination 100 s)" in out[0].reason
    assert w.state.agents[b].state == "removing"
    w.feed(p.Ended(b, "TASK_KILLED"))
    assert b not in w.state.agents
    assert w.advance(10_000) == []  # a stays: it is busy
    assert w.state.agents[a].state == "busy"
    w.feed(p.Report(a, 0))
    assert w.advance(99) == []
    assert [(d.kind, d.agent) for d in w.advance(1)] == [("remove", a)]


def test_a_busy_agent_asked_to_go_drains_first() -> None:
    w = World(config(max=10))
    w.demand(1)
    w.advance(60)
    (a,) = w.launch_all()
    w.feed(p.Report(a, 1))
    out = w.feed(p.ReleaseAgent(a, "removed by the operator"))
    assert w.kinds(out) == ["drain"] and w.state.agents[a].state == "draining"
    assert w.advance(1000) == []
    out = w.feed(p.Report(a, 0))
    assert [(d.kind, d.agent) for d in out] == [("remove", a)] and "drained" in out[0].reason


def test_an_idle_agent_that_work_waits_for_is_kept() -> None:
    w = World(config(max=1, idle_termination=10))
    w.demand(1)
    w.advance(60)
    (a,) = w.launch_all()
    out = w.advance(10)  # the build still queues (its CI has not started it yet)
    assert [(d.kind, d.agent) for d in out] == [("keep", a)] and "queued work" in out[0].reason
    assert [(d.kind, d.agent) for d in w.demand(0)] == [("remove", a)]


def test_the_minimum_is_made_at_once_and_kept() -> None:
    w = World(config(min=1, idle_termination=10))
    out = w.feed(p.Tick())
    assert w.kinds(out) == ["create"] and "minimum of 1" in out[0].reason
    (_a,) = w.launch_all()
    out = w.advance(10)
    assert w.kinds(out) == ["keep"] and "at least 1" in out[0].reason
    assert w.advance(10) == []
    assert w.state.needs_master()


def test_named_agents_for_buildbot() -> None:
    w = World(config(provision_delay=0, max=2))
    env = {"WORKERNAME": "w1", "WORKERPASS": "pw"}
    out = w.feed(p.RequestAgent("w1", "linux", env))
    assert [(d.kind, d.agent) for d in out] == [("create", "w1")]
    assert w.state.agents["w1"].env == env and w.state.agents["w1"].named
    w.feed(p.RequestAgent("w1", "linux", env))  # a retry changes nothing
    assert len(w.state.agents) == 1
    w.feed(p.RequestAgent("w2", "linux"))
    out = w.feed(p.RequestAgent("w3", "linux"))
    assert w.kinds(out) == ["wait"] and "maximum of 2" in out[0].reason
    w.launch_all()
    w.feed(p.Report("w1", 1))
    assert w.kinds(w.feed(p.ReleaseAgent("w1"))) == ["drain"]
    out = w.feed(p.ReleaseAgent("w2"))
    assert [(d.kind, d.agent) for d in out] == [("remove", "w2")]
    out = w.feed(p.Ended("w2", "TASK_KILLED"))
    # w2's slot is free again (w1 still drains): w3 gets its agent.
    assert [(d.kind, d.agent) for d in out] == [("create", "w3")]
    # Named agents take no anonymous demand.
    w.demand(1)
    assert not [d for d in w.advance(60) if d.kind == "create"]


def test_named_requests_wait_for_the_delay_and_can_be_released_before() -> None:
    w = World(config(provision_delay=30))
    w.feed(p.RequestAgent("w1", "linux"))
    assert w.advance(29) == []
    out = w.feed(p.ReleaseAgent("w1"))
    assert w.kinds(out) == ["remove"] and "before it was made" in out[0].reason
    assert not w.state.needs_master()


def test_bad_events_are_refused_and_change_nothing() -> None:
    w = World(config())
    for event, status in [
        (p.RequestAgent("w", "nope"), 422),
        (p.Report("ghost", 1), 404),
        (p.ReleaseAgent("ghost"), 404),
        (p.SetDemand(frozenset(), -1), 422),
    ]:
        try:
            w.feed(event)
        except p.Refused as exc:
            assert exc.status == status
        else:
            raise AssertionError(f"{event} was taken")
    assert not w.state.agents and not w.state.requests and not w.state.demand


def test_labels_no_template_has_and_a_full_cluster_are_said() -> None:
    w = World(config(provision_delay=0))
    out = w.demand(1, ("windows",))
    assert w.kinds(out) == ["wait"] and "no template has them" in out[0].reason
    w.demand(0, ("windows",))
    w.demand(1)
    (a,) = [x.name for x in w.state.pending()]
    out = w.feed(p.Unplaced("linux", "needs cpus 0.1, largest free on any agent is 0"))
    assert w.kinds(out) == ["wait"] and "cluster full" in out[0].reason
    assert "waiting for resources" in w.state.agents[a].note
    assert w.feed(p.Unplaced("linux", "needs cpus 0.1, largest free on any agent is 0")) == []


def test_an_agent_whose_task_dies_is_replaced_for_the_waiting_work() -> None:
    w = World(config(provision_delay=10))
    w.demand(1)
    w.advance(10)
    (a,) = w.launch_all()
    out = w.feed(p.Ended(a, "TASK_FAILED", "Command exited with status 1"))
    # gone, and the build (still waiting since t=0) gets a new agent at once
    assert w.kinds(out) == ["gone", "create"]
    assert "TASK_FAILED" in out[0].reason and w.state.ended[a].startswith("TASK_FAILED")


def test_on_demand_registration_follows_need() -> None:
    w = World(config(provision_delay=0, idle_termination=5))
    assert not w.state.needs_master()
    w.demand(1)
    assert w.state.needs_master()
    (a,) = w.launch_all()
    w.demand(0)
    w.advance(5)
    assert w.state.needs_master()  # still holds the agent being removed
    w.feed(p.Ended(a, "TASK_KILLED"))
    assert not w.state.needs_master()


def test_restore_keeps_agents_and_names_stay_unique() -> None:
    agents = [p.Agent(name="linux-7", template="linux", created_at=1.0, state="idle")]
    state = p.restore(config(provision_delay=0, max=5), agents)
    p.handle(state, p.SetDemand(frozenset({"linux"}), 2), 2.0)
    assert sorted(state.agents) == ["linux-7", "linux-8"]


def test_agents_of_a_template_no_longer_configured_go_busy_ones_drained_first() -> None:
    agents = [
        p.Agent(name="old-1", template="old", created_at=1.0, state="idle", task_id="old-1.t"),
        p.Agent(
            name="old-2", template="old", created_at=1.0, state="busy", busy=1, task_id="old-2.t"
        ),
    ]
    state = p.restore(config(), agents)
    out = p.handle(state, p.Tick(), 2.0)
    assert [(d.kind, d.agent) for d in out] == [("remove", "old-1"), ("drain", "old-2")]
    out = p.handle(state, p.Report("old-2", 0), 3.0)
    assert [(d.kind, d.agent) for d in out] == [("remove", "old-2")]
