"""The batch framework's shell against the fake master: elements become tasks with their
index and labels, the %P limit holds, an end is in the store once its update is handled,
and a new leader reads the queue before acting (nothing killed, nothing run twice)."""

from __future__ import annotations

from corral.frameworks.batch.framework import JOB_PREFIX, BatchShell
from corral.frameworks.batch.model import JobRequest, decode_job, validate
from corral.scheduler_client.store import Store
from corral.scheduler_client.testing import FakeMaster, MemoryKV
from corral.scheduler_client.toolkit import FrameworkCore
from corral.wire.tasks import TaskInfo


async def leader(store: Store) -> tuple[BatchShell, FakeMaster]:
    shell = BatchShell()
    core = FrameworkCore(shell.framework, store)
    shell.attach(lambda: core)
    await core.load()
    await shell.framework.on_leading(store, core.tracker)  # what Runner does
    return shell, FakeMaster(core)


def env(info: TaskInfo) -> dict[str, str]:
    assert info.command is not None and info.command.environment is not None
    return {v.name: v.value or "" for v in info.command.environment.variables}


def labels(info: TaskInfo) -> dict[str, str]:
    assert info.labels is not None
    return {lb.key: lb.value or "" for lb in info.labels.labels}


async def test_elements_run_within_the_limit_and_ends_are_stored() -> None:
    store = Store(MemoryKV())
    shell, fake = await leader(store)
    fake.add_agent("cpus:4;mem:4096")
    await fake.subscribe()
    req = JobRequest(command="echo $CORRAL_ARRAY_INDEX", array="1-5%2", cpus=0.5, mem=32)
    job = await shell.submit(req, validate(req))
    await fake.offer()
    infos = fake.launched()
    assert sorted(env(i)["CORRAL_ARRAY_INDEX"] for i in infos) == ["1", "2"]  # %2
    assert {env(i)["CORRAL_JOB_ID"] for i in infos} == {job.id}
    assert labels(infos[0]) == {"corral.tier": "preemptible", "corral.priority": "0"}
    await fake.start_all()
    first = next(i.task_id.value for i in infos if env(i)["CORRAL_ARRAY_INDEX"] == "1")
    await fake.set_state(first, "TASK_FINISHED")
    data = await store.get(JOB_PREFIX + job.id)  # written by the time the update is handled
    assert data is not None and decode_job(data).elements[0].state == "DONE"
    await fake.offer()
    now = [env(i)["CORRAL_ARRAY_INDEX"] for i in fake.launched()]
    assert sorted(now) == ["1", "2", "3"]  # one more, never 1 again


async def test_a_new_leader_reads_the_queue_before_acting() -> None:
    store = Store(MemoryKV())
    shell, fake = await leader(store)
    fake.add_agent("cpus:4;mem:4096")
    await fake.subscribe()
    req = JobRequest(command="true", array="1-3", cpus=0.5, mem=32)
    job = await shell.submit(req, validate(req))
    await fake.offer()
    await fake.start_all()
    done = fake.launched()[0].task_id.value
    await fake.set_state(done, "TASK_FINISHED")
    # Another instance takes over: same store, the master still has the tasks.
    shell2, fake2 = await leader(store)
    fake2.agents, fake2.tasks = fake.agents, fake.tasks
    assert [e.state for e in shell2.state.jobs[job.id].elements] == ["DONE", "RUNNING", "RUNNING"]
    await fake2.subscribe()
    await fake2.core.tick(fake2)
    await fake2.offer()
    assert fake2.killed == []
    assert len(fake2.launched()) == 3  # nothing launched again
    req2 = JobRequest(command="true")
    assert (await shell2.submit(req2, validate(req2))).id == str(int(job.id) + 1)
