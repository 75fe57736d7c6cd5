"""The linux containerizer for real: cgroup v1 limits, OOM reason, pid namespaces, cleanup."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from recorder import connected, sandbox_file, task

from corral.agent.cgroups import CONTROLLERS, ROOT, own_cgroups, unavailable
from corral.resources import from_wire, parse, scalars
from corral.testing import LocalCluster, free_port, http_json, wait_until
from corral.wire.codec import convert
from corral.wire.tasks import ContainerInfo, Image, ImageAppc, MesosInfo, RLimit, RLimitInfo

pytestmark = pytest.mark.integration

WHY = unavailable()
if WHY:
    pytestmark = [pytest.mark.integration, pytest.mark.skip(reason=f"no cgroups here: {WHY}")]


def container_dirs() -> list[Path]:
    """Every container cgroup corral could have left under this process's cgroups."""
    own = own_cgroups()
    out: list[Path] = []
    for c in CONTROLLERS:
        parent = ROOT / c / own.get(c, "/").lstrip("/") / "corral"
        if parent.is_dir():
            out += [p for p in parent.iterdir() if p.is_dir()]
    return out


def made_by(work_dir: Path) -> set[str]:
    """Names of the cgroups a cluster under ``work_dir`` may make: its containers' ids (each
    has a sandbox directory of that name) and its launchers' pooled ``idle-<pid>-<n>``. Read
    while the cluster runs: other clusters on this machine make cgroups beside ours."""
    names = {p.name for p in work_dir.rglob("*") if p.is_dir()}
    for pid_file in work_dir.rglob("launcher.pid"):
        names.add(f"idle-{pid_file.read_text().strip()}-")
    return names


def left_behind(before: set[Path], ours: set[str]) -> set[Path]:
    idle = tuple(n for n in ours if n.startswith("idle-"))
    return {d for d in set(container_dirs()) - before if d.name in ours or d.name.startswith(idle)}


@pytest.fixture
def linux() -> Iterator[LocalCluster]:
    before = set(container_dirs())
    with LocalCluster(
        1,
        agent_flags=[
            "--containerizers",
            "linux",
            "--cgroups-enable-cfs",
            "--cgroups-pids-max",
            "64",
            "--usage-report-interval",
            "1",
        ],
    ) as c:
        yield c
        ours = made_by(c.work_dir)
    # Nothing left behind once the agent (and its launcher) stopped.
    assert left_behind(before, ours) == set()


async def test_memory_limit_ends_the_task_with_the_memory_reason(linux: LocalCluster) -> None:
    async with connected(linux.master) as (driver, rec):
        offer = await rec.next_offer()
        hog = task("hog", offer, "python3 -c 'x = bytearray(200 << 20)'", scalars(cpus=0.2, mem=64))
        await driver.launch([offer.id.value], [hog])
        failed = await rec.wait_state("hog", "TASK_FAILED", timeout=30)
        assert failed.reason == "REASON_CONTAINER_LIMITATION_MEMORY"
        assert "Memory limit exceeded" in (failed.message or "")


async def test_linux_tasks_get_the_rlimits_they_ask_for(linux: LocalCluster) -> None:
    async with connected(linux.master) as (driver, rec):
        offer = await rec.next_offer()
        limited = task("limited", offer, "cat /proc/self/limits")
        limited.container = ContainerInfo(
            type="MESOS",
            rlimit_info=RLimitInfo(rlimits=[RLimit(type="RLMT_NOFILE", soft=77, hard=99)]),
        )
        await driver.launch([offer.id.value], [limited])
        await rec.wait_state("limited", "TASK_FINISHED")
        line = next(
            ln for ln in sandbox_file(linux, "limited").splitlines() if "Max open files" in ln
        )
        assert line.split()[3:5] == ["77", "99"]


