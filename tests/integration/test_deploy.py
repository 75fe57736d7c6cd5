"""`corral deploy` end to end against real sshd "hosts" on this machine: three masters with
ZooKeeper on the same hosts (the second with the jobs framework) and one agent, a task run
through zk://, a second deploy that changes nothing, and a second agent added by editing the
inventory."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sshd_hosts import SshHosts, deployed_pids, serve_hosts, wheelhouse

from corral.deploy import wheel as wheel_mod
from corral.testing import wait_until

pytestmark = pytest.mark.integration

SRC = str(Path(__file__).resolve().parents[2] / "src")


def inventory(
    hosts: SshHosts,
    agents: int,
    pip_args: tuple[str, ...] = (),
    extra_roles: dict[int, list[str]] | None = None,
) -> str:
    """Hosts 0-2: ZooKeeper and a master; then `agents` agents; `extra_roles` adds roles
    (e.g. services) to hosts by index."""
    lines = [
        "[cluster]",
        f'python = "{sys.executable}"',
        f"pip_args = {json.dumps(list(pip_args))}",
        "zk_tick_ms = 500",
        'master_flags = ["--zk-session-timeout", "4"]',
        'services_flags = ["--zk-session-timeout", "4"]',
        'agent_flags = ["--containerizers", "process"]',
        "",
        "[ssh]",
        'user = "root"',
        f"port = {hosts.port}",
        f'key = "{hosts.key}"',
        "known_hosts = false",
    ]
    for i, h in enumerate(hosts.hosts[: 3 + agents]):
        roles = ["zookeeper", "master"] if i < 3 else ["agent"]
        roles += (extra_roles or {}).get(i, [])
        lines += [
            "",
            "[[hosts]]",
            f'name = "{h.name}"',
            f'address = "{h.address}"',
            f"roles = {json.dumps(roles)}",
            f'root = "{h.root}"',
        ]
        if i >= 3:
            lines += [
                'resources = "cpus:2;mem:1024;disk:1000"',
                f'attributes = {{ rack = "r{i}" }}',
            ]
    return "\n".join(lines) + "\n"


def corral(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "corral", *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


def in_sandboxes(sandboxes: Path) -> set[int]:
    """Processes running in a task sandbox under `sandboxes`."""
    out = set()
    for p in psutil.process_iter(["pid", "cwd"]):
        if (p.info.get("cwd") or "").startswith(str(sandboxes) + "/"):
            out.add(p.info["pid"])
    return out


@pytest.fixture(scope="module")
def hosts() -> Iterator[SshHosts]:
    yield from serve_hosts(5)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wheel_mod.build(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def pip_args(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    return wheelhouse(wheel, tmp_path_factory.mktemp("wheelhouse"))


JOBS = {1: ["jobs"]}  # the jobs framework beside the second master


@pytest.mark.zookeeper
@pytest.mark.timeout(300)
def test_deploy_run_redeploy_and_grow(
    hosts: SshHosts, wheel: Path, pip_args: tuple[str, ...], tmp_path: Path
) -> None:
    inv = tmp_path / "inventory.toml"
    inv.write_text(inventory(hosts, agents=1, pip_args=pip_args, extra_roles=JOBS))

    checked = corral("deploy", str(inv), "--wheel", str(wheel), "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "would install corral" in checked.stdout
    assert not list(hosts.hosts[0].root.glob("opt/corral/venv")), "--check changed a host"

    first = corral("deploy", str(inv), "--wheel", str(wheel), "--timeout", "150")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "healthy" in first.stdout and "1/1 frameworks registered" in first.stdout
    jobs = json.load(urllib.request.urlopen(f"http://{hosts.hosts[1].address}:4400/version"))
    assert jobs["leading"] is True  # its API answers, and it leads (one instance)
    for h in hosts.hosts[:4]:
        assert deployed_pids(h.root), f"{h.name}: nothing running"
    zk = "zk://" + ",".join(f"{h.address}:2181" for h in hosts.hosts[:3]) + "/corral"

    status = corral("status", "--master", zk, "--json", timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    doc = json.loads(status.stdout)
    assert doc["leader"].split(":")[0] in {h.address for h in hosts.hosts[:3]}
    assert doc["agents"]["active"] == 1
    # the deployed services run the wheel installed in each host's venv, not this checkout
    venv_python = hosts.hosts[0].root / "opt/corral/venv/bin/python"
    where = subprocess.run(
        [str(venv_python), "-c", "import corral; print(corral.__file__)"],
        capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, check=True,
    )  # fmt: skip
    assert where.stdout.startswith(str(hosts.hosts[0].root)), where.stdout
    state = json.load(urllib.request.urlopen(f"http://{doc['leader']}/master/state", timeout=5))
    [agent] = state["slaves"]
    assert agent["hostname"] == hosts.hosts[3].address
    assert agent["attributes"] == {"rack": "r3"}
    assert agent["resources"]["cpus"] == 2

    ran = corral("run", "--master", zk, "--", "echo", "hi", timeout=90)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "hi" in ran.stdout

    # the agent's supervisor restarts a killed agent; its task keeps running under the launcher
    detached = corral("run", "--master", zk, "--detach", "--", "sleep", "300", timeout=90)
    assert detached.returncode == 0, detached.stdout + detached.stderr
    agent_state = hosts.hosts[3].root / "run/corral/agent.state"
    killed = json.loads(agent_state.read_text())["child"]
    sandboxes = hosts.hosts[3].root / "var/lib/corral/agent/sandboxes"
    task_pids = wait_until(lambda: in_sandboxes(sandboxes), 10, what="the task's process")
    os.kill(killed, signal.SIGKILL)
    wait_until(lambda: json.loads(agent_state.read_text()).get("child") not in (None, killed),
               15, what="the supervisor restarting the agent")  # fmt: skip
    leader = f"http://{doc['leader']}/master/state"

    def running_task_on_active_agent() -> bool:
        state = json.load(urllib.request.urlopen(leader, timeout=5))
        tasks = [t for f in state["frameworks"] for t in f["tasks"]]
        return bool(state["slaves"][0]["active"]) and any(
            t["state"] == "TASK_RUNNING" for t in tasks
        )

    wait_until(running_task_on_active_agent, 30, what="the agent back with its task running")
    assert in_sandboxes(sandboxes) == task_pids  # the same processes: not restarted

    again = corral("deploy", str(inv), "--wheel", str(wheel), "--timeout", "60")
    assert again.returncode == 0, again.stdout + again.stderr
    for h in hosts.hosts[:4]:
        assert f"{h.name}" in again.stdout
    assert again.stdout.count("unchanged") >= 8, again.stdout  # a line and a table row per host
    assert "install" not in again.stdout and "restart" not in again.stdout, again.stdout

    inv.write_text(inventory(hosts, agents=2, pip_args=pip_args, extra_roles=JOBS))
    grown = corral("deploy", str(inv), "--wheel", str(wheel), "--timeout", "120")
    assert grown.returncode == 0, grown.stdout + grown.stderr
    assert "2/2 agents registered" in grown.stdout, grown.stdout
    # only the new host changed
    for h in hosts.hosts[:4]:
        assert f"{h.name:<10} unchanged" in grown.stdout, grown.stdout
    assert deployed_pids(hosts.hosts[4].root)


def test_invalid_inventory_names_line_and_field(tmp_path: Path) -> None:
    inv = tmp_path / "bad.toml"
    inv.write_text('[[hosts]]\nname = "a"\naddress = "10.0.0.1"\nroles = ["mastr"]\n')
    done = corral("deploy", str(inv), "--check")
    assert done.returncode == 2
    assert "bad.toml:4: hosts[0] (a).roles: unknown role 'mastr'" in done.stderr + done.stdout


def test_an_unreachable_host_fails_naming_it(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    inv = tmp_path / "inv.toml"
    inv.write_text(
        f"[ssh]\nport = {port}\nknown_hosts = false\n"
        '[[hosts]]\nname = "gone"\naddress = "127.0.0.1"\nroles = ["master"]\n'
    )
    done = corral("deploy", str(inv), "--check", "--wheel", str(wheel_stub(tmp_path)))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"gone: cannot connect over SSH to root@127.0.0.1:{port}" in done.stdout


def wheel_stub(tmp: Path) -> Path:
    """A minimal file with a wheel's RECORD: enough for --check, which installs nothing."""
    path = tmp / "corral-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("corral-0.0.0.dist-info/RECORD", "corral/__init__.py,,\n")
    return path
