"""Dask on corral, for real: a ``CorralCluster`` on a local corral cluster.

* ``adapt(minimum=0, maximum=3)`` grows from no worker to several while a ``client.map``
  over 1,000 items runs, and shrinks back to none once it is done;
* a full cluster makes a worker wait, with the placement's reason; a scheduler that fits
  nowhere, or cannot start (its port taken), is an error saying so;
* a client loop blocked for seconds does not end the cluster;
* a client process killed with SIGKILL leaves no task behind: the framework registered with
  failover_timeout 0, so the master removes it and kills its tasks.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
from distributed import Client

from corral.integrations.dask import CorralCluster
from corral.testing import LocalCluster, stop_process, wait_until

pytestmark = pytest.mark.integration

MARK = "CORRAL_TEST_RUN"


@pytest.fixture(scope="module")
def corral() -> Iterator[LocalCluster]:
    """A master and one agent of 4 cpus (the scheduler takes 1: room for 3 workers), its
    ports away from the usual 31000-32000 (other clusters on this machine use those)."""
    base = random.randrange(20000, 29000, 100)
    with LocalCluster(
        1,
        agent_resources=f"cpus:4;mem:4096;disk:10000;ports:[{base}-{base + 99}]",
        master_flags=["--agent-ping-timeout", "1", "--max-agent-ping-timeouts", "3"],
        agent_flags=["--status-update-retry", "1"],
    ) as c:
        c.dask_port_base = base  # type: ignore[attr-defined]
        yield c


def dask_processes() -> list[psutil.Process]:
    """dask schedulers and workers that this test run started (through corral tasks)."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info.get("cmdline") or [])
        if "distributed.cli.dask_" not in cmd:
            continue
        try:
            if p.environ().get(MARK) == os.environ[MARK]:
                out.append(p)
        except psutil.Error:
            pass
    return out


def framework_tasks(c: LocalCluster, framework_id: str) -> list[dict[str, Any]]:
    for fw in c.state()["frameworks"]:
        if fw["id"] == framework_id:
            return list(fw["tasks"])
    return []


def framework_gone(c: LocalCluster, framework_id: str) -> bool:
    return all(fw["id"] != framework_id for fw in c.state()["frameworks"])


def test_adapt_grows_from_zero_and_shrinks_back(corral: LocalCluster) -> None:
    def slow_double(x: int) -> int:  # local: pickled by value (the workers cannot import us)
        time.sleep(0.02)
        return 2 * x

    with CorralCluster(
        corral.master, worker_cpus=1, worker_mem=512, scheduler_cpus=1, scheduler_mem=512
    ) as cluster:
        cluster.adapt(minimum=0, maximum=3, interval="200ms", wait_count=3, target_duration="1s")
        fid = cluster.framework_id
        assert fid is not None
        with Client(cluster) as client:
            assert client.scheduler_info()["workers"] == {}
            assert [t["name"] for t in framework_tasks(corral, fid)] == ["dask scheduler"]
            most = 0
            shapes: set[tuple[int, int]] = set()  # (nthreads, memory_limit) of the workers
            done = threading.Event()

            def watch() -> None:
                nonlocal most
                while not done.is_set():
                    workers = client.scheduler_info(n_workers=-1)["workers"].values()
                    most = max(most, len(workers))
                    shapes.update((w["nthreads"], w["memory_limit"]) for w in workers)
                    time.sleep(0.05)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            try:
                results = client.gather(client.map(slow_double, range(1000)))
            finally:
                done.set()
                watcher.join(5)
            assert results == [2 * x for x in range(1000)]
            assert most >= 2, f"adapt never grew past {most} worker(s)"
            assert most <= 3
            assert shapes == {(1, 512 * 2**20)}  # from the task's cpus and mem
            # Idle: dask retires the workers, and their corral tasks end.
            wait_until(
                lambda: not client.scheduler_info()["workers"], 30, what="dask to retire workers"
            )
            wait_until(
                lambda: [t["name"] for t in framework_tasks(corral, fid)] == ["dask scheduler"],
                30,
                what="the worker tasks to end",
            )
            names = [p.cmdline() for p in dask_processes()]
            assert all("distributed.cli.dask_scheduler" in " ".join(c) for c in names), names
    wait_until(lambda: framework_gone(corral, fid), 15, what="the framework's removal")
    wait_until(lambda: not dask_processes(), 15, what="the dask processes to end")


