"""The pure choice of preemption victims (corral.master.core.preemption)."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.master.core import preemption as p
from corral.master.core.preemption import Candidate, Demand, Room, choose, choose_victims
from corral.resources import Resources, scalars

TOTAL = scalars(cpus=4, mem=4096)


def task(
    tid: str,
    cpus: float,
    mem: float = 0,
    priority: int = 0,
    tier: str = "preemptible",
    role: str = "*",
    fw: str = "f1",
) -> Candidate:
    return Candidate(tid, fw, scalars(cpus=cpus, mem=mem), priority, tier, role)


def room(free: Resources, *tasks: Candidate, agent: str = "a1") -> Room:
    return Room(agent, free, TOTAL, tuple(tasks))


def ids(victims: tuple[Candidate, ...] | None) -> list[str] | None:
    return None if victims is None else sorted(v.task_id for v in victims)


def test_fits_already_needs_no_victims() -> None:
    d = Demand(scalars(cpus=1), priority=10)
    assert choose_victims(d, room(scalars(cpus=1, mem=10), task("t", 1))) == ()


def test_one_victim_rather_than_two() -> None:
    d = Demand(scalars(cpus=2), priority=10)
    r = room(Resources(), task("small1", 1), task("small2", 1), task("big", 2))
    assert ids(choose_victims(d, r)) == ["big"]


def test_least_resources_freed_among_equal_counts() -> None:
    d = Demand(scalars(cpus=1), priority=10)
    r = room(Resources(), task("huge", 3, 1000), task("just", 1, 10), task("more", 2))
    assert ids(choose_victims(d, r)) == ["just"]


def test_lowest_priority_among_equal_sizes() -> None:
    d = Demand(scalars(cpus=1), priority=10)
    r = room(Resources(), task("p5", 1, priority=5), task("p1", 1, priority=1), task("p3", 1, 0, 3))
    assert ids(choose_victims(d, r)) == ["p1"]


def test_free_resources_count() -> None:
    d = Demand(scalars(cpus=2, mem=100), priority=10)
    r = room(scalars(cpus=1, mem=100), task("a", 1, 0), task("b", 2, 100))
    assert ids(choose_victims(d, r)) == ["a"]  # one cpu free, one freed: less than b


def test_never_equal_or_higher_priority() -> None:
    d = Demand(scalars(cpus=1), priority=5)
    assert choose_victims(d, room(Resources(), task("same", 1, priority=5))) is None
    assert choose_victims(d, room(Resources(), task("higher", 1, priority=9))) is None
    assert ids(choose_victims(d, room(Resources(), task("lower", 1, priority=4)))) == ["lower"]


def test_preferred_of_another_role_is_never_a_victim() -> None:
    d = Demand(scalars(cpus=1), priority=10, role="web")
    other = task("other", 1, tier="preferred", role="batch")
    mine = task("mine", 1, tier="preferred", role="web")
    assert choose_victims(d, room(Resources(), other)) is None
    assert ids(choose_victims(d, room(Resources(), other, mine))) == ["mine"]


def test_preemptible_of_any_role_may_be_a_victim() -> None:
    d = Demand(scalars(cpus=1), priority=10, role="web")
    assert ids(choose_victims(d, room(Resources(), task("x", 1, role="batch")))) == ["x"]


def test_a_preemptible_demand_never_evicts_a_preferred_task() -> None:
    d = Demand(scalars(cpus=1), priority=10, tier="preemptible", role="web")
    mine = task("mine", 1, tier="preferred", role="web")
    assert choose_victims(d, room(Resources(), mine)) is None
    assert ids(choose_victims(d, room(Resources(), mine, task("pre", 1, role="web")))) == ["pre"]


def test_not_enough_even_with_every_victim() -> None:
    d = Demand(scalars(cpus=8), priority=10)
    assert choose_victims(d, room(Resources(), task("a", 2), task("b", 2))) is None


def test_tasks_that_free_nothing_short_are_not_taken() -> None:
    d = Demand(scalars(cpus=1, mem=10), priority=10)
    r = room(scalars(mem=100), task("memonly", 0, 1000), task("cpu", 1, 0))
    assert ids(choose_victims(d, r)) == ["cpu"]


def test_reserved_resources_of_the_demands_role_count() -> None:
    reserved = Candidate("r", "f", Resources({("cpus", "web"): 1.0}), 0, "preemptible", "web")
    d = Demand(scalars(cpus=1), priority=10, role="web")
    assert ids(choose_victims(d, room(Resources(), reserved))) == ["r"]
    elsewhere = Demand(scalars(cpus=1), priority=10, role="batch")
    assert choose_victims(elsewhere, room(Resources(), reserved)) is None


def test_choose_prefers_the_agent_with_fewer_victims() -> None:
    d = Demand(scalars(cpus=2), priority=10)
    a1 = room(Resources(), task("a", 1), task("b", 1), agent="a1")
    a2 = room(Resources(), task("c", 2), agent="a2")
    choice = choose(d, [a1, a2])
    assert choice is not None and choice.agent_id == "a2" and ids(choice.victims) == ["c"]


def test_choose_an_agent_where_it_fits_needs_nothing() -> None:
    d = Demand(scalars(cpus=1), priority=10)
    choice = choose(
        d, [room(Resources(), task("a", 1), agent="a1"), room(scalars(cpus=2), agent="a2")]
    )
    assert choice == p.Choice("a2", ())
    assert choose(d, [room(Resources(), agent="a1")]) is None


def test_many_tasks_stay_within_the_budget() -> None:
    # 60 one-cpu tasks, 10 cpus wanted: C(60, 10) subsets is far past the exact budget.
    tasks = [task(f"t{i:02d}", 0.5 if i % 2 else 1, priority=i % 3) for i in range(60)]
    d = Demand(scalars(cpus=10), priority=10)
    r = Room("a1", Resources(), scalars(cpus=64, mem=4096), tuple(tasks))
    victims = choose_victims(d, r)
    assert victims is not None and p.fits(d, r.free, victims)
    assert len(victims) == 10 and all(v.resources.scalar("cpus") == 1 for v in victims)


# ---------------------------------------------------------------- properties
candidates = st.builds(
    Candidate,
    task_id=st.sampled_from([f"t{i}" for i in range(8)]),
    framework_id=st.sampled_from(["f1", "f2"]),
    resources=st.builds(
        lambda c, m: scalars(cpus=c, mem=m),
        st.sampled_from([0.5, 1, 1.5, 2, 3]),
        st.sampled_from([0, 32, 64, 256]),
    ),
    priority=st.integers(-2, 12),
    tier=st.sampled_from(["preferred", "preemptible"]),
    role=st.sampled_from(["*", "web", "batch"]),
)
demands = st.builds(
    Demand,
    resources=st.builds(
        lambda c, m: scalars(cpus=c, mem=m), st.sampled_from([1, 2, 3, 4]), st.sampled_from([0, 64])
    ),
    priority=st.integers(-2, 12),
    tier=st.sampled_from(["preferred", "preemptible"]),
    role=st.sampled_from(["*", "web", "batch"]),
)
frees = st.builds(
    lambda c, m: scalars(cpus=c, mem=m), st.sampled_from([0, 0.5, 1]), st.sampled_from([0, 64])
)


def unique(tasks: list[Candidate]) -> tuple[Candidate, ...]:
    seen: dict[str, Candidate] = {}
    for t in tasks:
        seen.setdefault(t.task_id, t)
    return tuple(seen.values())


@settings(max_examples=300, deadline=None)
@given(demands, frees, st.lists(candidates, max_size=8))
def test_victims_make_it_fit_and_follow_the_rule(
    d: Demand, free: Resources, tasks: list[Candidate]
) -> None:
    r = Room("a1", free, TOTAL, unique(tasks))
    victims = choose_victims(d, r)
    if victims is None:
        # Nothing allowed is enough.
        allowed = [c for c in r.candidates if p.may_preempt(d, c)]
        assert not p.fits(d, free, allowed)
        return
    assert p.fits(d, free, victims)
    for v in victims:
        assert v.priority < d.priority
        assert not (v.tier == "preferred" and v.role != d.role)
        assert not (v.tier == "preferred" and d.tier == "preemptible")


@settings(max_examples=200, deadline=None)
@given(demands, frees, st.lists(candidates, max_size=7))
def test_the_choice_is_the_best_by_brute_force(
    d: Demand, free: Resources, tasks: list[Candidate]
) -> None:
    r = Room("a1", free, TOTAL, unique(tasks))
    victims = choose_victims(d, r)
    allowed = [c for c in r.candidates if p.may_preempt(d, c)]
    best = None
    for k in range(len(allowed) + 1):
        for combo in combinations(allowed, k):
            if p.fits(d, free, combo):
                key = p.order_key(combo, TOTAL)
                best = key if best is None or key < best else best
        if best is not None:
            break
    if best is None:
        assert victims is None
    else:
        assert victims is not None
        # The same count, freed weight and priorities as the brute force's best.
        assert p.order_key(victims, TOTAL)[:3] == best[:3]


def test_a_demand_for_a_fixed_port_preempts_the_task_holding_it() -> None:
    port = Resources(ranges={("ports", "*"): ((8080, 8080),)})
    holder = Candidate("holder", "f1", scalars(cpus=0.5) + port, 0, "preemptible")
    other = Candidate("other", "f1", scalars(cpus=1), 0, "preemptible")
    d = Demand(scalars(cpus=0.5) + port, priority=10)
    r = room(scalars(cpus=0.5), holder, other)
    assert ids(choose_victims(d, r)) == ["holder"]
    assert choose_victims(d, room(scalars(cpus=4), other)) is None  # nobody has the port
