"""The spark framework's shell against the fake master: the Spark master task with three
ports, workers added for a waiting application and pointed at it, an idle one killed, and
the Spark daemons' command lines. No processes, a controllable clock."""

from __future__ import annotations

from pathlib import Path

from corral.frameworks.spark.commands import (
    SparkResources,
    check_spark_home,
    master_command,
    worker_command,
)
from corral.frameworks.spark.framework import MASTER_GROUP, SparkFramework
from corral.frameworks.spark.scaling import REGISTERED, ScaleConfig
from corral.frameworks.spark.view import MasterView, SparkApp, SparkWorker
from corral.resources import from_wire
from corral.scheduler_client.testing import FakeMaster
from corral.scheduler_client.toolkit import FrameworkCore

HOME = Path("/opt/spark")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ports_of(fake: FakeMaster, task_id: str) -> list[int]:
    res = from_wire(fake.tasks[task_id].info.resources)
    return [p for b, e in res.port_ranges() for p in range(b, e + 1)]


async def test_a_waiting_app_gets_a_worker_which_goes_when_idle() -> None:
    clock = Clock()
    fw = SparkFramework(
        HOME,
        SparkResources(worker_cpus=1, worker_mem=1024),
        ScaleConfig(max_workers=2, idle_timeout=10, worker_memory=640),
        clock=clock,
    )
    core = FrameworkCore(fw, store=None, clock=clock)
    fw.tracker = lambda: core.tracker
    woken: list[bool] = []
    fw.wake = lambda: woken.append(True)
    fake = FakeMaster(core)
    fake.add_agent("cpus:4;mem:4096;ports:[31000-31099]")
    await fake.subscribe()
    await fake.offer()
    (master,) = fake.launched()
    assert master.task_id.value.startswith(MASTER_GROUP + ".")
    assert len(ports_of(fake, master.task_id.value)) == 3
    assert fw.master_url() is None  # not running yet
    await fake.start_all()
    p0, p1, _ = sorted(ports_of(fake, master.task_id.value))
    url = f"spark://host1:{p0}"
    assert fw.master_url() == url and fw.master_ui() == f"http://host1:{p1}"

    app = SparkApp(id="app-1", name="wc", state="WAITING", memoryperexecutor=512)
    fw.apply(MasterView(url=url, status="ALIVE", activeapps=[app]), clock())
    assert list(fw.workers) == ["spark-worker-1"] and woken
    await fake.offer()
    worker = next(i for i in fake.launched() if i.name == "spark-worker-1")
    assert worker.command is not None and url in worker.command.value
    assert "--cores 1 --memory 640m" in worker.command.value
    await fake.start_all()
    wport = min(ports_of(fake, worker.task_id.value))
    alive = SparkWorker(host="host1", port=wport, state="ALIVE", cores=1, coresused=1)
    running = SparkApp(id="app-1", name="wc", state="RUNNING", cores=1)
    fw.apply(MasterView(url=url, status="ALIVE", activeapps=[running], workers=[alive]), clock())
    assert fw.workers["spark-worker-1"].state == REGISTERED
    assert fw.status()["workers"][0]["note"] == "1 of 1 cores in use"  # type: ignore[index]

    idle = SparkWorker(host="host1", port=wport, state="ALIVE", cores=1, coresused=0)
    done = MasterView(url=url, status="ALIVE", workers=[idle])
    fw.apply(done, clock())
    clock.now += 10
    fw.apply(done, clock())
    assert fw.workers["spark-worker-1"].state == "removing"
    await core.tick(fake)
    assert fake.killed == [worker.task_id.value]
    await fake.offer()  # delivers the TASK_KILLED
    assert fw.workers == {}
    kinds = [d.kind for d in fw.log]
    assert kinds == ["add", "remove"]
    assert any(t.startswith(MASTER_GROUP) for t in fake.running())  # the master stays


async def a_worker_too_big_for_the_agent() -> tuple[SparkFramework, Clock, str]:
    """A running Spark master and an app waiting for a worker (8 GB) that fits no agent
    (2 GB): the framework, its clock and the Spark master's URL."""
    clock = Clock()
    fw = SparkFramework(HOME, SparkResources(worker_mem=8192), ScaleConfig(worker_memory=7808),
                        clock=clock)  # fmt: skip
    core = FrameworkCore(fw, store=None, clock=clock)
    fw.tracker = lambda: core.tracker
    fake = FakeMaster(core)
    fake.add_agent("cpus:4;mem:2048;ports:[31000-31099]")
    await fake.subscribe()
    await fake.offer()
    await fake.start_all()
    url = fw.master_url()
    assert url is not None
    app = SparkApp(id="a", name="wc", state="WAITING", memoryperexecutor=512)
    fw.apply(MasterView(url=url, status="ALIVE", activeapps=[app]), clock())
    await fake.offer()
    return fw, clock, url


async def test_a_full_cluster_is_said_for_the_worker() -> None:
    fw, _clock, _url = await a_worker_too_big_for_the_agent()
    assert "needs" in fw.unplaced["spark-worker-1"]
    assert any(d.kind == "wait" and "cluster full" in d.reason for d in fw.log)


def test_the_command_lines() -> None:
    res = SparkResources(master_mem=512, worker_cpus=2.5, worker_mem=2048)
    m = master_command(HOME, res)
    assert "exec /opt/spark/bin/spark-class org.apache.spark.deploy.master.Master" in m
    assert '--port "$PORT0" --webui-port "$PORT1"' in m and "rest.port=$PORT2" in m
    assert "SPARK_DAEMON_MEMORY=256m" in m
    w = worker_command(HOME, res, "spark://h:1")
    assert "org.apache.spark.deploy.worker.Worker spark://h:1" in w
    assert "--cores 2 --memory 1664m" in w
    assert SparkResources(worker_mem=100).problems()[0].startswith("worker-mem")
    assert check_spark_home(Path("/nonexistent")) is not None


async def test_a_worker_that_never_fit_is_dropped_when_the_app_leaves() -> None:
    fw, clock, url = await a_worker_too_big_for_the_agent()
    fw.apply(MasterView(url=url, status="ALIVE"), clock())  # the app gave up
    assert fw.workers["spark-worker-1"].state == "removing"
    fw.apply(MasterView(url=url, status="ALIVE"), clock())
    assert fw.workers == {}
    assert [g.group for g in fw.desired()] == [MASTER_GROUP]