def test_full_cluster_says_why_a_worker_waits(corral: LocalCluster) -> None:
    with CorralCluster(
        corral.master, worker_cpus=8, worker_mem=256, scheduler_cpus=0.5, scheduler_mem=512
    ) as cluster:
        cluster.scale(1)
        assert list(wait_until(cluster.pending_reasons, 15, what="a pending worker")) == [
            "corral-0"
        ]
        wait_until(
            lambda: "needs cpus 8" in cluster.pending_reasons()["corral-0"],
            15,
            what="the placement's reason",
        )
        assert cluster.pending_reasons()["corral-0"].startswith("needs cpus 8, largest free")
        fid = cluster.framework_id
        assert fid is not None
        assert [t["name"] for t in framework_tasks(corral, fid)] == ["dask scheduler"]
    wait_until(lambda: framework_gone(corral, fid), 15, what="the framework's removal")


def test_a_scheduler_that_fits_nowhere_is_an_error_saying_why(corral: LocalCluster) -> None:
    with pytest.raises(RuntimeError, match="not up after 3s: needs cpus 8, largest free"):
        CorralCluster(corral.master, scheduler_cpus=8, scheduler_timeout=3)
    assert not [f for f in corral.state()["frameworks"] if f["name"] == "dask"]


def test_a_scheduler_that_cannot_start_is_an_error_naming_its_task(corral: LocalCluster) -> None:
    """Someone else listens on the port the scheduler gets (the lowest offered): the error
    says the scheduler's task ended, and that listener is never taken for the scheduler."""
    wait_until(lambda: not dask_processes(), 15, what="the earlier tests' processes to end")
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAITs
        squatter.bind(("127.0.0.1", corral.dask_port_base))  # type: ignore[attr-defined]
        squatter.listen()
        with pytest.raises(RuntimeError, match=r"scheduler's task dask-scheduler\.\w+ ended"):
            CorralCluster(corral.master, scheduler_cpus=0.5, scheduler_mem=256)
    wait_until(lambda: not dask_processes(), 15, what="the dask processes to end")
    assert not [f for f in corral.state()["frameworks"] if f["name"] == "dask"]


def test_a_busy_client_loop_does_not_end_the_cluster(corral: LocalCluster) -> None:
    """The framework runs on the cluster's event loop: that loop blocked for longer than a
    toolkit lease's default 5 s (unpickling a large result, say) must not fence it."""
    with (
        CorralCluster(corral.master, n_workers=1, worker_mem=512, scheduler_mem=512) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(1, timeout=30)

        async def block() -> None:
            time.sleep(7)  # noqa: ASYNC251 -- the point: the loop does nothing else meanwhile

        cluster.sync(block)
        assert client.submit(sum, [1, 2]).result(timeout=30) == 3
        fid = cluster.framework_id
        assert fid is not None and not framework_gone(corral, fid)
    wait_until(lambda: not dask_processes(), 15, what="the dask processes to end")


CLIENT = """
import sys, time
from distributed import Client
from corral.integrations.dask import CorralCluster
cluster = CorralCluster(sys.argv[1], n_workers=2, worker_cpus=1, worker_mem=512,
                        scheduler_cpus=0.5, scheduler_mem=512)
client = Client(cluster)
client.wait_for_workers(2, timeout=60)
assert client.submit(sum, [1, 2, 3]).result() == 6
print(cluster.framework_id, flush=True)
time.sleep(600)
"""


def test_killed_client_leaves_no_task(corral: LocalCluster) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CLIENT, corral.master],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        fid = proc.stdout.readline().strip()
        assert fid, f"the client exited with {proc.wait(10)} before its workers came"
        tasks = framework_tasks(corral, fid)
        assert sorted(t["name"] for t in tasks) == [
            "dask corral-0",
            "dask corral-1",
            "dask scheduler",
        ]
        assert len(dask_processes()) >= 3
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        wait_until(lambda: framework_gone(corral, fid), 15, what="the master to remove it")
        wait_until(lambda: not dask_processes(), 20, what="the dask processes to end")
    finally:
        stop_process(proc)
