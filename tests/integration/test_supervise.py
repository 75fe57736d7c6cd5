"""`corral supervise`: a service restarted when it exits, stopped by --stop, and with
kill_mode "process" a stop that leaves the service's own detached children alone (as an
agent's launcher and tasks must survive an agent restart)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from corral.deploy.render import Service
from corral.testing import pid_alive, wait_until

pytestmark = pytest.mark.integration

SRC = str(Path(__file__).resolve().parents[2] / "src")


def supervise(spec: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral", "supervise", str(spec), *flags],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": SRC},
    )  # fmt: skip


def state(tmp: Path) -> dict[str, int]:
    try:
        doc: dict[str, int] = json.loads((tmp / "svc.state").read_text())
        return doc
    except (OSError, ValueError):
        return {}


def write_spec(tmp: Path, script: str, kill_mode: str) -> Path:
    service = Service(
        "svc", (sys.executable, "-c", script), str(tmp / "svc.log"), kill_mode=kill_mode,
        stop_timeout=3.0,
    )  # fmt: skip
    spec = tmp / "svc.json"
    spec.write_text(service.spec_json(str(tmp / "svc.state")))
    return spec


def test_restarts_on_exit_and_stops(tmp_path: Path) -> None:
    # the service runs a second, then exits: the supervisor starts it again
    spec = write_spec(tmp_path, "import time; time.sleep(1)", "control-group")
    started = supervise(spec, "--restart")
    assert started.returncode == 0, started.stderr
    pid = state(tmp_path)["pid"]
    try:
        first = wait_until(lambda: state(tmp_path).get("child"), 10)
        wait_until(lambda: state(tmp_path).get("restarts", 0) >= 1, 10)
        second = wait_until(lambda: state(tmp_path).get("child"), 10)
        assert second != first
        assert "restarting in 0.5 s" in (tmp_path / "svc.log").read_text()
        # --restart replaces the supervisor
        again = supervise(spec, "--restart")
        assert again.returncode == 0, again.stderr
        assert not pid_alive(pid)
        pid = state(tmp_path)["pid"]
    finally:
        stopped = supervise(spec, "--stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not pid_alive(pid)
    assert not (tmp_path / "svc.state").exists()


def test_kill_mode_process_spares_detached_children(tmp_path: Path) -> None:
    # like an agent and its launcher: the service starts a child in a session of its own
    script = (
        "import subprocess, sys, time; "
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
        "start_new_session=True); "
        f"open({str(tmp_path / 'grandchild')!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    spec = write_spec(tmp_path, script, "process")
    assert supervise(spec, "--restart").returncode == 0
    grandchild = 0
    try:
        wait_until(lambda: (tmp_path / "grandchild").exists(), 10)
        grandchild = int(wait_until(lambda: (tmp_path / "grandchild").read_text(), 5))
        child = state(tmp_path)["child"]
        assert supervise(spec, "--stop").returncode == 0
        assert not pid_alive(child)
        assert pid_alive(grandchild)
    finally:
        supervise(spec, "--stop")
        if grandchild and pid_alive(grandchild):
            os.kill(grandchild, signal.SIGKILL)
            wait_until(lambda: not pid_alive(grandchild), 5)


def test_a_bad_spec_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{")
    done = supervise(tmp_path / "bad.json")
    assert done.returncode == 2 and "SPEC: cannot load" in done.stderr
