"""Masters in HA on a real 3-node ZooKeeper ensemble: election, redirects, failover with
nothing lost, agents that never return, no split brain, quorum loss."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from recorder import connected, task
from tcp_proxy import ThreadedTcpProxy

from corral.testing import LocalCluster, http_json, pid_alive, wait_until
from corral.testing.zookeeper import ZkEnsemble

pytestmark = [pytest.mark.integration, pytest.mark.zookeeper]

HA_FLAGS = ["--agent-ping-timeout", "1", "--max-agent-ping-timeouts", "3"]


def wait_new_leader(ha: LocalCluster, old: int, timeout: float = 20) -> int:
    def changed() -> bool:
        i = ha.leader_index()
        return i is not None and i != old

    wait_until(changed, timeout, what="a new leader")
    new = ha.leader_index()
    assert new is not None
    return new


def get(port: int, path: str, method: str = "GET", body: bytes | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    location = resp.getheader("Location") or ""
    conn.close()
    return resp.status, location


@pytest.fixture
def ha(zk: ZkEnsemble) -> Iterator[LocalCluster]:
    path = f"/corral-{uuid.uuid4().hex[:8]}"
    with LocalCluster(
        1,
        masters=3,
        zk=zk.url(path),
        master_flags=[*HA_FLAGS, "--agent-reregister-timeout", "3"],
        agent_flags=["--status-update-retry", "1"],
    ) as c:
        yield c


def test_one_leader_standbys_redirect_and_mesos_nodes(ha: LocalCluster, zk: ZkEnsemble) -> None:
    leader = ha.leader()
    li = ha.leader_index()
    assert leader is not None and li is not None
    for i, port in enumerate(ha.ports):
        if i == li:
            assert get(port, "/master/state")[0] == 200
            continue
        for method, path, body in [
            ("GET", "/master/state", None),
            ("POST", "/api/v1/scheduler", b"{}"),
            ("POST", "/api/v1", b'{"type":"GET_HEALTH"}'),
            ("GET", "/master/agent", None),
        ]:
            status, location = get(port, path, method, body)
            assert status == 307, (port, path)
            assert location == f"//{leader}{path}"
        assert get(port, "/health")[0] == 200
    # ZooKeeper holds exactly what Mesos (and pymesos) expect: json.info_ nodes + log_replicas.
    assert ha.zk is not None
    path = "/" + ha.zk.rsplit("/", 1)[1]
    client = KazooClient(hosts=zk.hosts)
    client.start(timeout=10)
    try:
        children = client.get_children(path)
        infos = sorted(c for c in children if c.startswith("json.info_"))
        assert len(infos) == 3 and set(children) - set(infos) <= {"log_replicas"}
        data, _ = client.get(f"{path}/{min(c for c in children if c != 'log_replicas')}")
        info = json.loads(data)
        assert f"{info['address']['ip']}:{info['address']['port']}" == leader
        assert info["version"] == "1.11.0" and info["pid"] == f"master@{leader}"
    finally:
        client.stop()
        client.close()


async def test_failover_keeps_tasks_and_delivers_updates(ha: LocalCluster) -> None:
    assert ha.zk is not None
    async with connected(ha.zk, failover_timeout=120) as (driver, rec):
        offer = await rec.next_offer()
        await driver.launch(
            [offer.id.value],
            [
                task("long", offer, "echo $$ > pid; sleep 300"),
                task("gap", offer, "while [ ! -f go ]; do sleep 0.02; done"),
            ],
        )
        await rec.wait_state("long", "TASK_RUNNING")
        await rec.wait_state("gap", "TASK_RUNNING")
        agent_state = http_json(f"http://127.0.0.1:{ha.agents[0].port}/state")
        dirs = {
            t["id"]: ex["directory"]
            for f in agent_state["frameworks"]
            for ex in f["executors"]
            for t in ex["tasks"]
        }
        pid = int(wait_until(lambda: Path(dirs["long"], "pid").read_text(), 10, what="pid"))
        old = ha.leader_index()
        assert old is not None
        agent_id = ha.state()["slaves"][0]["id"]

        ha.kill_master(old)
        Path(dirs["gap"], "go").touch()  # finishes while there is no leader
        new = wait_new_leader(ha, old)
        assert new != old
        await rec.wait_for(lambda: len(rec.framework_ids) >= 2, 20, "re-subscription")
        assert len(set(rec.framework_ids)) == 1
        finished = await rec.wait_state("gap", "TASK_FINISHED", timeout=20)
        assert finished.uuid is not None
        wait_until(
            lambda: [s["id"] for s in ha.state()["slaves"]] == [agent_id],
            20,
            what="the agent to re-register with its id",
        )
        # A task that ended during the gap is known as ended, never TASK_GONE.
        await driver.reconcile([("gap", agent_id)])
        gap = await rec.wait_for(
            lambda: [
                u
                for u in rec.updates
                if u.task_id.value == "gap" and u.reason == "REASON_RECONCILIATION"
            ],
            10,
            "reconciliation of the task that ended during the gap",
        )
        assert gap[-1].state == "TASK_FINISHED"
        await driver.reconcile()
        running = await rec.wait_for(
            lambda: [
                u
                for u in rec.updates
                if u.task_id.value == "long" and u.reason == "REASON_RECONCILIATION"
            ],
            10,
            "reconciliation",
        )
        assert running[-1].state == "TASK_RUNNING"
        assert pid_alive(pid)
        # One FINISHED update, delivered at least once (a resend repeats the same uuid).
        finished_uuids = {
            u.uuid
            for u in rec.updates
            if u.task_id.value == "gap" and u.uuid and u.state == "TASK_FINISHED"
        }
        assert len(finished_uuids) == 1
        # The new leader launches new work.
        offer = await rec.next_offer(20)
        await driver.launch([offer.id.value], [task("after", offer, "true")])
        await rec.wait_state("after", "TASK_FINISHED")
        await driver.kill("long")
        await rec.wait_state("long", "TASK_KILLED")


async def test_agent_that_never_returns_becomes_unreachable(zk: ZkEnsemble, tmp_path: Path) -> None:
    path = f"/corral-{uuid.uuid4().hex[:8]}"
    with LocalCluster(
        2,
        work_dir=tmp_path,
        masters=2,
        zk=zk.url(path),
        master_flags=[*HA_FLAGS, "--agent-reregister-timeout", "2"],
        agent_flags=["--log-level", "debug"],
    ) as ha:
        assert ha.zk is not None
        async with connected(ha.zk, failover_timeout=120) as (driver, rec):
            first = await rec.next_offer()
            second = await rec.next_offer()
            await driver.launch([first.id.value], [task("here", first, "sleep 300")])
            await driver.launch([second.id.value], [task("there", second, "sleep 300")])
            await rec.wait_state("here", "TASK_RUNNING")
            await rec.wait_state("there", "TASK_RUNNING")
            by_id = {s["id"]: s for s in ha.state()["slaves"]}
            gone_agent = next(
                a for a in ha.agents if by_id[second.agent_id.value]["port"] == a.port
            )
            os.kill(gone_agent.pid, signal.SIGSTOP)
            try:
                old = ha.leader_index()
                assert old is not None
                ha.kill_master(old)
                await rec.wait_for(lambda: len(rec.framework_ids) >= 2, 20, "re-subscription")

                # After --agent-reregister-timeout the silent agent is unreachable.
                def unreachable() -> bool:
                    return bool(ha.state()["unreachable_slaves"])

                wait_until(unreachable, 20, what="the silent agent marked unreachable")
                await driver.reconcile([("there", second.agent_id.value)])
                status = await rec.wait_for(
                    lambda: [
                        u
                        for u in rec.updates
                        if u.task_id.value == "there" and u.reason == "REASON_RECONCILIATION"
                    ],
                    10,
                    "reconcile",
                )
                assert status[-1].state == "TASK_UNREACHABLE"
            finally:
                os.kill(gone_agent.pid, signal.SIGCONT)
            await driver.kill("here")
            await rec.wait_state("here", "TASK_KILLED")


def test_no_split_brain_when_the_leader_is_partitioned_from_zookeeper(
    zk: ZkEnsemble, tmp_path: Path
) -> None:
    path = f"/corral-{uuid.uuid4().hex[:8]}"
    proxies = [[ThreadedTcpProxy(n.client_port).start() for n in zk.nodes] for _ in range(3)]
    urls = ["zk://" + ",".join(f"127.0.0.1:{p.port}" for p in ps) + path for ps in proxies]
    try:
        with LocalCluster(
            0,
            masters=3,
            zk=zk.url(path),
            zk_per_master=urls,
            master_flags=HA_FLAGS,
            work_dir=tmp_path,
        ) as ha:
            old = ha.leader_index()
            assert old is not None
            violations: list[list[int]] = []
            leaders_seen: set[int] = set()
            stop = threading.Event()

            def watch() -> None:
                while not stop.is_set():
                    serving = []
                    for i, port in enumerate(ha.ports):
                        try:
                            if get(port, "/master/state")[0] == 200:
                                serving.append(i)
                        except OSError:
                            pass
                    leaders_seen.update(serving)
                    if len(serving) > 1:
                        violations.append(serving)

            watcher = threading.Thread(target=watch)
            watcher.start()
            try:
                wait_until(lambda: old in leaders_seen, 10, what="the watcher to see the leader")
                for p in proxies[old]:
                    p.partition()
                # The old leader stops at once (suspended), and is not 200 while partitioned.
                wait_until(
                    lambda: get(ha.ports[old], "/master/state")[0] != 200,
                    5,
                    what="the partitioned leader to stop acting",
                )
                assert get(ha.ports[old], "/health")[0] == 503
                new = wait_new_leader(ha, old)
                for p in proxies[old]:
                    p.heal()
                # Back, the old leader is a standby that redirects to the new one.
                wait_until(
                    lambda: get(ha.ports[old], "/master/state")[0] == 307,
                    20,
                    what="the old leader to rejoin as standby",
                )
                assert ha.leader_index() == new
                wait_until(
                    lambda: new in leaders_seen, 10, what="the watcher to see the new leader"
                )
            finally:
                stop.set()
                watcher.join(10)
            assert violations == []
            assert leaders_seen >= {old, new}
    finally:
        for ps in proxies:
            for p in ps:
                p.stop()


async def test_quorum_loss_keeps_tasks_and_recovers() -> None:
    with (
        ZkEnsemble(3) as zk3,
        LocalCluster(
            1,
            masters=3,
            zk=zk3.url("/corral"),
            master_flags=HA_FLAGS,
            agent_flags=["--status-update-retry", "1"],
        ) as ha,
    ):
        assert ha.zk is not None
        async with connected(ha.zk, failover_timeout=300) as (driver, rec):
            offer = await rec.next_offer()
            await driver.launch([offer.id.value], [task("steady", offer, "sleep 300")])
            await rec.wait_state("steady", "TASK_RUNNING")
            # One of three ZooKeeper nodes down: everything still works.
            zk3.kill_node(zk3.nodes[0])
            offer = await rec.next_offer(20)
            await driver.launch([offer.id.value], [task("one-down", offer, "true")])
            await rec.wait_state("one-down", "TASK_FINISHED", timeout=20)
            # Two down: no quorum, no leader; the operator sees why; tasks keep running.
            zk3.kill_node(zk3.nodes[1])
            wait_until(
                lambda: all(get(p, "/health")[0] == 503 for p in ha.ports),
                15,
                what="every master to report the lost quorum",
            )
            assert all(get(p, "/master/state")[0] in (503, 307) for p in ha.ports)
            state = http_json(f"http://127.0.0.1:{ha.agents[0].port}/state")
            assert [
                t["id"] for f in state["frameworks"] for e in f["executors"] for t in e["tasks"]
            ] == ["steady"]
            zk3.start_node(zk3.nodes[0])
            zk3.start_node(zk3.nodes[1])
            zk3.wait_serving(3)
            wait_until(ha.leader, 30, what="a leader after the quorum returned")
            wait_until(lambda: len(ha.state()["slaves"]) == 1, 30, what="the agent back")
            # The framework keeps (or re-establishes) its subscription with the leader.
            wait_until(
                lambda: [f for f in ha.state()["frameworks"] if f["connected"]],
                30,
                what="the framework connected to the leader",
            )
            await driver.reconcile()
            await rec.wait_for(
                lambda: [
                    u
                    for u in rec.updates
                    if u.task_id.value == "steady"
                    and u.reason == "REASON_RECONCILIATION"
                    and u.state == "TASK_RUNNING"
                ],
                10,
                "steady still running",
            )
            await driver.kill("steady")
            await rec.wait_state("steady", "TASK_KILLED", timeout=20)


def test_pymesos_finds_the_leader_through_zookeeper(ha: LocalCluster, tmp_path: Path) -> None:
    pytest.importorskip("pymesos")
    assert ha.zk is not None
    script = Path(__file__).parent.parent / "compat" / "pymesos_scheduler.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), "command", ha.zk, "40", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ok"], result


def test_corral_up_with_three_masters(tmp_path: Path) -> None:
    from corral.testing import free_port
    from corral.testing.zookeeper import zookeeper_available

    if zookeeper_available():
        pytest.skip(zookeeper_available() or "")
    port = free_port()
    env = {**os.environ, "CORRAL_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "corral",
            "up",
            "--masters",
            "3",
            "--agents",
            "1",
            "--port",
            str(port),
            "--services-port",
            str(free_port()),
            "--jobs-port",
            str(free_port()),
            "--no-batch",
            "--work-dir",
            str(tmp_path / "cluster"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Ctrl-C" in line or not line:
                break
        assert any("corral cluster up" in ln for ln in lines), "".join(lines)
        assert "zk://" in "".join(lines)
        # The frameworks follow the leading master through ZooKeeper too.
        assert "services: page" in "".join(lines) and "jobs: page" in "".join(lines)
        cluster_file = json.loads((tmp_path / "home" / "cluster.json").read_text())
        run = subprocess.run(
            [sys.executable, "-m", "corral", "run", "--", "true"],
            env=env,
            timeout=60,
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert cluster_file["master"].startswith("zk://")
        # `corral status` through ZooKeeper: the three masters and a healthy quorum.
        status = subprocess.run(
            [sys.executable, "-m", "corral", "status"],
            env=env,
            timeout=60,
            capture_output=True,
            text=True,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        assert "masters     3: " in status.stdout and "(leading)" in status.stdout
        assert "3 of 3 servers serving: quorum healthy" in status.stdout, status.stdout
        # Killing the leading master is a failover, not the end of the cluster.
        leader = http_leader(port)
        (victim,) = [
            pid for pid, argv in descendants(proc.pid) if "master" in argv and str(leader) in argv
        ]
        os.kill(victim, signal.SIGKILL)
        said = ""
        deadline = time.monotonic() + 60
        while "the leading master is now" not in said and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            said += line
        assert "2 of 3 masters remain and elect a leader (failover)" in said, said
        assert "the leading master is now http://127.0.0.1:" in said, said
        assert proc.poll() is None
        run = subprocess.run(
            [sys.executable, "-m", "corral", "run", "--", "true"],
            env=env,
            timeout=60,
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stdout + run.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


def http_leader(port: int) -> int:
    """The leading master's port, asked of the master on ``port``."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/master/redirect")
    location = conn.getresponse().getheader("Location") or ""
    conn.close()
    return int(location.lstrip("/").split("/", 1)[0].rsplit(":", 1)[1])


def descendants(pid: int) -> list[tuple[int, list[str]]]:
    """The processes under ``pid`` (ours: `corral up` started them), with their argv."""
    out: list[tuple[int, list[str]]] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for thread in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(c) for c in (thread / "children").read_text().split()]
            except OSError:
                continue
            for kid in kids:
                try:
                    argv = Path(f"/proc/{kid}/cmdline").read_text().split("\0")
                except OSError:
                    continue
                out.append((kid, argv))
                todo.append(kid)
    return out