async def test_tasks_see_only_their_own_processes(linux: LocalCluster) -> None:
    async with connected(linux.master) as (driver, rec):
        offer = await rec.next_offer()
        await driver.launch(
            [offer.id.value], [task("neighbour", offer, "sleep 300")], refuse_seconds=0
        )
        await rec.wait_state("neighbour", "TASK_RUNNING")
        offer = await rec.next_offer()
        looker = task("looker", offer, "echo $$; ps -eo comm | grep -c sleep || true")
        await driver.launch([offer.id.value], [looker])
        await rec.wait_state("looker", "TASK_FINISHED")
        pid, sleeps = sandbox_file(linux, "looker").split()
        assert pid == "1"  # the task is pid 1 of its own namespace
        assert sleeps == "0"  # and cannot see the neighbour's sleep
        containers = http_json(f"http://127.0.0.1:{linux.agents[0].port}/containers")
        stats = containers[0]["statistics"]
        assert containers[0]["containerizer"] == "linux"
        assert stats["mem_limit_bytes"] == 32 << 20 and stats["processes"] >= 1
        await driver.kill("neighbour")
        await rec.wait_state("neighbour", "TASK_KILLED")


async def test_cpu_quota_throttles_and_pids_limit_stops_a_fork_bomb(linux: LocalCluster) -> None:
    async with connected(linux.master) as (driver, rec):
        offer = await rec.next_offer()
        spin = task("spin", offer, "while :; do :; done", scalars(cpus=0.1, mem=32))
        bomb_cmd = "i=0; while [ $i -lt 200 ]; do sleep 60 & i=$((i+1)); done; echo done"
        bomb = task("bomb", offer, bomb_cmd, scalars(cpus=0.1, mem=64))
        await driver.launch([offer.id.value], [spin, bomb])
        await rec.wait_state("spin", "TASK_RUNNING")
        # The shell cannot fork past --cgroups-pids-max and gives up.
        ended = await rec.wait_for(
            lambda: [
                u for u in rec.updates if u.task_id.value == "bomb" and u.state == "TASK_FAILED"
            ],
            30,
            "the fork bomb to be stopped",
        )
        assert ended[-1].message == "Command exited with status 2"
        assert "fork" in sandbox_file(linux, "bomb", "stderr").lower()

        def throttled() -> bool:
            for ctr in http_json(f"http://127.0.0.1:{linux.agents[0].port}/containers"):
                if ctr["executor_id"]["value"] == "spin":
                    return bool(ctr["statistics"].get("cpus_nr_throttled", 0) > 0)
            return False

        wait_until(throttled, 15, what="the CFS quota to throttle the spinning task")
        await driver.kill("spin")
        await rec.wait_state("spin", "TASK_KILLED")


async def test_kill_reaches_a_task_that_is_pid_1_of_its_namespace(linux: LocalCluster) -> None:
    """The kernel drops a SIGTERM that a namespace's pid 1 does not handle; the launcher ends
    such a task at once (as SIGTERM would elsewhere) instead of waiting out the grace period,
    and a task that handles SIGTERM gets it and its grace period."""
    from corral.wire.common import DurationInfo
    from corral.wire.tasks import KillPolicy

    long_grace = KillPolicy(grace_period=DurationInfo(nanoseconds=600 * 10**9))
    async with connected(linux.master) as (driver, rec):
        offer = await rec.next_offer()
        plain = task("plain", offer, "exec sleep 300")
        handler = "trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.05; done"
        graceful = task("graceful", offer, handler)
        plain.kill_policy = graceful.kill_policy = long_grace
        await driver.launch([offer.id.value], [plain, graceful])
        await rec.wait_state("plain", "TASK_RUNNING")
        await rec.wait_state("graceful", "TASK_RUNNING")
        wait_until(lambda: "ready" in sandbox_file(linux, "graceful"), 10, what="the trap")
        await driver.kill("plain")
        killed = await rec.wait_state("plain", "TASK_KILLED", timeout=30)
        assert "signal SIGKILL" in (killed.message or "")
        await driver.kill("graceful")
        await rec.wait_state("graceful", "TASK_KILLED", timeout=30)
        assert "got TERM" in sandbox_file(linux, "graceful")


