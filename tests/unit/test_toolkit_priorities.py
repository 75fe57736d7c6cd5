"""Priorities and preemption in the toolkit: the task spec's tier and priority, their
labels, the REQUEST a short goal makes, and the kills an inverse offer naming our tasks
causes (they are launched again when capacity returns). Against the fake master."""

from __future__ import annotations

import pytest

from corral.resources import scalars
from corral.scheduler_client.placement import TaskSpec
from corral.scheduler_client.planner import Goal, plan
from corral.scheduler_client.priorities import Asker, missing, spec_priority, with_labels
from corral.scheduler_client.testing import FakeMaster
from corral.scheduler_client.toolkit import Framework, FrameworkCore
from corral.wire.preemption import Request


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Two(Framework):
    """A low-priority preemptible goal and a high-priority preferred one."""

    name = "two"
    preemption_delay = 5.0
    preemption_every = 10.0

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def desired(self) -> list[Goal]:
        lo = TaskSpec("lo", scalars(cpus=1, mem=64), group="lo", tier="preemptible")
        hi = TaskSpec("hi", scalars(cpus=1, mem=64), group="hi", priority=10)
        return [Goal(lo, self.low, command="sleep 600"), Goal(hi, self.high, command="sleep 600")]


def labels(info: object) -> dict[str, str]:
    lbs = getattr(info, "labels", None)
    return {lb.key: lb.value or "" for lb in (lbs.labels if lbs else [])}


def test_bad_tier_or_priority_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"TaskSpec.tier: 'gold' is not a tier"):
        TaskSpec("x", scalars(cpus=1), tier="gold")
    with pytest.raises(ValueError, match=r"TaskSpec.priority: '10' is not a whole number"):
        TaskSpec("x", scalars(cpus=1), priority="10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"labels.corral.priority: 'high' is not a whole"):
        spec_priority({"corral.priority": "high"})
    assert spec_priority({"corral.tier": "preemptible", "corral.priority": " 7"}) == (
        "preemptible",
        7,
    )
    assert spec_priority({}) == ("preferred", 0)


def test_the_planner_places_higher_priorities_first() -> None:
    fw = Two(1, 1)
    agent = FakeMaster(FrameworkCore(fw, None)).add_agent("cpus:1;mem:128")
    from corral.scheduler_client.placement import AgentOffer

    offer = AgentOffer(agent.agent_id, agent.hostname, {}, agent.resources, ("o1",))
    p = plan(fw.desired(), [], [offer])
    assert [la.goal.group for la in p.launches] == ["hi"] and list(p.unplaced) == ["lo"]


async def test_tasks_carry_their_tier_and_priority_as_labels() -> None:
    fake = FakeMaster(FrameworkCore(Two(1, 1), None))
    fake.add_agent("cpus:2;mem:256")
    await fake.subscribe()
    await fake.offer()
    by_name = {i.name: labels(i) for i in fake.launched()}
    assert by_name["hi"] == {"corral.tier": "preferred", "corral.priority": "10"}
    assert by_name["lo"] == {"corral.tier": "preemptible", "corral.priority": "0"}
    # Labels the task already has win; default specs add none.
    info = fake.launched()[0]
    assert with_labels(info, TaskSpec("x", scalars(cpus=1))) is info


async def test_a_short_goal_asks_for_preemption_after_the_delay_and_not_too_often() -> None:
    clock = Clock()
    fake = FakeMaster(FrameworkCore(Two(2, 1), None, clock=clock))
    fake.add_agent("cpus:2;mem:256")
    await fake.subscribe()
    await fake.offer()  # hi first, then one lo; the second lo fits nowhere
    assert sorted(i.name for i in fake.launched()) == ["hi", "lo"]
    await fake.core.tick(fake)
    assert fake.calls_of("REQUEST") == []  # short, but not for long yet
    clock.now += 5.0
    await fake.core.tick(fake)
    (call,) = fake.calls_of("REQUEST")
    assert isinstance(call.request, Request)
    (rr,) = call.request.requests
    assert rr.corral is not None
    assert (rr.corral.key, rr.corral.priority, rr.corral.tier, rr.corral.name) == (
        "lo/0",
        0,
        "preemptible",
        "lo",
    )
    clock.now += 1.0
    await fake.core.tick(fake)
    assert len(fake.calls_of("REQUEST")) == 1  # asked again only every preemption_every
    clock.now += 10.0
    await fake.core.tick(fake)
    assert len(fake.calls_of("REQUEST")) == 2
    await fake.core.ask_preemption(fake, force=True)  # on demand
    assert len(fake.calls_of("REQUEST")) == 3


async def test_an_inverse_offer_naming_our_task_kills_it_and_it_is_launched_again() -> None:
    fake = FakeMaster(FrameworkCore(Two(1, 0), None))
    fake.add_agent("cpus:1;mem:128")
    await fake.subscribe()
    await fake.offer()
    await fake.start_all()
    (victim,) = fake.running()
    io = await fake.preempt(victim, reason="task lo.1 preempted for framework x's task hi")
    assert fake.killed == [victim]
    (accept,) = fake.calls_of("ACCEPT_INVERSE_OFFERS")
    assert accept.accept_inverse_offers is not None
    assert accept.accept_inverse_offers.inverse_offer_ids == [io.id]
    await fake.offer()  # capacity returned: the goal's task is launched again
    assert len(fake.running()) == 1 and fake.running() != [victim]


def test_asker_forgets_a_group_once_it_is_whole() -> None:
    asker = Asker()
    spec = TaskSpec("a", scalars(cpus=1))
    short = missing([Goal(spec, 2)], [])
    assert short["a"][1] == 2
    assert [r.corral.key for r in asker.due(short, 0.0, 0.0, 10.0, "*") if r.corral] == [
        "a/0",
        "a/1",
    ]
    assert asker.due({}, 1.0, 0.0, 10.0, "*") == [] and not asker.since
    assert missing([Goal(TaskSpec("held", scalars()), 3)], []) == {}  # nothing to ask for
