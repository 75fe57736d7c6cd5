"""The dask framework's decisions against the fake master (no processes)."""

from __future__ import annotations

from corral.integrations.dask import slots as sl
from corral.integrations.dask.commands import SchedulerOptions, WorkerOptions, parse_constraints
from corral.integrations.dask.framework import SCHEDULER, DaskFramework
from corral.resources import from_wire, scalars
from corral.scheduler_client import FrameworkCore
from corral.scheduler_client.placement import Assignment
from corral.scheduler_client.planner import Launch
from corral.scheduler_client.testing import FakeMaster
from corral.wire.tasks import TaskInfo


def argv(info: TaskInfo) -> list[str]:
    assert info.command is not None
    return list(info.command.arguments)


def flag(info: TaskInfo, name: str) -> str:
    a = argv(info)
    return a[a.index(name) + 1]


async def started(worker: WorkerOptions | None = None) -> tuple[DaskFramework, FakeMaster]:
    fw = DaskFramework(
        "dask",
        "/py",
        SchedulerOptions(cpus=1, mem=512),
        worker or WorkerOptions(cpus=1, mem=512),
        clock=lambda: 100.0,
    )
    fake = FakeMaster(FrameworkCore(fw, store=None))
    fake.add_agent("cpus:4;mem:4096;ports:[31000-31099]")
    await fake.subscribe()
    return fw, fake


async def test_the_scheduler_runs_on_an_offered_port_and_workers_find_it() -> None:
    fw, fake = await started()
    assert fw.failover_timeout == 0.0  # the master ends it all when the client dies
    fw.want_scheduler()
    await fake.offer()
    [sched] = fake.launched()
    assert argv(sched)[2] == "distributed.cli.dask_scheduler"
    assert flag(sched, "--host") == "host1"
    port = flag(sched, "--port")
    assert 31000 <= int(port) <= 31099
    await fake.start_all()
    slot = fw.slots.slots[SCHEDULER]
    assert slot.state == sl.RUNNING
    address = f"tcp://host1:{port}"
    fw.want_worker("corral-0", address)
    fw.want_worker("corral-1", address)
    await fake.offer()
    workers = [i for i in fake.launched() if i.name.startswith("dask corral")]
    assert sorted(flag(i, "--name") for i in workers) == ["corral-0", "corral-1"]
    for info in workers:
        assert argv(info)[3] == address
        assert flag(info, "--nthreads") == "1"
        assert flag(info, "--memory-limit") == str(512 * 2**20)
        assert from_wire(info.resources).scalar("cpus") == 1
        assert flag(info, "--worker-port") != port


async def test_no_worker_before_the_scheduler_has_an_address() -> None:
    fw, fake = await started()
    sl.want(fw.slots, "corral-0", "dask-worker", 0.0)
    await fake.offer()
    assert fake.launched() == []


async def test_releasing_one_worker_kills_exactly_its_task() -> None:
    fw, fake = await started()
    for name in ("corral-0", "corral-1", "corral-2"):
        fw.want_worker(name, "tcp://host1:31000")
    await fake.offer()
    await fake.start_all()
    tasks = {s.name: s.task_id for s in fw.slots.slots.values()}
    tid = sl.release(fw.slots, "corral-1")
    assert tid == tasks["corral-1"]
    await fake.core.tick(fake)  # the kill not sent yet: the planner must not pick another
    assert fake.killed == []
    await fake.core.apply(fake, fake.core.tracker.kill(tid))
    sl.kill_sent(fw.slots, tid)
    await fake.core.tick(fake)
    assert fake.killed == [tid]
    assert sorted(fake.running()) == sorted([tasks["corral-0"], tasks["corral-2"]])
    await fake.offer()  # delivers the TASK_KILLED, and launches nothing more
    assert fw.slots.ending == set()
    assert len(fake.tasks) == 3


async def test_a_failed_worker_comes_back_under_its_name() -> None:
    fw, fake = await started()
    fw.want_worker("corral-0", "tcp://host1:31000")
    await fake.offer()
    [first] = fake.running()
    await fake.set_state(first, "TASK_FAILED")
    assert fw.slots.slots["corral-0"].state == sl.PENDING
    await fake.offer()
    [again] = fake.running()
    assert again != first
    assert flag(fake.tasks[again].info, "--name") == "corral-0"


async def test_a_full_cluster_gives_the_placements_reason() -> None:
    fw, fake = await started(WorkerOptions(cpus=8, mem=512))
    fw.want_worker("corral-0", "tcp://host1:31000")
    await fake.offer()
    assert fake.launched() == []
    reason = fake.core.unplaced["dask-worker"]
    assert reason.startswith("needs cpus 8, largest free on any agent is 4"), reason


async def test_worker_constraints_count_all_workers_together() -> None:
    cons = parse_constraints("worker_constraints", ["hostname:UNIQUE"])
    fw, fake = await started(WorkerOptions(cpus=1, mem=256, constraints=cons))
    fake.add_agent("cpus:4;mem:4096;ports:[31000-31099]")
    for name in ("corral-0", "corral-1", "corral-2"):
        fw.want_worker(name, "tcp://host1:31000")
    await fake.offer()
    hosts = sorted(t.agent_id for t in fake.tasks.values())
    assert hosts == ["agent-1", "agent-2"]  # one per host; the third waits
    assert [s.name for s in sl.pending(fw.slots)] == ["corral-2"]
    assert "hostname:UNIQUE" in fake.core.unplaced["dask-worker"]


async def test_a_launch_for_a_worker_released_meanwhile_is_a_no_op() -> None:
    fw, _ = await started()
    fw.want_worker("corral-0", "tcp://host1:31000")
    [_, goal] = fw.desired()
    assert goal.count == 1
    sl.release(fw.slots, "corral-0")  # between the planner's count and the launch
    a = Assignment(goal.spec, "agent-1", "host1", ("offer-1",), scalars(cpus=1, mem=512), (1, 2))
    info = fw.task_info(Launch(goal, a), "dask-worker.abc")
    assert info.command is not None and info.command.value == "true"
    [_, goal] = fw.desired()
    assert goal.count == 1  # counted until it ends: the planner kills nothing in its place
    sl.update(fw.slots, "dask-worker.abc", "TASK_FINISHED", "", 1.0)
    assert fw.desired()[1].count == 0