async def test_children_of_a_pid_1_shell_get_their_grace_period(linux: LocalCluster) -> None:
    """`sh -c server`: the shell is pid 1 without a TERM handler, the server its child. The
    server gets SIGTERM and time to act on it; the shell is not SIGKILLed under it."""
    from corral.wire.common import DurationInfo
    from corral.wire.tasks import KillPolicy

    child = "trap 'echo child got TERM; exit 0' TERM; echo ready; while :; do sleep 0.05; done"
    script = f'sh -c "{child}"; echo shell done'
    async with connected(linux.master) as (driver, rec):
        offer = await rec.next_offer()
        t = task("wrapped", offer, script)
        t.kill_policy = KillPolicy(grace_period=DurationInfo(nanoseconds=600 * 10**9))
        await driver.launch([offer.id.value], [t])
        await rec.wait_state("wrapped", "TASK_RUNNING")
        wait_until(lambda: "ready" in sandbox_file(linux, "wrapped"), 10, what="the child's trap")
        await driver.kill("wrapped")
        await rec.wait_state("wrapped", "TASK_KILLED", timeout=30)
        out = sandbox_file(linux, "wrapped")
        assert "child got TERM" in out and "shell done" in out


async def test_namespaces_are_the_tasks_own(linux: LocalCluster) -> None:
    script = (
        "hostname inside; hostname; readlink /proc/self/ns/ipc; readlink /proc/self/ns/mnt; "
        "ls /proc | grep -c '^[0-9]*$'"
    )
    async with connected(linux.master) as (driver, rec):
        offer = await rec.next_offer()
        await driver.launch([offer.id.value], [task("ns", offer, script)])
        await rec.wait_state("ns", "TASK_FINISHED")
        name, ipc, mnt, procs = sandbox_file(linux, "ns").split()
    assert name == "inside"  # its own uts namespace: the host's name is untouched
    assert Path("/proc/self/ns/ipc").readlink().name != ipc
    assert Path("/proc/self/ns/mnt").readlink().name != mnt
    assert int(procs) <= 3  # its own /proc shows only its own processes: sh, ls and grep
    # That /proc was mounted in the task's namespace only.
    assert Path("/proc/self/mountinfo").read_text().count(" /proc ") == 1


# The task checks its own CFS quota (0.5 cpu: 50 ms per 100 ms) and spins until the kernel
# has throttled it; exit 0 means both held.
CPU_CHECK = """
import re
cg = re.search(r"^\\d+:cpu:(.*)$", open("/proc/self/cgroup").read(), re.M).group(1)
d = "/sys/fs/cgroup/cpu" + cg
if open(d + "/cpu.cfs_quota_us").read().strip() != "50000":
    raise SystemExit(3)
while True:
    for _ in range(100000):
        pass
    stat = dict(line.split() for line in open(d + "/cpu.stat"))
    if int(stat["nr_throttled"]) > 0:
        raise SystemExit(0)
"""


