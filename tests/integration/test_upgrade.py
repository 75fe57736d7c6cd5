"""`corral upgrade` end to end against real sshd "hosts": three masters with ZooKeeper (the
first also running the services framework, the second the jobs framework) and two agents
deployed; a long task, a services app
and a task that ends while its agent is being upgraded; a rolling upgrade to a bumped
version fetched by pip (`--to VERSION --find-links DIR --no-index`); then every component at
the new version, the long task and the app's task the same processes, the ended task's
TASK_FINISHED delivered, the frameworks the same ones; and a failing step stops with exit 1
naming the host and the step."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from sshd_hosts import SshHosts, serve_hosts, wheelhouse
from test_deploy import corral, in_sandboxes, inventory

from corral.deploy import wheel as wheel_mod
from corral.testing import pid_alive, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NEW = "0.1.1.dev42"


@pytest.fixture(scope="module")
def hosts() -> Iterator[SshHosts]:
    yield from serve_hosts(5)


def bumped_wheel(tmp: Path) -> Path:
    """A wheel of this checkout with the version bumped to NEW, alone in its directory."""
    copy = tmp / "tree"
    shutil.copytree(ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, copy / name)
    py = copy / "pyproject.toml"
    py.write_text(re.sub(r'(?m)^version = ".*"', f'version = "{NEW}"', py.read_text(), count=1))
    init = copy / "src/corral/__init__.py"
    init.write_text(re.sub(r'__version__ = ".*"', f'__version__ = "{NEW}"', init.read_text()))
    out = tmp / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
         "-q", "-w", str(out), str(copy)], check=True, capture_output=True,
    )  # fmt: skip
    [whl] = out.glob(f"corral-{NEW}-*.whl")
    return whl


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def task_pids(sandboxes: list[Path]) -> dict[str, set[int]]:
    """Task id -> the processes running in its sandbox (from their MESOS_TASK_ID)."""
    out: dict[str, set[int]] = {}
    for box in sandboxes:
        for pid in in_sandboxes(box):
            try:
                task = psutil.Process(pid).environ().get("MESOS_TASK_ID")
            except psutil.Error:
                continue
            if task:
                out.setdefault(task, set()).add(pid)
    return out


def cmdline(pid: int) -> list[str]:
    try:
        return psutil.Process(pid).cmdline()
    except psutil.Error:
        return []


def leader_state(hosts: SshHosts) -> dict[str, Any] | None:
    for h in hosts.hosts[:3]:
        try:
            return get(f"http://{h.address}:5050/master/state")  # type: ignore[no-any-return]
        except OSError:
            continue
    return None


def all_tasks(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for f in state["frameworks"]
            for t in [*f.get("completed_tasks", []), *f["tasks"]]}  # fmt: skip


@pytest.mark.zookeeper
@pytest.mark.timeout(300)
def test_rolling_upgrade_keeps_tasks_updates_and_the_framework(
    hosts: SshHosts, tmp_path: Path
) -> None:
    inv = tmp_path / "inventory.toml"
    old = wheel_mod.build(tmp_path / "old")
    new = bumped_wheel(tmp_path)
    pip_args = wheelhouse(old, tmp_path / "wheelhouse")
    roles = {0: ["services"], 1: ["jobs"]}
    inv.write_text(inventory(hosts, agents=2, pip_args=pip_args, extra_roles=roles))
    first = corral("deploy", str(inv), "--wheel", str(old), "--timeout", "150")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "2/2 frameworks registered" in first.stdout, first.stdout
    zk = "zk://" + ",".join(f"{h.address}:2181" for h in hosts.hosts[:3]) + "/corral"
    api = f"http://{hosts.hosts[0].address}:8080"

    # a long task, a task that ends when FLAG appears, and a services app
    ran = corral("run", "--master", zk, "--detach", "--", "sleep", "600", timeout=90)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    flag = tmp_path / "flag"
    ending = corral("run", "--master", zk, "--detach", "--", "sh", "-c",
                    f"while [ ! -e {flag} ]; do sleep 0.05; done", timeout=90)  # fmt: skip
    assert ending.returncode == 0, ending.stdout + ending.stderr
    app = {"id": "/web", "cmd": "sleep 601", "cpus": 0.1, "mem": 32, "instances": 1}
    req = urllib.request.Request(f"{api}/v2/apps", json.dumps(app).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    urllib.request.urlopen(req, timeout=10).close()
    sandboxes = [h.root / "var/lib/corral/agent/sandboxes" for h in hosts.hosts[3:5]]

    def three() -> dict[str, set[int]] | None:
        found = task_pids(sandboxes)
        return found if len(found) == 3 else None

    pids = wait_until(three, 30, what="three tasks' processes")
    state = wait_until(lambda: leader_state(hosts), 10, what="a leader")
    tasks = all_tasks(state)
    assert {t["state"] for t in tasks.values()} == {"TASK_RUNNING"}, tasks
    [web] = [t for t in tasks if t.startswith("web.")]
    [sh] = [t for t in tasks if any("while" in " ".join(cmdline(p)) for p in pids[t])]
    [long] = set(tasks) - {web, sh}
    ids = {f["name"]: f["id"] for f in state["frameworks"] if f["name"] in ("services", "jobs")}
    # the ending task ends while its agent's old process is gone (being replaced)
    agent_host = next(h for h in hosts.hosts[3:5]
                      if h.address == next(a["hostname"] for a in state["slaves"]
                                           if a["id"] == tasks[sh]["slave_id"]))  # fmt: skip
    old_agent = json.loads((agent_host.root / "run/corral/agent.state").read_text())["child"]
    done = threading.Event()

    def finish_when_the_agent_goes() -> None:
        while not done.is_set():
            if not pid_alive(old_agent):
                flag.touch()
                return
            done.wait(0.02)

    watcher = threading.Thread(target=finish_when_the_agent_goes, daemon=True)
    watcher.start()
    up = corral("upgrade", str(inv), "--to", NEW, "--find-links", str(new.parent),
                "--no-index", "--step-timeout", "60", timeout=280)  # fmt: skip
    done.set()
    watcher.join()
    out = up.stdout + up.stderr
    assert up.returncode == 0, out
    assert flag.exists(), "the agent's old process never went: " + out
    assert (out.index("upgrade-standby") < out.index("handover") < out.index("upgrade-agent")
            < out.index("upgrade-framework")), out  # fmt: skip
    assert out.index("services re-registered as " + ids["services"]) < out.index(
        "jobs re-registered as " + ids["jobs"]
    ), out
    for port, group in ((5050, hosts.hosts[:3]), (5051, hosts.hosts[3:5]), (8080, hosts.hosts[:1]),
                        (4400, hosts.hosts[1:2])):  # fmt: skip
        for h in group:
            assert get(f"http://{h.address}:{port}/version")["corral_version"] == NEW, (h, port)

    def finished_delivered() -> dict[str, Any] | None:
        after = leader_state(hosts)
        if after is None or all_tasks(after).get(sh, {}).get("state") != "TASK_FINISHED":
            return None
        return after

    after = wait_until(finished_delivered, 30, what=f"{sh} TASK_FINISHED at the leader")
    now = all_tasks(after)
    assert now[long]["state"] == now[web]["state"] == "TASK_RUNNING", now
    # the same framework, subscribed again, and no new task of the app (not restarted)
    [fw] = [f for f in after["frameworks"] if f["name"] == "services"]
    assert fw["id"] == ids["services"] and fw["active"], fw
    assert [t["id"] for t in fw["tasks"]] == [web], fw["tasks"]
    # the same processes: every one seen before still runs (a restart would have new pids)
    later = task_pids(sandboxes)
    assert set(later) == {long, web}, (later, pids)
    assert pids[long] <= later[long] and pids[web] <= later[web], (later, pids)
    # and the framework itself (the upgrade waited for it ready) knows the task, running
    seen = [(t["id"], t.get("state")) for t in get(f"{api}/v2/apps/web/tasks")["tasks"]]
    assert seen == [(web, "TASK_RUNNING")], seen
    print(out)  # the upgrade's progress, per step (shown with -s)

    # a host made unreachable: its step fails, the upgrade stops naming it
    bad = tmp_path / "bad.toml"
    bad.write_text(inv.read_text().replace(f"port = {hosts.port}", "port = 1", 1))
    stopped = corral("upgrade", str(bad), "--to", str(new), timeout=120)
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "stopped" in stopped.stdout and "cannot connect over SSH" in stopped.stdout, (
        stopped.stdout
    )
