"""The services framework against the fake master: N kept, rolling upgrades good and bad,
scaling with killSelection, dependency order, backoff, failover on one store."""

from __future__ import annotations

import msgspec
import pytest

from corral.frameworks.services.appdef import AppDefinition, HealthCheck
from corral.frameworks.services.deployments import plan
from corral.frameworks.services.framework import ServicesFramework
from corral.frameworks.services.replace import Member, replace
from corral.frameworks.services.service import Services
from corral.frameworks.services.views import Locked
from corral.scheduler_client.store import Store
from corral.scheduler_client.testing import FakeMaster, MemoryKV
from corral.scheduler_client.toolkit import FrameworkCore


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


async def started(
    kv: MemoryKV | None = None, agents: int = 2, clock: Clock | None = None
) -> tuple[Services, FakeMaster, Clock]:
    clock = clock or Clock()
    core = FrameworkCore(ServicesFramework(), Store(kv) if kv else None, clock=clock)
    fake = FakeMaster(core, framework_id="fw-1")
    for _ in range(agents):
        fake.add_agent("cpus:8;mem:8192;ports:[31000-31099]")
    svc = Services(core=core, sink=fake, clock=clock)
    await svc.load()
    await fake.subscribe()
    await svc.tick()
    return svc, fake, clock


async def settle(svc: Services, fake: FakeMaster, start: bool = True) -> None:
    for _ in range(4):
        await fake.offer()
        await svc.flush()
        if start:
            await fake.start_all()
        await svc.tick()


def web(n: int = 3, **kw: object) -> AppDefinition:
    return AppDefinition(id="/web", cmd="sleep 1000", cpus=0.1, mem=32, instances=n, **kw)  # type: ignore[arg-type]


def test_replace_rule_defaults_start_all_new_next_to_old() -> None:
    old = [Member(f"o{i}", True, i) for i in range(3)]
    d = replace(3, 1.0, 1.0, old, [])
    assert d.launch == 3 and d.kill == ()
    d = replace(3, 1.0, 0.0, old, [])  # one at a time
    assert d.launch == 1 and d.kill == ()
    d = replace(3, 1.0, 0.0, old, [Member("n", True, 9)])
    assert len(d.kill) == 1 and d.launch == 1  # one new counts: one old goes, one more
    d = replace(4, 0.5, 0.0, [Member(f"o{i}", True, i) for i in range(4)], [])
    assert len(d.kill) == 2 and d.launch == 2


def test_steps_follow_dependencies() -> None:
    db = AppDefinition(id="/db", cmd="x")
    api = AppDefinition(id="/api", cmd="x", dependencies=["/db"])
    dep = plan(
        "d",
        "v",
        {"/db": None, "/api": None},
        {"/db": db, "/api": api},
        {"/db": db, "/api": api},
        0.0,
    )
    assert dep.steps == [[("StartApplication", "/db")], [("StartApplication", "/api")]]
    stop = plan("d", "v", {"/db": db, "/api": api}, {"/db": None, "/api": None}, {}, 0.0)
    assert stop.steps == [[("StopApplication", "/api")], [("StopApplication", "/db")]]


async def test_keeps_n_across_failures_with_backoff() -> None:
    svc, fake, clock = await started()
    await svc.put_apps([web(3)])
    await settle(svc, fake)
    view = svc.app("/web")
    assert view is not None and view.running == 3 and svc.deployments() == []
    victim = fake.running()[0]
    await fake.set_state(victim, "TASK_FAILED")
    await svc.tick()
    await fake.offer()
    assert len(fake.running()) == 2  # backoff: not at once
    assert any("backoff" in r for r in svc.why("/web"))
    assert svc.queue()[0].delay_left > 0
    clock.t += 2
    await settle(svc, fake)
    assert len(fake.running()) == 3 and victim not in fake.running()


