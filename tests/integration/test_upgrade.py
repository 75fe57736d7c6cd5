"""`corral upgrade` end to end against real sshd "hosts": three masters with ZooKeeper and
two agents deployed, a long task running, a rolling upgrade to a wheel with a bumped
version, then every component at the new version and the task the same process, never
lost; and a failing step stops with exit 1 naming the host and the step."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd_hosts import SshHosts, serve_hosts, wheelhouse
from test_deploy import corral, in_sandboxes, inventory

from corral.deploy import wheel as wheel_mod
from corral.testing import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NEW = "0.1.1.dev42"


@pytest.fixture(scope="module")
def hosts() -> Iterator[SshHosts]:
    yield from serve_hosts(5)


def bumped_wheel(tmp: Path) -> Path:
    """A wheel of this checkout with the version bumped to NEW."""
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


def get(url: str) -> dict:  # type: ignore[type-arg]
    return json.load(urllib.request.urlopen(url, timeout=5))  # type: ignore[no-any-return]


@pytest.mark.zookeeper
@pytest.mark.timeout(300)
def test_rolling_upgrade_keeps_tasks(hosts: SshHosts, tmp_path: Path) -> None:
    inv = tmp_path / "inventory.toml"
    old = wheel_mod.build(tmp_path / "old")
    new = bumped_wheel(tmp_path)
    inv.write_text(inventory(hosts, agents=2, pip_args=wheelhouse(old, tmp_path / "wheelhouse")))
    first = corral("deploy", str(inv), "--wheel", str(old), "--timeout", "150")
    assert first.returncode == 0, first.stdout + first.stderr
    zk = "zk://" + ",".join(f"{h.address}:2181" for h in hosts.hosts[:3]) + "/corral"
    ran = corral("run", "--master", zk, "--detach", "--", "sleep", "600", timeout=90)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    sandboxes = [h.root / "var/lib/corral/agent/sandboxes" for h in hosts.hosts[3:5]]
    pids = wait_until(lambda: set().union(*(in_sandboxes(s) for s in sandboxes)), 15,
                      what="the task's process")  # fmt: skip

    def leader_state() -> dict | None:  # type: ignore[type-arg]
        for h in hosts.hosts[:3]:
            try:
                return get(f"http://{h.address}:5050/master/state")
            except OSError:
                continue
        return None

    state = wait_until(leader_state, 10, what="a leader")
    [task] = [t for f in state["frameworks"] for t in f["tasks"]]
    assert task["state"] == "TASK_RUNNING"

    up = corral("upgrade", str(inv), "--to", str(new), "--step-timeout", "60", timeout=280)
    out = up.stdout + up.stderr
    assert up.returncode == 0, out
    assert out.index("upgrade-standby") < out.index("handover") < out.index("upgrade-agent")
    for h in hosts.hosts[:3]:
        assert get(f"http://{h.address}:5050/version")["corral_version"] == NEW
    for h in hosts.hosts[3:5]:
        assert get(f"http://{h.address}:5051/version")["corral_version"] == NEW
    after = wait_until(leader_state, 10, what="a leader")
    tasks = [t for f in after["frameworks"] for t in f["tasks"]]
    assert [(t["id"], t["state"]) for t in tasks] == [(task["id"], "TASK_RUNNING")]
    # the new leader knows the task from the agent re-registering: its status history is
    # not carried across a leader change (may be empty); what was seen must show no loss
    states = [s["state"] for s in tasks[0].get("statuses", [])]
    assert not {"TASK_LOST", "TASK_FAILED", "TASK_KILLED"} & set(states), states
    assert set().union(*(in_sandboxes(s) for s in sandboxes)) == pids  # the same processes

    gone = corral("upgrade", str(inv), "--to", str(tmp_path / "corral-9-py3-none-any.whl"))
    assert gone.returncode == 1 and "is not a file" in gone.stdout + gone.stderr
    # a host made unreachable: its step fails, the upgrade stops naming it
    bad = tmp_path / "bad.toml"
    bad.write_text(inv.read_text().replace(f"port = {hosts.port}", "port = 1", 1))
    stopped = corral("upgrade", str(bad), "--to", str(new), timeout=120)
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "stopped" in stopped.stdout and "cannot connect over SSH" in stopped.stdout, (
        stopped.stdout
    )
