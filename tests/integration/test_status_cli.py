"""`corral status`, `corral version` and shell completion against a real cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from corral import __version__
from corral.testing import LocalCluster, free_port

pytestmark = pytest.mark.integration
CORRAL = [sys.executable, "-m", "corral"]


def corral(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CORRAL, *args], capture_output=True, text=True, timeout=60, env=env or dict(os.environ)
    )


def test_status_shows_the_cluster_in_one_screen(cluster: LocalCluster) -> None:
    run = corral("run", "--master", cluster.master, "--detach", "--name", "sleeper", "--",
                 "sleep 60")  # fmt: skip
    assert run.returncode == 0, run.stderr
    r = corral("status", "--master", cluster.master)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"leader      {cluster.master}  (corral {__version__}" in out
    assert "agents      1 active, 0 inactive, 0 unreachable" in out
    assert "tasks       1 running" in out
    assert "sleeper" in out
    doc = json.loads(corral("status", "--master", cluster.master, "--json").stdout)
    assert doc["leader"] == cluster.master and doc["masters"] == [cluster.master]
    assert doc["tasks"] == {"TASK_RUNNING": 1}
    (fw,) = [f for f in doc["frameworks"] if f["name"] == "sleeper"]
    assert fw["tasks"] == 1 and fw["cpus"] == pytest.approx(0.1)
    assert doc["resources"]["cpus"]["used"] == pytest.approx(0.1)
    assert doc["zookeeper"] is None


def test_version_names_client_and_master(cluster: LocalCluster) -> None:
    r = corral("version", "--master", cluster.master)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"corral {__version__}",
        f"master at {cluster.master}: corral {__version__}",
    ]
    r = corral("version", "--master", f"127.0.0.1:{free_port()}")
    assert r.returncode == 0 and "master: not reachable" in r.stdout


def test_runtime_failures_exit_1_and_bad_usage_2() -> None:
    r = corral("status", "--master", f"127.0.0.1:{free_port()}")
    assert r.returncode == 1 and "cannot reach" in r.stderr and "Traceback" not in r.stderr
    r = corral("agents", "--master", f"127.0.0.1:{free_port()}")
    assert r.returncode == 1
    r = corral("status", "--no-such-flag")
    assert r.returncode == 2 and "--no-such-flag" in r.stderr


def test_shell_completion_completes_commands() -> None:
    script = Path(sys.executable).with_name("corral")
    if not script.exists():
        pytest.skip(f"no corral console script beside {sys.executable}")
    env = {**os.environ, "_CORRAL_COMPLETE": "complete_bash", "COMP_WORDS": "corral sta",
           "COMP_CWORD": "1"}  # fmt: skip
    r = subprocess.run([str(script)], capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0 and r.stdout.split() == ["status"], r.stdout + r.stderr
    r = subprocess.run([str(script), "--show-completion", "bash"], capture_output=True,
                       text=True, timeout=30)  # fmt: skip
    assert "_corral_completion" in r.stdout