async def test_rolling_upgrade_good_then_bad_is_stuck_with_reason_and_rolls_back() -> None:
    svc, fake, _clock = await started()
    hc = [HealthCheck(protocol="COMMAND", command=None)]
    await svc.put_apps([web(3)])
    await settle(svc, fake)
    old = set(fake.running())
    # a good upgrade: new ones started next to the old ones, then the old killed
    await svc.put_apps([web(3, env={"V": "2"})])
    await settle(svc, fake)
    assert len(fake.running()) == 3 and not (set(fake.running()) & old)
    assert svc.deployments() == []
    # a bad one: health checks that never pass
    serving = set(fake.running())
    res = await svc.put_apps([web(3, env={"V": "3"}, health_checks=hc)])
    for _ in range(3):
        await fake.offer()
        await svc.flush()
        for tid in set(fake.running()) - serving:
            if fake.tasks[tid].state == "TASK_STAGING":
                await fake.set_state(tid, "TASK_RUNNING", healthy=False)
        await svc.tick()
    assert serving <= set(fake.running())  # the old ones keep serving
    (dep,) = svc.deployments()
    assert dep.id == res.deployment_id and dep.waiting and "unhealthy" in dep.waiting
    with pytest.raises(Locked):
        await svc.put_apps([web(2)])
    await svc.cancel_deployment(dep.id)  # rollback
    await settle(svc, fake)
    assert set(fake.running()) == serving and svc.deployments() == []
    view = svc.app("/web")
    assert view is not None and view.definition.env == {"V": "2"}


async def test_scale_down_kills_by_kill_selection_and_delete_stops_all() -> None:
    svc, fake, clock = await started()
    for n in (1, 2, 3):  # one at a time, so their ages differ
        clock.t += 1
        await svc.put_apps([web(n, kill_selection="OLDEST_FIRST")])
        await settle(svc, fake)
    oldest = min(svc.instances("/web"), key=lambda i: i.staged_at or "").task_id
    assert [i.version for i in svc.instances("/web")].count(svc.versions("/web")[-1]) == 3
    app = svc.app("/web")
    assert app is not None
    await svc.put_apps([msgspec.structs.replace(app.definition, instances=2)])
    await settle(svc, fake)
    assert len(fake.running()) == 2 and oldest not in fake.running()
    await svc.delete_apps(["/web"])
    await settle(svc, fake)
    assert fake.running() == [] and svc.app("/web") is None and svc.deployments() == []


async def test_failover_on_one_store_loses_and_duplicates_nothing() -> None:
    kv = MemoryKV()
    svc, fake, clock = await started(kv)
    await svc.put_apps([web(3)])
    await settle(svc, fake)
    running = fake.running()
    core = FrameworkCore(ServicesFramework(), Store(kv), clock=clock)
    await core.load()
    second = FakeMaster(core, framework_id="fw-1")
    second.agents, second.tasks = fake.agents, fake.tasks
    svc2 = Services(core=core, sink=second, clock=clock)
    await svc2.load()
    await second.subscribe()
    await svc2.tick()
    await settle(svc2, second)
    assert second.calls_of("ACCEPT") == [] and second.running() == running
    view = svc2.app("/web")
    assert view is not None and view.running == 3 and len(svc2.versions("/web")) == 1


async def test_an_app_that_never_fits_says_so() -> None:
    svc, fake, _clock = await started()
    svc.st.totals = {"agent-1": {"cpus": 8.0}, "agent-2": {"cpus": 8.0}}
    await svc.put_apps([AppDefinition(id="/big", cmd="x", cpus=64)])
    await settle(svc, fake)
    assert fake.running() == []
    assert any("can never be placed: needs cpus 64" in r for r in svc.why("/big"))


async def test_an_instance_killed_by_its_health_check_is_replaced_and_events_flow() -> None:
    svc, fake, clock = await started()
    events = svc.subscribe()
    await svc.put_apps([web(2)])
    await settle(svc, fake)
    victim = fake.running()[0]
    await fake.set_state(victim, "TASK_RUNNING", healthy=False)
    await fake.set_state(victim, "TASK_KILLED", healthy=False)  # the agent's kill
    await svc.tick()
    clock.t += 5
    await settle(svc, fake)
    assert len(fake.running()) == 2 and victim not in fake.running()
    view = svc.app("/web")
    assert view is not None and view.last_task_failure is not None
    types = set()
    while not events._items.empty():
        item = await events.get()
        assert item is not None
        types.add(item[0])
    assert {
        "deployment_info",
        "deployment_success",
        "status_update_event",
        "instance_changed_event",
        "health_status_changed_event",
    } <= types


