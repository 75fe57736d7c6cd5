"""Tasks end to end on a real master and agent: states, sandboxes, URIs, kills, groups."""

from __future__ import annotations

import os
import tarfile
import urllib.error
import urllib.parse
from pathlib import Path

import pytest
from aiohttp import web
from recorder import connected, sandbox_of, task

from corral.resources import parse, scalars
from corral.testing import LocalCluster, http_json, pid_alive
from corral.wire.base import ID
from corral.wire.common import DurationInfo
from corral.wire.tasks import CommandInfo, ExecutorInfo, KillPolicy, TaskInfo

pytestmark = pytest.mark.integration


def agent_url(cluster: LocalCluster, i: int = 0) -> str:
    return f"http://127.0.0.1:{cluster.agents[i].port}"


def read_file(cluster: LocalCluster, path: str) -> str:
    q = urllib.parse.urlencode({"path": path, "offset": 0})
    return str(http_json(f"{agent_url(cluster)}/files/read?{q}")["data"])


async def test_states_and_exit_codes(cluster: LocalCluster) -> None:
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        await driver.launch(
            [offer.id.value],
            [task("ok", offer, "echo hello"), task("bad", offer, "exit 3")],
        )
        await rec.wait_state("ok", "TASK_FINISHED")
        failed = await rec.wait_state("bad", "TASK_FAILED")
        assert rec.states("ok") == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
        assert failed.message == "Command exited with status 3"
        for u in rec.updates:
            assert u.uuid is not None and len(u.uuid) == 16
            assert u.agent_id is not None and u.timestamp is not None
        assert "hello" in read_file(cluster, sandbox_of(cluster, "ok") + "/stdout")


async def test_sandbox_environment_and_ports(cluster: LocalCluster) -> None:
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        res = parse("cpus:0.1;mem:32;ports:[31005-31006]")
        cmd = 'echo "$MESOS_SANDBOX|$MESOS_TASK_ID|$PORT0|$PORTS|$GREETING|$(pwd)"'
        t = task("env", offer, cmd, res, env={"GREETING": "hi"})
        await driver.launch([offer.id.value], [t])
        await rec.wait_state("env", "TASK_FINISHED")
        sandbox = sandbox_of(cluster, "env")
        out = read_file(cluster, sandbox + "/stdout").strip()
        assert out == f"{sandbox}|env|31005|31005,31006|hi|{sandbox}"
        listing = http_json(f"{agent_url(cluster)}/files/browse?path={urllib.parse.quote(sandbox)}")
        assert {Path(e["path"]).name for e in listing} >= {"stdout", "stderr"}
        # Mesos's virtual path to the same sandbox.
        virtual = f"/frameworks/{driver.framework_id}/executors/env/runs/latest/stdout"
        assert read_file(cluster, virtual).strip() == out
        # Nothing outside the sandboxes is served.
        for bad in ("/etc/passwd", sandbox + "/../../launcher/launcher.pid"):
            q = urllib.parse.urlencode({"path": bad, "offset": 0})
            with pytest.raises(urllib.error.HTTPError) as err:
                http_json(f"{agent_url(cluster)}/files/read?{q}")
            assert err.value.code == 404
        q = urllib.parse.urlencode({"path": sandbox + "/stdout", "offset": "x"})
        with pytest.raises(urllib.error.HTTPError) as err:
            http_json(f"{agent_url(cluster)}/files/read?{q}")
        assert err.value.code == 400