def test_corral_up_and_run_enforce_memory_and_cpu(tmp_path: Path) -> None:
    """The done-means line: `corral run --mem 64` of a 200 MB hog against `corral up` fails
    with the memory reason; `--cpus 0.5` with `corral up --cgroups-enable-cfs` is throttled."""
    before = set(container_dirs())
    port = free_port()
    env = {**os.environ, "HOME": str(tmp_path)}  # corral up records itself under ~/.corral
    env.pop("CORRAL_MASTER", None)
    out = tmp_path / "up.out"
    corral = [sys.executable, "-m", "corral"]
    with open(out, "wb") as f:
        up = subprocess.Popen(
            [*corral, "up", "--agents", "1", "--port", str(port), "--cgroups-enable-cfs",
             "--no-services", "--no-jobs", "--no-batch",
             "--work-dir", str(tmp_path / "cluster"), "--resources", "cpus:2;mem:1024;disk:1000"],
            stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(lambda: b"cluster up" in out.read_bytes(), 30, what=f"corral up ({out})")

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*corral, "run", "--timeout", "60", *args],
                capture_output=True, text=True, timeout=90, env=env,
            )  # fmt: skip

        hog = run("--mem", "64", "--", "python3", "-c", "x=bytearray(200<<20)")
        assert hog.returncode == 137, hog.stdout + hog.stderr  # the shell's: its child got SIGKILL
        assert "TASK_FAILED (REASON_CONTAINER_LIMITATION_MEMORY)" in hog.stdout, hog.stdout
        assert "Memory limit exceeded" in hog.stdout
        spin = run("--cpus", "0.5", "--mem", "64", "--", "python3", "-c", CPU_CHECK)
        assert spin.returncode == 0, spin.stdout + spin.stderr
        assert "TASK_FINISHED" in spin.stdout and "exit code 0" in spin.stdout
    finally:
        ours = made_by(tmp_path / "cluster")
        up.send_signal(signal.SIGINT)  # corral up stops its cluster, tasks included
        try:
            up.wait(30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait(5)
    assert up.returncode == 0, out.read_text()
    assert left_behind(before, ours) == set()


async def test_disk_quota_kills_a_container_that_outgrows_its_disk(tmp_path: Path) -> None:
    flags = ["--enforce-container-disk-quota", "--disk-watch-interval", "0.2"]
    with LocalCluster(1, agent_flags=flags) as c:
        async with connected(c.master) as (driver, rec):
            offer = await rec.next_offer()
            # 5 MB written into a 2 MB sandbox; the other stays under its quota.
            hog = task(
                "hog",
                offer,
                "head -c 5000000 /dev/urandom > blob; sleep 300",
                scalars(cpus=0.1, mem=32, disk=2),
            )
            small = task(
                "small",
                offer,
                "head -c 100000 /dev/urandom > blob; while [ ! -f go ]; do sleep 0.05; done",
                scalars(cpus=0.1, mem=32, disk=2),
            )
            await driver.launch([offer.id.value], [hog, small])
            failed = await rec.wait_state("hog", "TASK_FAILED", timeout=30)
            assert failed.reason == "REASON_CONTAINER_LIMITATION_DISK"
            assert failed.source == "SOURCE_AGENT"
            assert "exceeds quota (2 MB)" in (failed.message or ""), failed.message
            await rec.wait_state("small", "TASK_RUNNING")
            state = http_json(f"http://127.0.0.1:{c.agents[0].port}/state")
            sandbox = next(
                ex["directory"]
                for f in state["frameworks"]
                for ex in f["executors"]
                if ex["id"] == "small"
            )
            # It has been measured (and left alone) after the hog was killed.
            Path(sandbox, "go").touch()
            await rec.wait_state("small", "TASK_FINISHED")


REACH = """
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
except OSError as exc:
    print("unreachable:", exc)
    raise SystemExit(3)
print("reached")
"""

OWN_LOOPBACK = """
import socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
socket.create_connection(srv.getsockname(), timeout=5).close()
print("loopback up")
"""


async def test_private_network_cannot_reach_the_hosts_loopback() -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    reach = ["python3", "-c", REACH, str(port)]
    try:
        private = ["--containerizers", "linux", "--isolation", "network/private"]
        for flags, expected in ((private, "TASK_FAILED"), (["--containerizers", "process"], None)):
            with LocalCluster(1, agent_flags=flags) as c:
                async with connected(c.master) as (driver, rec):
                    offer = await rec.next_offer()
                    probe = task("probe", offer, "")
                    assert probe.command is not None
                    probe.command.shell, probe.command.value = False, "python3"
                    probe.command.arguments = reach
                    lo = task("lo", offer, f"python3 -c '{OWN_LOOPBACK}'")
                    await driver.launch([offer.id.value], [probe, lo])
                    await rec.wait_state("lo", "TASK_FINISHED")
                    if expected == "TASK_FAILED":
                        # Its own network namespace: the host's 127.0.0.1 is another network.
                        failed = await rec.wait_state("probe", "TASK_FAILED")
                        assert failed.message == "Command exited with status 3"
                        assert "unreachable" in sandbox_file(c, "probe")
                    else:
                        await rec.wait_state("probe", "TASK_FINISHED")
                        assert "reached" in sandbox_file(c, "probe")
                    assert "loopback up" in sandbox_file(c, "lo")
    finally:
        listener.close()


SERVE_ONCE = (
    "import socket, sys; s = socket.socket(); "
    "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); print('listening', flush=True); "
    "c, _ = s.accept(); c.sendall(b'hello from inside ' + c.recv(100)); c.close()"
)


async def test_a_private_network_task_gets_its_ports_mapped() -> None:
    """With network/private, the task's ports are reachable on the agent's address: the
    launcher forwards host port P to port P on the task's own loopback."""
    import socket

    port = free_port()
    flags = ["--containerizers", "linux", "--isolation", "network/private"]
    res = f"cpus:2;mem:1024;disk:1000;ports:[{port}-{port}]"
    with LocalCluster(1, agent_flags=flags, agent_resources=res) as c:
        async with connected(c.master) as (driver, rec):
            offer = await rec.next_offer()
            server = task("server", offer, "", parse(f"cpus:0.1;mem:32;ports:[{port}-{port}]"))
            assert server.command is not None
            server.command.shell, server.command.value = False, "python3"
            server.command.arguments = ["python3", "-c", SERVE_ONCE, str(port)]
            await driver.launch([offer.id.value], [server])
            await rec.wait_state("server", "TASK_RUNNING")
            wait_until(lambda: "listening" in sandbox_file(c, "server"), 15, what="the server")

            def ask() -> bytes:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                    conn.sendall(b"via the host")
                    conn.shutdown(socket.SHUT_WR)
                    return conn.recv(100)

            assert await asyncio.to_thread(ask) == b"hello from inside via the host"
            await rec.wait_state("server", "TASK_FINISHED")
        # The task ended: its port is no longer held on the host.
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            wait_until(lambda: _binds(probe, port), 10, what="the host port released")


def _binds(sock: object, port: int) -> bool:
    import socket

    assert isinstance(sock, socket.socket)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


def busybox_rootfs(root: Path) -> Path:
    """A tiny root filesystem: a static busybox and its applets as symlinks."""
    busybox = shutil.which("busybox")
    if (
        busybox is None
        or "statically linked"
        not in subprocess.run(["file", "-L", busybox], capture_output=True, text=True).stdout
    ):
        pytest.skip("needs busybox-static (apt-get install busybox-static)")
    (root / "bin").mkdir(parents=True)
    shutil.copy2(busybox, root / "bin" / "busybox")
    bb = str(root / "bin" / "busybox")
    subprocess.run([bb, "--install", "-s", str(root / "bin")], check=True)
    for link in (root / "bin").iterdir():  # the applets point at the image's own busybox
        if link.is_symlink():
            link.unlink()
            link.symlink_to("busybox")
    (root / "etc").mkdir()
    (root / "etc" / "image-name").write_text("busybox test image\n")
    return root


IMAGE_SCRIPT = (
    "echo pid=$$; cat /etc/image-name; echo sandbox=$MESOS_SANDBOX; pwd; "
    "test -e /usr/bin/python3 && echo host-python || echo no-host-python; "
    "echo hello > $MESOS_SANDBOX/made-inside; echo scratch > /tmp/scratch; "
    "ls /proc | grep -c '^[0-9]'"
)


async def test_a_task_runs_in_its_image_root_filesystem(tmp_path: Path) -> None:
    import tarfile

    images = tmp_path / "images"
    images.mkdir()
    busybox_rootfs(images / "busybox-dir")
    with tarfile.open(images / "busybox.tar", "w") as tar:  # the same tree as a tarball
        tar.add(images / "busybox-dir", arcname=".")
    mounts_before = Path("/proc/self/mounts").read_text()
    flags = ["--containerizers", "linux", "--images-dir", str(images)]
    with LocalCluster(1, agent_flags=flags) as c:
        async with connected(c.master) as (driver, rec):
            offer = await rec.next_offer()
            tasks = []
            for tid, image in (
                ("from-tar", {"type": "DOCKER", "docker": {"name": "busybox:latest"}}),
                ("from-dir", {"type": "APPC", "appc": {"name": "busybox-dir"}}),
                ("missing", {"type": "DOCKER", "docker": {"name": "nope"}}),
            ):
                t = task(tid, offer, IMAGE_SCRIPT)
                t.container = convert({"type": "MESOS", "mesos": {"image": image}}, ContainerInfo)
                tasks.append(t)
            await driver.launch([offer.id.value], tasks)
            for tid in ("from-tar", "from-dir"):
                await rec.wait_state(tid, "TASK_FINISHED", timeout=30)
                out = sandbox_file(c, tid).split("\n")
                assert out[:6] == [
                    "pid=1",
                    "busybox test image",
                    "sandbox=/mnt/mesos/sandbox",
                    "/mnt/mesos/sandbox",
                    "no-host-python",
                    out[5],
                ]
                assert int(out[5]) <= 3  # its own /proc: sh, ls and grep
            failed = await rec.wait_state("missing", "TASK_FAILED")
            assert failed.reason == "REASON_CONTAINER_LAUNCH_FAILED"
            assert "image 'nope' not found in --images-dir" in (failed.message or "")
            state = http_json(f"http://127.0.0.1:{c.agents[0].port}/state")
            dirs = [ex["directory"] for f in state["frameworks"] for ex in f["executors"]]
            dirs += [
                ex["directory"] for f in state["completed_frameworks"] for ex in f["executors"]
            ]
            made = [Path(d, "made-inside") for d in dirs if Path(d, "made-inside").exists()]
            assert len(made) == 2 and all(m.read_text() == "hello\n" for m in made)
            # The image is untouched, and nothing of the containers is left mounted or on disk.
            assert not (images / "busybox-dir" / "tmp" / "scratch").exists()
            launcher_dir = c.agents[0].work_dir / "launcher"
            assert not list((launcher_dir / "rootfs").iterdir())
    assert Path("/proc/self/mounts").read_text() == mounts_before


async def test_an_image_cannot_aim_the_launcher_at_host_paths(tmp_path: Path) -> None:
    """The launcher mounts and copies at /mnt/mesos/... inside the image; an image whose /mnt
    is a symbolic link to a host directory is refused, and the host directory is untouched."""
    images, host_dir = tmp_path / "images", tmp_path / "host-dir"
    host_dir.mkdir()
    for name, link, target in (
        ("evil-mnt", "mnt", host_dir),
        ("evil-nsinit", "mnt/mesos/nsinit", host_dir / "victim"),
    ):
        root = busybox_rootfs(images / name)
        (root / link).parent.mkdir(parents=True, exist_ok=True)
        (root / link).symlink_to(target)
    (host_dir / "victim").write_text("host file\n")
    flags = ["--containerizers", "linux", "--images-dir", str(images)]
    with LocalCluster(1, agent_flags=flags) as c:
        async with connected(c.master) as (driver, rec):
            offer = await rec.next_offer()
            tasks = []
            for name in ("evil-mnt", "evil-nsinit"):
                t = task(name, offer, "echo ran", scalars(cpus=0.1, mem=32))
                t.container = ContainerInfo(
                    type="MESOS",
                    mesos=MesosInfo(image=Image(type="APPC", appc=ImageAppc(name=name))),
                )
                tasks.append(t)
            await driver.launch([offer.id.value], tasks)
            for name, where in (("evil-mnt", "/mnt"), ("evil-nsinit", "/mnt/mesos/nsinit")):
                failed = await rec.wait_state(name, "TASK_FAILED", timeout=30)
                assert failed.reason == "REASON_CONTAINER_LAUNCH_FAILED"
                assert f"symbolic link at {where}" in (failed.message or "")
    assert sorted(p.name for p in host_dir.iterdir()) == ["victim"]
    assert (host_dir / "victim").read_text() == "host file\n"


async def test_a_custom_executor_gets_cgroups_sized_by_it_and_its_tasks(
    linux: LocalCluster,
) -> None:
    from corral.wire.base import ID
    from corral.wire.tasks import CommandInfo, ExecutorInfo, TaskInfo

    port = linux.agents[0].port
    executor = ExecutorInfo(
        executor_id=ID("holder"),
        command=CommandInfo(value="sleep 300"),  # never subscribes; holds its container
        resources=scalars(cpus=0.1, mem=32).to_wire(),
    )

    def exec_task(tid: str, agent_id: ID, mem: float) -> TaskInfo:
        res = scalars(cpus=0.2, mem=mem).to_wire()
        return TaskInfo(
            name=tid, task_id=ID(tid), agent_id=agent_id, resources=res, executor=executor
        )

    def limit() -> int:
        for ctr in http_json(f"http://127.0.0.1:{port}/containers"):
            if ctr["executor_id"]["value"] == "holder" and ctr["statistics"].get("processes"):
                return int(ctr["statistics"]["mem_limit_bytes"])
        return 0

    async with connected(linux.master) as (driver, rec):
        offer = await rec.next_offer()
        await driver.launch([offer.id.value], [exec_task("e1", offer.agent_id, 64)], 0)
        wait_until(lambda: limit() == (32 + 64) << 20, 15, what="the executor's cgroup")
        offer = await rec.next_offer()
        await driver.launch([offer.id.value], [exec_task("e2", offer.agent_id, 100)])
        wait_until(lambda: limit() == (32 + 64 + 100) << 20, 15, what="the cgroup to grow")
    # The framework's teardown shut the executor down; the fixture checks its cgroups are gone.


async def test_usage_is_reported_to_the_master(linux: LocalCluster) -> None:
    """The agent reports each container's cgroup usage; the master shows it per task and
    totals it per agent in /master/state."""
    async with connected(linux.master) as (driver, rec):
        offer = await rec.next_offer()
        hog = "head -c 20000000 /dev/zero | tail -c 1 >/dev/null; sleep 300"
        await driver.launch([offer.id.value], [task("busy", offer, hog, scalars(cpus=0.5, mem=96))])
        await rec.wait_state("busy", "TASK_RUNNING")

        def reported() -> tuple[dict[str, int], dict[str, float]] | None:
            state = http_json(f"{linux.url}/master/state")
            (t,) = state["frameworks"][0]["tasks"]
            usage = state["slaves"][0].get("usage")
            if "statistics" not in t or not usage:
                return None
            return t["statistics"], usage

        stats, usage = wait_until(reported, 20, what="usage in /master/state")
        assert stats["mem_limit_bytes"] == 96 << 20
        assert stats["processes"] >= 1 and stats["cpus_time_ns"] > 0
        assert usage["containers"] == 1 and usage["processes"] >= 1


OWN_LIMITS = (
    "for c in memory cpu pids; do "
    'd=/sys/fs/cgroup/$c$(sed -n "s/^[0-9]*:$c:\\(.*\\)/\\1/p" /proc/self/cgroup); '
    "case $c in memory) cat $d/memory.limit_in_bytes $d/memory.memsw.limit_in_bytes;; "
    "cpu) cat $d/cpu.shares;; pids) cat $d/pids.max;; esac; done"
)


async def test_reused_cgroups_get_each_tasks_own_limits() -> None:
    """The launcher reuses the cgroups of ended containers (not with a CFS quota, whose
    counters cannot be reset): one after another, tasks with larger and smaller limits each find
    their own (memsw follows the memory limit both ways)."""
    flags = ["--containerizers", "linux", "--cgroups-pids-max", "64"]
    with LocalCluster(1, agent_flags=flags) as c:
        async with connected(c.master) as (driver, rec):
            names = set()
            for i, (cpus, mem) in enumerate(((0.1, 32), (1.0, 96), (0.5, 48), (0.25, 32))):
                offer = await rec.next_offer()
                while from_wire(offer.resources).scalar("cpus") < cpus:  # a remainder: next
                    offer = await rec.next_offer()
                tid = f"limits-{i}"
                script = OWN_LIMITS + "; grep :memory: /proc/self/cgroup"
                t = task(tid, offer, script, scalars(cpus=cpus, mem=mem))
                await driver.launch([offer.id.value], [t], refuse_seconds=0)
                await rec.wait_state(tid, "TASK_FINISHED")
                limit, memsw, shares, pids, cgroup = sandbox_file(c, tid).split()
                assert int(limit) == int(memsw) == mem << 20
                assert int(shares) == int(cpus * 1024)
                assert pids == "64"
                names.add(cgroup.rsplit("/", 1)[1])
            assert len(names) == 4  # each ran under its own container id
