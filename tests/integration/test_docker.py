"""The docker containerizer for real: a private dockerd, a busybox image, real containers."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from recorder import connected, sandbox_file, sandbox_of, task

from corral.resources import scalars
from corral.testing import LocalCluster, http_json, wait_until
from corral.testing.dockerd import BUSYBOX_IMAGE, Dockerd, dockerd_unavailable
from corral.wire.common import DurationInfo
from corral.wire.scheduler import Offer
from corral.wire.tasks import ContainerInfo, DockerInfo, KillPolicy, TaskInfo

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Dockerd]:
    why = dockerd_unavailable()
    if why:
        pytest.skip(f"no docker here: {why}")
    d = Dockerd()
    try:
        d.start()
    except (RuntimeError, TimeoutError) as exc:
        pytest.skip(f"dockerd did not start: {exc}")
    try:
        d.import_busybox()
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def docker_cluster(dockerd: Dockerd) -> Iterator[LocalCluster]:
    """One agent running docker containers (and plain commands as processes)."""
    with LocalCluster(
        1,
        master_flags=["--agent-ping-timeout", "1", "--max-agent-ping-timeouts", "3"],
        agent_flags=[
            "--containerizers",
            "docker,process",
            "--docker-socket",
            dockerd.url,
            "--status-update-retry",
            "1",
        ],
    ) as c:
        yield c


def docker_task(
    task_id: str,
    offer: Offer,
    command: str,
    res: Any = None,
    image: str = BUSYBOX_IMAGE,
    network: str = "HOST",
    **kw: Any,
) -> TaskInfo:
    t = task(task_id, offer, command, res, **kw)
    t.container = ContainerInfo(type="DOCKER", docker=DockerInfo(image=image, network=network))
    return t


def sandbox_dir(c: LocalCluster, task_id: str) -> Path:
    return Path(sandbox_of(c, task_id))


def containers_of(d: Dockerd, task_id: str) -> list[dict[str, Any]]:
    return [c for c in d.containers() if c["Labels"].get("corral.task_id") == task_id]


async def test_a_docker_task_runs_with_its_output_and_environment_in_the_sandbox(
    docker_cluster: LocalCluster, dockerd: Dockerd
) -> None:
    state = http_json(f"http://127.0.0.1:{docker_cluster.agents[0].port}/state")
    assert "docker" in state["containerizers"]
    assert "docker" in state["flags"]["containerizers"].split(",")
    cmd = "echo hello; echo oops >&2; pwd; env | sort; echo made > $MESOS_SANDBOX/made"
    async with connected(docker_cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        t = docker_task("hello", offer, cmd, env={"GREETING": "hi there"})
        await driver.launch([offer.id.value], [t])
        done = await rec.wait_state("hello", "TASK_FINISHED", timeout=30)
        assert rec.states("hello") == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
        assert done.message == "Container exited with status 0"
    out = sandbox_file(docker_cluster, "hello")
    lines = out.splitlines()
    assert lines[0] == "hello"
    assert lines[1] == "/mnt/mesos/sandbox"  # the working directory is the sandbox
    assert "GREETING=hi there" in lines
    assert "MESOS_SANDBOX=/mnt/mesos/sandbox" in lines
    assert "MESOS_TASK_ID=hello" in lines
    assert any(line.startswith("MESOS_AGENT_ID=") and len(line) > 15 for line in lines)
    # The agent's own environment does not leak into the container.
    assert not any(line.startswith("PYTHONUNBUFFERED=") for line in lines)
    assert sandbox_file(docker_cluster, "hello", "stderr") == "oops\n"
    assert (sandbox_dir(docker_cluster, "hello") / "made").read_text() == "made\n"
    wait_until(lambda: not containers_of(dockerd, "hello"), 10, what="the container removed")


async def test_a_failing_command_reports_its_exit_status(
    docker_cluster: LocalCluster, dockerd: Dockerd
) -> None:
    async with connected(docker_cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        t = docker_task("three", offer, "printf partial; exit 3")
        await driver.launch([offer.id.value], [t])
        failed = await rec.wait_state("three", "TASK_FAILED", timeout=30)
    assert failed.message == "Container exited with status 3"
    assert failed.reason is None
    assert sandbox_file(docker_cluster, "three") == "partial"


async def test_memory_limit_ends_the_task_with_the_memory_reason(
    docker_cluster: LocalCluster, dockerd: Dockerd
) -> None:
    async with connected(docker_cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        # tail keeps its whole input in memory while looking for line ends: it really allocates
        hog = docker_task("hog", offer, "head -c 300m /dev/zero | tail", scalars(cpus=0.2, mem=32))
        await driver.launch([offer.id.value], [hog])
        failed = await rec.wait_state("hog", "TASK_FAILED", timeout=60)
    assert failed.reason == "REASON_CONTAINER_LIMITATION_MEMORY"
    assert "Memory limit exceeded" in (failed.message or "")
    assert "32 MB" in (failed.message or "")
    wait_until(lambda: not containers_of(dockerd, "hog"), 10, what="the container removed")


async def test_kill_stops_the_container_and_removes_it(
    docker_cluster: LocalCluster, dockerd: Dockerd
) -> None:
    port = docker_cluster.agents[0].port
    async with connected(docker_cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        sleeper = docker_task("sleeper", offer, "sleep 300")
        sleeper.kill_policy = KillPolicy(grace_period=DurationInfo(nanoseconds=200_000_000))
        await driver.launch([offer.id.value], [sleeper])
        await rec.wait_state("sleeper", "TASK_RUNNING", timeout=30)
        (ctr,) = containers_of(dockerd, "sleeper")
        assert ctr["State"] == "running"
        assert ctr["Names"] == [f"/corral-{ctr['Labels']['corral.container_id']}"]
        listed = http_json(f"http://127.0.0.1:{port}/containers")
        assert [c["containerizer"] for c in listed] == ["docker"]
        stats = listed[0]["statistics"]  # dockerd's one-shot stats, in Mesos's names
        assert stats["mem_limit_bytes"] == 32 << 20 and stats["processes"] >= 1
        # The limits reached dockerd.
        host = dockerd.client().api.inspect_container(ctr["Id"])["HostConfig"]
        assert host["Memory"] == 32 << 20 and host["CpuShares"] == 102  # 0.1 cpus
        assert not host["NanoCpus"]  # a hard quota only with --cgroups-enable-cfs
        assert host["NetworkMode"] == "host"
        await driver.kill("sleeper")
        killed = await rec.wait_state("sleeper", "TASK_KILLED", timeout=30)
        assert "exited with status 137" in (killed.message or "")
    # The terminal update is sent once the container is removed.
    assert containers_of(dockerd, "sleeper") == []


async def test_host_networking_reaches_the_hosts_loopback(
    docker_cluster: LocalCluster, dockerd: Dockerd
) -> None:
    c = docker_cluster
    received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(100)
        if not received.done():
            received.set_result(data)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with connected(docker_cluster.master) as (driver, rec):
            offer = await rec.next_offer()
            cmd = f"ip -o addr show lo; echo from-the-container | nc 127.0.0.1 {port}"
            host = docker_task("net", offer, cmd, scalars(cpus=0.1, mem=32))
            isolated = docker_task("nonet", offer, "ip -o link", network="NONE")
            await driver.launch([offer.id.value], [host, isolated])
            await rec.wait_state("net", "TASK_FINISHED", timeout=30)
            await rec.wait_state("nonet", "TASK_FINISHED", timeout=30)
            assert (await asyncio.wait_for(received, 10)).strip() == b"from-the-container"
    finally:
        server.close()
        await server.wait_closed()
    assert "127.0.0.1" in sandbox_file(docker_cluster, "net")
    links = [line.split(":")[1].strip() for line in sandbox_file(c, "nonet").splitlines()]
    assert links == ["lo"]  # NONE: a network namespace with loopback only


async def test_bad_images_fail_with_a_clear_message(
    docker_cluster: LocalCluster, dockerd: Dockerd
) -> None:
    async with connected(docker_cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        res = scalars(cpus=0.1, mem=32)
        bad = docker_task("bad-name", offer, "true", res, image="Not An Image!")
        missing = docker_task("missing", offer, "true", res, image="127.0.0.1:1/no/such:image")
        no_image = docker_task("no-image", offer, "true", res)
        no_image.container = ContainerInfo(type="DOCKER", docker=DockerInfo(network="HOST"))
        user_net = docker_task("user-net", offer, "true", res, network="USER")
        await driver.launch([offer.id.value], [bad, missing, no_image, user_net])
        failures = {}
        for tid in ("bad-name", "missing", "no-image", "user-net"):
            failures[tid] = await rec.wait_state(tid, "TASK_FAILED", timeout=30)
    assert all(f.reason == "REASON_CONTAINER_LAUNCH_FAILED" for f in failures.values())
    assert failures["bad-name"].message is not None
    assert "Invalid image 'Not An Image!'" in failures["bad-name"].message
    assert failures["missing"].message is not None
    assert "Failed to pull image '127.0.0.1:1/no/such:image'" in failures["missing"].message
    assert failures["no-image"].message == (
        "TaskInfo.container: Missing required field 'docker.image'"
    )
    assert "network: 'USER' is not supported" in (failures["user-net"].message or "")


async def test_a_docker_task_on_an_agent_without_docker_fails(dockerd: Dockerd) -> None:
    # Agent 0 does not use docker; agent 1 should, but nothing answers at its endpoint.
    with LocalCluster(1) as c:
        unreachable = ["--containerizers", "docker,process", "--docker-socket", "/nonexistent"]
        c.add_agent(extra_flags=unreachable)
        ids = {}
        for a in c.agents:
            state = http_json(f"http://127.0.0.1:{a.port}/state")
            assert "docker" not in state["containerizers"]
            ids[state["id"]] = a
        log = c.agents[1].log.read_text()
        assert "docker containerizer unavailable" in log and "/nonexistent" in log
        async with connected(c.master) as (driver, rec):
            offers = [await rec.next_offer(), await rec.next_offer()]
            by_agent = {ids[o.agent_id.value].name: o for o in offers}
            for name, o in by_agent.items():
                t = docker_task(f"on-{name}", o, "echo never")
                plain = task(f"plain-{name}", o, "true")
                await driver.launch([o.id.value], [t, plain])
            f0 = await rec.wait_state("on-agent0", "TASK_FAILED", timeout=30)
            f1 = await rec.wait_state("on-agent1", "TASK_FAILED", timeout=30)
            # Plain commands still run on both.
            await rec.wait_state("plain-agent0", "TASK_FINISHED", timeout=30)
            await rec.wait_state("plain-agent1", "TASK_FINISHED", timeout=30)
    assert f0.reason == f1.reason == "REASON_CONTAINER_LAUNCH_FAILED"
    assert f0.message == (
        "This agent cannot run DOCKER containers: docker is not among this agent's --containerizers"
    )
    assert (f1.message or "").startswith(
        "This agent cannot run DOCKER containers: cannot reach dockerd at unix:///nonexistent"
    )


async def live_offer(rec: Any, not_agent: str | None = None) -> Offer:
    """The next offer not rescinded meanwhile (agents restart in this test)."""
    while True:
        offer = await rec.next_offer()
        if offer.id.value not in rec.rescinded and offer.agent_id.value != not_agent:
            return offer


def docker_agent_flags(d: Dockerd) -> list[str]:
    return ["--containerizers", "docker,process", "--docker-socket", d.url]


async def test_a_restarted_agent_readopts_its_containers(dockerd: Dockerd) -> None:
    with LocalCluster(1, agent_flags=docker_agent_flags(dockerd)) as c:
        agent = c.agents[0]
        script = "echo one; while [ ! -f go ]; do sleep 0.05; done; echo two; echo err >&2"
        # The framework outlives its connection, so only the agent's stop ends "at-stop".
        async with connected(c.master, failover_timeout=60, teardown=False) as (driver, rec):
            offer = await rec.next_offer()
            kept = docker_task("kept", offer, "echo started; exec sleep 300")
            kept.kill_policy = KillPolicy(grace_period=DurationInfo(nanoseconds=100_000_000))
            await driver.launch(
                [offer.id.value], [docker_task("long", offer, script), kept], refuse_seconds=0
            )
            await rec.wait_state("long", "TASK_RUNNING", timeout=30)
            await rec.wait_state("kept", "TASK_RUNNING", timeout=30)
            sandbox = sandbox_dir(c, "long")
            wait_until(lambda: (sandbox / "stdout").read_text() == "one\n", 10, what="line one")
            (before,) = containers_of(dockerd, "kept")

            c.kill_agent(agent, signal.SIGTERM)  # an orderly stop leaves tasks running
            (sandbox / "go").touch()  # "long" goes on and ends while the agent is down
            wait_until(
                lambda: containers_of(dockerd, "long")[0]["State"] == "exited",
                10,
                what="the container to exit",
            )
            c.restart_agent(agent)
            # The ended one is reported, its output copied once after what was there already.
            await rec.wait_state("long", "TASK_FINISHED", timeout=30)
            assert (sandbox / "stdout").read_text() == "one\ntwo\n"
            assert (sandbox / "stderr").read_text() == "err\n"
            assert containers_of(dockerd, "long") == []
            # The running one is adopted, and can be killed.
            listed = http_json(f"http://127.0.0.1:{agent.port}/containers")
            assert [x["containerizer"] for x in listed] == ["docker"]
            (after,) = containers_of(dockerd, "kept")
            assert after["Id"] == before["Id"] and after["State"] == "running"
            await driver.kill("kept")
            await rec.wait_state("kept", "TASK_KILLED", timeout=30)
            assert rec.states("kept").count("TASK_RUNNING") == 1
            assert containers_of(dockerd, "kept") == []
            assert sandbox_file(c, "kept") == "started\n"

            # --recover cleanup: what an earlier run left is removed.
            offer = await live_offer(rec)
            left = docker_task("left", offer, "exec sleep 300")
            await driver.launch([offer.id.value], [left], refuse_seconds=0)
            await rec.wait_state("left", "TASK_RUNNING", timeout=30)
            c.kill_agent(agent, signal.SIGKILL)
            c.restart_agent(agent, extra_flags=["--recover", "cleanup"])
            wait_until(lambda: not containers_of(dockerd, "left"), 15, what="leftover removed")

            # Stopping the agent with its tasks (as `corral up` does) stops its containers.
            offer = await live_offer(rec, not_agent=left.agent_id.value)
            await driver.launch([offer.id.value], [docker_task("at-stop", offer, "exec sleep 300")])
            await rec.wait_state("at-stop", "TASK_RUNNING", timeout=30)
        assert len(containers_of(dockerd, "at-stop")) == 1
    assert containers_of(dockerd, "at-stop") == []


def test_corral_run_docker_image(docker_cluster: LocalCluster, dockerd: Dockerd) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "corral",
            "run",
            "--master",
            docker_cluster.master,
            "--docker-image",
            BUSYBOX_IMAGE,
            "--timeout",
            "60",
            "--",
            "sh",
            "-c",
            "test -d /mnt/mesos/sandbox && test -x /bin/busybox",
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "TASK_FINISHED" in proc.stdout
    assert "exit code 0" in proc.stdout


async def test_pulls_force_pull_and_the_registration_timeout(dockerd: Dockerd) -> None:
    # A "registry" that accepts connections and never answers: pulls from it hang.
    stalled: list[asyncio.StreamWriter] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stalled.append(writer)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # The local image under a registry name whose registry refuses connections.
    local = "127.0.0.1:1/corral-busybox:latest"
    dockerd.client().images.get(BUSYBOX_IMAGE).tag("127.0.0.1:1/corral-busybox", "latest")
    flags = [*docker_agent_flags(dockerd), "--executor-registration-timeout", "2"]
    try:
        with LocalCluster(1, agent_flags=flags) as c:
            async with connected(c.master) as (driver, rec):
                offer = await rec.next_offer()
                forced = docker_task("forced", offer, "echo ran", image=local)
                assert forced.container is not None and forced.container.docker is not None
                forced.container.docker.force_pull_image = True
                slow = docker_task("slow", offer, "true", image=f"127.0.0.1:{port}/slow:1")
                await driver.launch([offer.id.value], [forced, slow])
                await rec.wait_state("forced", "TASK_FINISHED", timeout=30)
                failed = await rec.wait_state("slow", "TASK_FAILED", timeout=30)
                assert sandbox_file(c, "forced") == "ran\n"
                note = sandbox_file(c, "forced", "stderr")
    finally:
        for w in stalled:
            w.close()
        server.close()
        await server.wait_closed()
        dockerd.client().images.remove(local)
    assert note.startswith(f"corral: force_pull_image: Failed to pull image '{local}'")
    assert note.rstrip().endswith(f"using the local image '{local}'")
    assert failed.reason == "REASON_CONTAINER_LAUNCH_FAILED"
    assert failed.message == (
        f"Pulling image '127.0.0.1:{port}/slow:1' took longer than "
        "--executor-registration-timeout (2s)"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["agent", "--docker-socket", "bogus:1"],
            "--docker-socket: expected a socket path, unix://PATH or tcp://HOST:PORT",
        ),
        (["agent", "--containerizers", "dockr"], "unknown containerizer 'dockr'"),
        (["run", "--docker-network", "weird", "--", "true"], "--docker-network: expected host"),
        (["run", "--force-pull", "--", "true"], "--force-pull and --docker-network need"),
    ],
)
def test_bad_docker_flags_are_named(argv: list[str], message: str, tmp_path: Path) -> None:
    if argv[0] == "agent":
        argv = [*argv, "--work-dir", str(tmp_path)]
    proc = subprocess.run(
        [sys.executable, "-m", "corral", *argv], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_disk_quota_kills_a_docker_container_too(dockerd: Dockerd) -> None:
    flags = ["--containerizers", "docker,process", "--docker-socket", dockerd.url]
    flags += ["--enforce-container-disk-quota", "--disk-watch-interval", "0.2"]
    with LocalCluster(1, agent_flags=flags) as c:
        async with connected(c.master) as (driver, rec):
            offer = await rec.next_offer()
            fill = "head -c 5000000 /dev/zero > /mnt/mesos/sandbox/big; sleep 300"
            t = docker_task("filler", offer, fill, scalars(cpus=0.1, mem=32, disk=2))
            await driver.launch([offer.id.value], [t])
            failed = await rec.wait_state("filler", "TASK_FAILED", timeout=30)
            assert failed.reason == "REASON_CONTAINER_LIMITATION_DISK"
            assert "exceeds quota (2 MB)" in (failed.message or "")
            wait_until(lambda: not containers_of(dockerd, "filler"), 10, what="container gone")