async def test_lost_agent_instance_replaced_after_inactive_seconds() -> None:
    from corral.frameworks.services.appdef import UnreachableStrategy

    svc, fake, clock = await started()
    strategy = UnreachableStrategy(inactive_after_seconds=10, expunge_after_seconds=20)
    await svc.put_apps([web(1, unreachable_strategy=strategy)])
    await settle(svc, fake)
    (tid,) = fake.running()
    fake.tasks[tid].state = "TASK_LOST"
    await fake._deliver(
        fake._update(tid, "TASK_LOST", fake.tasks[tid].agent_id, reason="REASON_AGENT_REMOVED")
    )
    await settle(svc, fake)
    assert fake.running() == []  # not replaced yet: it may come back
    assert any("unreachable" in r for r in svc.why("/web"))
    clock.t += 11
    await settle(svc, fake)
    assert len(fake.running()) == 1
    clock.t += 10
    await svc.tick()
    assert [i.task_id for i in svc.instances("/web")] == fake.running()


async def test_force_cancelled_delete_still_removes_the_app_and_scale_kill() -> None:
    svc, fake, _clock = await started()
    await svc.put_apps([web(3)])
    await settle(svc, fake)
    victim = fake.running()[0]
    res = await svc.kill([victim], scale=True)
    await settle(svc, fake)
    view = svc.app("/web")
    assert not isinstance(res, list) and view is not None
    assert view.definition.instances == 2 and victim not in fake.running()
    assert len(fake.running()) == 2
    dep = await svc.delete_apps(["/web"])
    assert await svc.cancel_deployment(dep.deployment_id, force=True) is None
    await settle(svc, fake)
    assert svc.app("/web") is None and fake.running() == [] and "/web" not in svc.st.apps


async def test_service_ports_are_assigned_once_and_kept_by_new_versions() -> None:
    from corral.frameworks.services.appdef import PortDefinition
    from corral.frameworks.services.serviceports import service_ports

    svc, fake, _ = await started()
    two = [PortDefinition(port=0), PortDefinition(port=0, name="admin")]
    await svc.put_apps([web(1, port_definitions=two)])
    await svc.put_apps([AppDefinition(id="/api", cmd="x", port_definitions=[PortDefinition()])])
    web_ports = service_ports(svc.app("/web").definition)  # type: ignore[union-attr]
    api_ports = service_ports(svc.app("/api").definition)  # type: ignore[union-attr]
    assert len(set(web_ports + api_ports)) == 3 and all(10000 <= p < 20000 for p in web_ports)
    await settle(svc, fake)
    # A new version written with port 0 again (as users do) keeps the assigned ports.
    await svc.put_apps([web(1, port_definitions=two, env={"A": "b"})], force=True)
    assert service_ports(svc.app("/web").definition) == web_ports  # type: ignore[union-attr]


async def test_instances_move_off_a_draining_agent_before_its_inverse_offer_is_accepted() -> None:
    from corral.wire import scheduler as s
    from corral.wire.base import ID
    from corral.wire.common import TimeInfo

    svc, fake, _ = await started()
    await svc.put_apps([web(2)])
    await settle(svc, fake)
    before = fake.running()
    assert len(before) == 2
    agent = fake.tasks[before[0]].agent_id
    other = next(a for a in fake.agents if a != agent)
    on_it = [t for t in before if fake.tasks[t].agent_id == agent]
    inverse = s.InverseOffer(
        id=ID("inv-1"),
        framework_id=ID("fw-1"),
        agent_id=ID(agent),
        unavailability=s.Unavailability(start=TimeInfo(nanoseconds=0)),
    )
    assert svc.core is not None
    await svc.core.inverse_offers(fake, [inverse])
    await svc.flush()
    assert fake.killed == []  # nothing killed before its replacement runs
    assert any("moving off a draining agent" in r for r in svc.why("/web"))
    for _ in range(4):  # the draining agent is deactivated: only the other one offers
        await fake.offer(other)
        await svc.flush()
        await fake.start_all()
        await svc.tick()
    assert sorted(fake.killed) == sorted(on_it)  # killed once replaced
    await svc.core.tick(fake)  # the toolkit's tick answers the inverse offer
    running = fake.running()
    assert len(running) == 2 and all(fake.tasks[t].agent_id == other for t in running)
    accepted = fake.calls_of("ACCEPT_INVERSE_OFFERS")
    assert len(accepted) == 1 and accepted[0].accept_inverse_offers is not None
    assert accepted[0].accept_inverse_offers.inverse_offer_ids == [ID("inv-1")]
    await svc.core.tick(fake)
    assert len(fake.calls_of("ACCEPT_INVERSE_OFFERS")) == 1  # once
