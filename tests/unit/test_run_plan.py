"""corral run's planner: offers and updates in, calls out, without a loop or a master."""

from __future__ import annotations

from corral.frameworks import run_plan as rp
from corral.resources import parse
from corral.wire.base import ID
from corral.wire.common import DurationInfo
from corral.wire.scheduler import Offer
from corral.wire.tasks import KillPolicy, TaskStatus


def offer(oid: str, agent: str, res: str) -> Offer:
    return Offer(
        id=ID(oid),
        framework_id=ID("fw"),
        agent_id=ID(agent),
        hostname="h",
        url={"scheme": "http", "address": {"ip": "10.0.0.1", "port": 5051}},
        resources=parse(res).to_wire(),
    )


def status(tid: str, state: str, message: str | None = None) -> TaskStatus:
    return TaskStatus(task_id=ID(tid), state=state, message=message, agent_id=ID("a1"))


def plan(count: int = 1, **kw: object) -> rp.RunPlan:
    return rp.RunPlan.new(rp.RunSpec(command="true", count=count, **kw), "job", now=0.0)  # type: ignore[arg-type]


def test_launches_what_fits_declines_the_rest_and_suppresses_when_all_are_placed() -> None:
    p = plan(count=3, cpus=1, mem=32)
    effects = rp.on_offers(
        p, [offer("o1", "a1", "cpus:2;mem:100"), offer("o2", "a2", "cpus:0.5;mem:100")], 1.0
    )
    launch, decline = effects
    assert isinstance(launch, rp.LaunchTasks) and launch.offer_ids == ["o1"]
    assert [t.task_id.value for t in launch.tasks] == ["job-0", "job-1"]
    assert decline == rp.Decline("o2", rp.DECLINE_WHILE_PENDING)
    assert p.results["job-0"].agent_address == "10.0.0.1:5051"
    effects = rp.on_offers(p, [offer("o3", "a2", "cpus:4;mem:100")], 2.0)
    assert isinstance(effects[0], rp.LaunchTasks) and effects[1:] == [rp.Suppress()]
    assert rp.on_offers(p, [offer("o4", "a2", "cpus:4;mem:100")], 3.0) == [
        rp.Decline("o4", rp.DECLINE_WHEN_DONE)
    ]


def test_tasks_carry_the_spec() -> None:
    policy = KillPolicy(grace_period=DurationInfo(nanoseconds=10**9))
    p = plan(docker_image="busybox", kill_policy=policy, env={"A": "1"})
    (launch, _) = rp.on_offers(p, [offer("o1", "a1", "cpus:1;mem:64")], 0.0)
    assert isinstance(launch, rp.LaunchTasks)
    t = launch.tasks[0]
    assert t.task_id.value == "job" and t.agent_id.value == "a1"
    assert t.kill_policy == policy
    assert t.container is not None and t.container.docker is not None
    assert t.container.docker.image == "busybox"
    assert t.command is not None and t.command.environment is not None


def test_updates_and_exit_codes() -> None:
    p = plan(count=3)
    rp.on_offers(p, [offer("o1", "a1", "cpus:1;mem:128")], 0.0)
    assert rp.on_update(p, status("nope", "TASK_RUNNING")) is None
    rp.on_update(p, status("job-0", "TASK_FINISHED", "Command exited with status 0"))
    rp.on_update(p, status("job-1", "TASK_FAILED", "Command exited with status 7"))
    assert not p.done and p.remaining == 1
    r = rp.on_update(p, status("job-2", "TASK_UNREACHABLE"))
    assert r is not None and r.state == "TASK_LOST" and p.done
    assert rp.on_update(p, status("job-2", "TASK_RUNNING")) is None  # ended stays ended
    assert p.results["job-1"].exit_code == 7
    assert p.exit_code() == 7  # the largest
    q = plan()
    rp.on_update(q, status("job", "TASK_FAILED", "Failed to fetch URI"))
    assert q.exit_code() == rp.EXIT_LAUNCH_FAILED
    f = plan()
    rp.on_update(f, status("job", "TASK_FINISHED", "Command exited with status 0"))
    assert f.exit_code() == 0


def test_detach_waits_until_every_task_runs() -> None:
    p = plan(count=2)
    rp.on_offers(p, [offer("o1", "a1", "cpus:1;mem:128")], 0.0)
    rp.on_update(p, status("job-0", "TASK_RUNNING"))
    assert not p.all_running()
    rp.on_update(p, status("job-1", "TASK_FAILED"))
    assert p.all_running()


def test_says_why_a_task_waits_after_a_few_seconds_and_again_only_when_it_changes() -> None:
    p = plan(cpus=8, mem=64)
    assert rp.on_tick(p, 1.0) == []  # no offers yet, too early anyway
    rp.on_offers(p, [offer("o1", "a1", "cpus:2;mem:1024"), offer("o2", "a2", "cpus:4;mem:32")], 1.0)
    assert rp.on_tick(p, rp.EXPLAIN_AFTER - 0.1) == []
    (w,) = rp.on_tick(p, rp.EXPLAIN_AFTER + 0.1)
    assert w == rp.Waiting(1, "needs cpus 8, largest free on any agent is 4")
    assert rp.on_tick(p, 10.0) == []
    rp.on_offers(p, [offer("o3", "a2", "cpus:1;mem:32")], 11.0)
    (w,) = rp.on_tick(p, 12.0)
    assert w.reason == "needs cpus 8, largest free on any agent is 2"


def test_why_unplaced() -> None:
    spec = rp.RunSpec(command="x", cpus=2, mem=512)
    assert rp.why_unplaced(spec, []).startswith("no agent offers resources to role '*'")
    short = rp.why_unplaced(spec, [offer("o1", "a1", "cpus:1;mem:100")])
    assert short == "needs cpus 2, largest free on any agent is 1"
    apart = rp.why_unplaced(
        spec, [offer("o1", "a1", "cpus:4;mem:100"), offer("o2", "a2", "cpus:1;mem:1000")]
    )
    assert apart == "no single agent has cpus 2, mem 512 free at once"


def test_several_offers_of_one_agent_are_used_together() -> None:
    p = plan(cpus=1, mem=64)
    effects = rp.on_offers(p, [offer("o1", "a1", "cpus:1;mem:32"), offer("o2", "a1", "mem:32")], 0)
    assert isinstance(effects[0], rp.LaunchTasks) and sorted(effects[0].offer_ids) == ["o1", "o2"]
    assert effects[1:] == [rp.Suppress()]


def test_stop_kills_what_was_launched_and_launches_nothing_more() -> None:
    p = plan(count=3, cpus=1)
    rp.on_offers(p, [offer("o1", "a1", "cpus:2;mem:128")], 0.0)
    rp.on_update(p, status("job-0", "TASK_RUNNING"))
    rp.on_update(p, status("job-1", "TASK_FINISHED"))
    effects = rp.on_stop(p)
    assert effects == [rp.Kill("job-0", "a1"), rp.Suppress()]
    assert rp.on_offers(p, [offer("o2", "a1", "cpus:4;mem:128")], 1.0) == [
        rp.Decline("o2", rp.DECLINE_WHEN_DONE)
    ]
    assert rp.on_tick(p, 100.0) == []