async def test_uris_are_fetched_extracted_and_made_executable(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    (tmp_path / "payload").mkdir()
    (tmp_path / "payload" / "data.txt").write_text("from the archive\n")
    archive = tmp_path / "bundle.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "payload" / "data.txt", arcname="data.txt")
    script = tmp_path / "tool.sh"
    script.write_text("#!/bin/sh\necho tool ran\n")

    async def serve(request: web.Request) -> web.Response:
        return web.Response(text="over http\n")

    app = web.Application()
    app.router.add_get("/remote.txt", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with connected(cluster.master) as (driver, rec):
            offer = await rec.next_offer()
            t = task(
                "fetch",
                offer,
                "cat data.txt remote.txt && ./tool.sh",
                uris=[str(archive), f"file://{script}", f"http://127.0.0.1:{port}/remote.txt"],
            )
            assert t.command is not None
            t.command.uris[1].executable = True
            await driver.launch([offer.id.value], [t])
            await rec.wait_state("fetch", "TASK_FINISHED")
            out = read_file(cluster, sandbox_of(cluster, "fetch") + "/stdout")
            assert out == "from the archive\nover http\ntool ran\n"

            offer = await rec.next_offer()
            await driver.launch(
                [offer.id.value], [task("missing", offer, "true", uris=["/no/such/file"])]
            )
            failed = await rec.wait_state("missing", "TASK_FAILED")
            assert failed.reason == "REASON_CONTAINER_LAUNCH_FAILED"
            assert "/no/such/file" in (failed.message or "")
    finally:
        await runner.cleanup()


async def test_kill_policy_kills_the_whole_process_group(cluster: LocalCluster) -> None:
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        # The shell ignores SIGTERM and starts a child; both must die by SIGKILL after the grace.
        cmd = "trap '' TERM; sleep 300 & echo $! > child.pid; wait"
        t = task("stubborn", offer, cmd)
        t.kill_policy = KillPolicy(grace_period=DurationInfo(nanoseconds=300_000_000))
        await driver.launch([offer.id.value], [t])
        await rec.wait_state("stubborn", "TASK_RUNNING")
        sandbox = sandbox_of(cluster, "stubborn")

        def child_pid() -> int:
            return int(Path(sandbox, "child.pid").read_text())

        from corral.testing import wait_until
        from corral.testing.cluster import host_pid

        ns_pid = wait_until(child_pid, 10, what="child pid file")
        # $! is a namespace pid under the linux containerizer: find the child on the host.
        pid = wait_until(lambda: host_pid(ns_pid, sandbox), 10, what="the child's host pid")
        assert pid_alive(pid)
        await driver.kill("stubborn")
        killed = await rec.wait_state("stubborn", "TASK_KILLED")
        assert "signal SIGKILL" in (killed.message or "")
        wait_until(lambda: not pid_alive(pid), 5, what="the task's child to be killed")


async def test_kill_before_running_and_unknown_task(cluster: LocalCluster) -> None:
    async with connected(cluster.master) as (driver, rec):
        await driver.kill("never-launched")
        lost = await rec.wait_state("never-launched", "TASK_UNKNOWN")
        assert lost.uuid is None and lost.source == "SOURCE_MASTER"


async def test_launch_group_runs_every_task(cluster: LocalCluster) -> None:
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        executor = ExecutorInfo(
            executor_id=ID("group-exec"),
            type="DEFAULT",
            resources=scalars(cpus=0.1, mem=32).to_wire(),
        )
        tasks = [task("g1", offer, "echo one"), task("g2", offer, "echo two")]
        await driver.launch_group([offer.id.value], executor, tasks)
        one = await rec.wait_state("g1", "TASK_FINISHED")
        await rec.wait_state("g2", "TASK_FINISHED")
        assert one.executor_id == ID("group-exec")


async def test_custom_executor_that_exits_fails_its_tasks(cluster: LocalCluster) -> None:
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        executor = ExecutorInfo(
            executor_id=ID("quitter"),
            command=CommandInfo(value="echo $MESOS_EXECUTOR_ID $MESOS_AGENT_ENDPOINT; exit 0"),
            resources=scalars(cpus=0.1, mem=32).to_wire(),
        )
        t = TaskInfo(
            name="t",
            task_id=ID("exec-task"),
            agent_id=offer.agent_id,
            resources=scalars(cpus=0.1, mem=32).to_wire(),
            executor=executor,
        )
        await driver.launch([offer.id.value], [t])
        failed = await rec.wait_state("exec-task", "TASK_FAILED")
        assert failed.reason == "REASON_EXECUTOR_TERMINATED"
        await rec.wait_for(lambda: rec.failures, what="executor FAILURE event")
        assert rec.failures[0].executor_id == ID("quitter")


async def test_task_bigger_than_its_offer_is_an_error_not_a_launch(cluster: LocalCluster) -> None:
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        huge = task("huge", offer, "touch /tmp/should-not-run", scalars(cpus=1000, mem=32))
        await driver.launch([offer.id.value], [huge])
        err = await rec.wait_state("huge", "TASK_ERROR")
        assert err.reason == "REASON_TASK_INVALID" and "more resources" in (err.message or "")
        state = cluster.state()
        assert state["slaves"][0]["used_resources"]["cpus"] == 0
        assert not [t for f in state["frameworks"] for t in f["tasks"]]


async def test_offers_never_exceed_free_resources(cluster2: LocalCluster) -> None:
    async with connected(cluster2.master) as (driver, rec):
        first = await rec.next_offer()
        second = await rec.next_offer()
        assert {first.agent_id, second.agent_id} == {
            ID(a["id"]) for a in cluster2.state()["slaves"]
        }
        await driver.launch(
            [first.id.value],
            [task("long", first, "sleep 300", scalars(cpus=1.5, mem=1000))],
            refuse_seconds=0,
        )
        await rec.wait_state("long", "TASK_RUNNING")
        from corral.resources import from_wire

        reoffer = await rec.next_offer()
        while reoffer.agent_id != first.agent_id:
            reoffer = await rec.next_offer()
        got = from_wire(reoffer.resources)
        assert got.scalar("cpus") == pytest.approx(4 - 1.5)
        assert got.scalar("mem") == pytest.approx(4096 - 1000)
        await driver.kill("long")
        await rec.wait_state("long", "TASK_KILLED")


def test_corral_run_cli(cluster: LocalCluster) -> None:
    import subprocess
    import sys

    env = {**os.environ, "CORRAL_MASTER": cluster.master}
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "corral",
            "run",
            "--cpus",
            "0.1",
            "--mem",
            "32",
            "--",
            "echo",
            "hello",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    assert "TASK_RUNNING" in ok.stdout and "TASK_FINISHED" in ok.stdout
    assert "exit code 0" in ok.stdout
    batch = subprocess.run(
        [sys.executable, "-m", "corral", "run", "--count", "20", "--", "sh", "-c", "exit 0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert batch.returncode == 0, batch.stderr
    assert "20 tasks" in batch.stdout and "20 finished" in batch.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "corral", "run", "--", "exit 4"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert bad.returncode == 4 and "exit code 4" in bad.stdout  # the task's exit code
    listing = subprocess.run(
        [sys.executable, "-m", "corral", "tasks", "--all", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert listing.returncode == 0
    import json

    ids = [t["id"] for t in json.loads(listing.stdout) if t["state"] == "TASK_FINISHED"]
    assert len(ids) >= 21
    logs = subprocess.run(
        [sys.executable, "-m", "corral", "logs", ids[0]],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert logs.returncode == 0
    flag = subprocess.run(
        [sys.executable, "-m", "corral", "run", "--count", "0", "--", "true"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert flag.returncode == 2 and "--count" in flag.stderr


async def test_a_secret_environment_variable_reaches_the_task(cluster: LocalCluster) -> None:
    import base64

    from corral.wire.tasks import Environment, EnvironmentVariable

    data = base64.b64encode(b"s3cret").decode()
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        t = task("secret", offer, 'echo "token=$TOKEN"')
        assert t.command is not None
        t.command.environment = Environment(
            variables=[
                EnvironmentVariable(
                    name="TOKEN", type="SECRET", secret={"type": "VALUE", "value": {"data": data}}
                )
            ]
        )
        await driver.launch([offer.id.value], [t])
        await rec.wait_state("secret", "TASK_FINISHED")
        assert read_file(cluster, sandbox_of(cluster, "secret") + "/stdout") == "token=s3cret\n"
