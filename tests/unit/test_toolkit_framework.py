"""A toolkit framework's logic against the fake master: offers in, calls out, no processes."""

from __future__ import annotations

from collections.abc import Sequence

from corral.resources import scalars
from corral.scheduler_client.driver import CallFailed
from corral.scheduler_client.placement import Constraint, TaskSpec
from corral.scheduler_client.planner import Goal, plan
from corral.scheduler_client.store import Store
from corral.scheduler_client.testing import FakeMaster, FakeTask, MemoryKV
from corral.scheduler_client.toolkit import Framework, FrameworkCore
from corral.scheduler_client.tracker import TrackedTask, Unknown
from corral.wire import scheduler as s
from corral.wire.tasks import TaskStatus


class Web(Framework):
    name = "web"

    def __init__(self, count: int, constraints: Sequence[str] = ()) -> None:
        self.count = count
        self.constraints = tuple(Constraint.parse(c) for c in constraints)
        self.updates: list[tuple[str, str]] = []
        self.unplaced: list[str] = []

    def desired(self) -> list[Goal]:
        spec = TaskSpec(
            "web", scalars(cpus=1, mem=128), group="web", ports=1, constraints=self.constraints
        )
        return [Goal(spec, self.count, command="serve --port $PORT0", kill_grace_period=3)]

    def on_update(self, task: TrackedTask, status: TaskStatus) -> None:
        self.updates.append((task.task_id, status.state))

    def on_unplaced(self, group: str, reason: str) -> None:
        self.unplaced.append(reason)


async def ready(fake: FakeMaster) -> None:
    await fake.subscribe()
    assert fake.core.tracker.ready


async def test_launches_the_desired_tasks_with_ports_in_the_environment() -> None:
    fw = Web(3)
    fake = FakeMaster(FrameworkCore(fw, None))
    fake.add_agent()
    fake.add_agent()
    await ready(fake)
    await fake.offer()
    infos = fake.launched()
    assert len(infos) == 3
    assert sorted({i.agent_id.value for i in infos if i.agent_id}) == ["agent-1", "agent-2"]
    env = {v.name: v.value for v in infos[0].command.environment.variables}  # type: ignore[union-attr]
    assert env["PORT0"] == env["PORT"] and env["HOST"].startswith("host")
    assert infos[0].command.value == "serve --port $PORT0"  # type: ignore[union-attr]
    # Nothing more to do: the next offers are declined.
    await fake.start_all()
    offers = await fake.offer()
    assert len(fake.launched()) == 3
    assert {o.id.value for o in offers} <= set(fake.declined)
    assert ("web." in fake.running()[0]) and len(fw.updates) == 3


async def test_offers_before_reconciliation_are_declined() -> None:
    fake = FakeMaster(FrameworkCore(Web(2), None))
    fake.add_agent()
    offers = await fake.offer()  # not subscribed yet
    assert fake.launched() == []
    assert [o.id.value for o in offers] == fake.declined


async def test_a_failed_task_is_replaced_once() -> None:
    fake = FakeMaster(FrameworkCore(Web(2), None))
    fake.add_agent()
    await ready(fake)
    await fake.offer()
    await fake.start_all()
    victim = fake.running()[0]
    await fake.set_state(victim, "TASK_FAILED")
    assert fake.calls_of("REVIVE")
    await fake.offer()
    assert len(fake.running()) == 2 and victim not in fake.running()
    assert len(fake.launched()) == 3


async def test_scaling_down_kills_the_youngest_with_the_grace_period() -> None:
    fw = Web(3)
    core = FrameworkCore(fw, None, clock=iter(range(100)).__next__)  # type: ignore[arg-type]
    fake = FakeMaster(core)
    fake.add_agent()
    await ready(fake)
    await fake.offer()
    await fake.start_all()
    youngest = max(core.tracker.live(), key=lambda t: t.launched_at).task_id
    fw.count = 2
    await core.tick(fake)
    kills = fake.calls_of("KILL")
    assert [k.kill.task_id.value for k in kills] == [youngest]  # type: ignore[union-attr]
    assert kills[0].kill.kill_policy.grace_period.nanoseconds == 3 * 10**9  # type: ignore[union-attr]
    assert len(fake.running()) == 2


async def test_failover_reconciles_and_launches_nothing_twice() -> None:
    kv = MemoryKV()
    first = FakeMaster(FrameworkCore(Web(3), Store(kv)), framework_id="fw-7")
    first.add_agent()
    await ready(first)
    await first.offer()
    await first.start_all()
    assert (await Store(kv).framework_id()) == "fw-7"

    # A new instance on the same store, talking to the same master.
    core = FrameworkCore(Web(3), Store(kv))
    assert await core.load() == "fw-7"
    second = FakeMaster(core, framework_id="fw-7")
    second.agents, second.tasks = first.agents, first.tasks
    await second.subscribe()
    explicit = second.calls_of("RECONCILE")[0]
    assert sorted(t.task_id.value for t in explicit.reconcile.tasks) == first.running()  # type: ignore[union-attr]
    assert core.tracker.ready
    await second.offer()
    assert second.calls_of("ACCEPT") == []
    assert len(second.running()) == 3


async def test_persisted_but_never_launched_is_launched_again() -> None:
    kv = MemoryKV()
    first = FakeMaster(FrameworkCore(Web(1), Store(kv)))
    first.add_agent()
    await ready(first)
    await first.offer()
    lost = first.running()[0]
    core = FrameworkCore(Web(1), Store(kv))
    await core.load()
    second = FakeMaster(core)  # a master that never got the ACCEPT
    second.add_agent()
    await second.subscribe()
    assert lost not in core.tracker.tasks and await Store(kv).get("task/" + lost) is None
    await second.offer()
    assert len(second.launched()) == 1 and second.running()[0] != lost


async def test_unknown_running_task_killed_or_adopted_by_the_rule() -> None:
    old = FakeMaster(FrameworkCore(Web(1), None))
    old.add_agent()
    await ready(old)
    await old.offer()
    await old.start_all()
    stray = old.running()[0]
    for rule, killed in ((Unknown.KILL, [stray]), (Unknown.ADOPT, [])):
        fw = Web(1)
        fw.unknown_tasks = rule
        fake = FakeMaster(FrameworkCore(fw, None))
        fake.agents = old.agents
        fake.tasks = {k: FakeTask(t.info, t.agent_id, t.state) for k, t in old.tasks.items()}
        await fake.subscribe()
        assert fake.killed == killed
        await fake.offer()
        # Adopted: it counts, so no new task. Killed: a new one replaces it.
        assert len(fake.launched()) == (2 if killed else 1)


async def test_unplaceable_goal_says_why() -> None:
    fw = Web(3, constraints=["hostname:UNIQUE"])
    fake = FakeMaster(FrameworkCore(fw, None))
    fake.add_agent()
    fake.add_agent()
    await ready(fake)
    await fake.offer()
    assert len(fake.launched()) == 2
    assert fw.unplaced == ["hostname:UNIQUE leaves 0 of 2 agents"]


def test_planner_kills_groups_no_longer_wanted() -> None:
    stale = TrackedTask(task_id="old.1", group="old", state="TASK_RUNNING")
    p = plan([], [stale], [])
    assert p.kills == [stale] and p.launches == [] and p.decline == []


async def test_a_framework_role_uses_its_reservations_first() -> None:
    fw = Web(1)
    fw.role = "web"
    fake = FakeMaster(FrameworkCore(fw, None))
    fake.add_agent("cpus:4;cpus(web):1;mem(web):512;ports:[31000-31009]")
    await ready(fake)
    await fake.offer()
    (info,) = fake.launched()
    roles = {
        (r.name, r.role, r.allocation_info.role if r.allocation_info else None)
        for r in info.resources
    }
    assert ("cpus", "web", "web") in roles and ("mem", "web", "web") in roles
    assert ("ports", None, "web") in roles


class LosesAccepts(FakeMaster):
    """A master whose ACCEPT calls fail on the way (the tasks never reach it)."""

    failing = True

    async def call(self, call: s.Call) -> None:
        if call.type == "ACCEPT" and self.failing:
            self.calls.append(call)
            raise CallFailed(503, "connection reset")
        await super().call(call)


async def test_a_lost_accept_is_reconciled_and_launched_again() -> None:
    fake = LosesAccepts(FrameworkCore(Web(1), None))
    fake.add_agent()
    await ready(fake)
    await fake.offer()
    assert fake.launched() == [] and fake.core.tracker.tasks == {}  # answered TASK_LOST
    fake.failing = False
    await fake.offer()
    assert len(fake.launched()) == 1


async def test_many_tasks_ending_at_once_revive_once_then_once_more_on_the_tick() -> None:
    now = [1000.0]
    fake = FakeMaster(FrameworkCore(Web(3), None, clock=lambda: now[0]))
    fake.add_agent()
    await ready(fake)
    await fake.offer()
    await fake.start_all()
    for victim in fake.running():
        await fake.set_state(victim, "TASK_FAILED")
    assert len(fake.calls_of("REVIVE")) == 1  # not one per ended task
    await fake.core.tick(fake)
    assert len(fake.calls_of("REVIVE")) == 1  # too soon
    now[0] += 1.0
    await fake.core.tick(fake)
    assert len(fake.calls_of("REVIVE")) == 2  # the ones that waited
    await fake.core.tick(fake)
    assert len(fake.calls_of("REVIVE")) == 2  # nothing waits any more
    await fake.offer()
    await fake.start_all()
    assert len(fake.running()) == 3
