"""``corral up``: a master, an agent and the services and jobs frameworks, stopped by Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from corral.testing import free_port, wait_until

pytestmark = pytest.mark.integration


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_up_starts_the_frameworks_and_links_their_pages(tmp_path: Path) -> None:
    master, services, jobs, aurora = free_port(), free_port(), free_port(), free_port()
    batch = free_port()
    out = tmp_path / "up.log"
    env = {**os.environ, "CORRAL_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    with out.open("wb") as log:
        up = subprocess.Popen(
            [
                sys.executable, "-m", "corral", "up", "--agents", "1",
                "--resources", "cpus:2;mem:2048;disk:4096;ports:[33000-33100]",
                "--port", str(master), "--services-port", str(services),
                "--jobs-port", str(jobs), "--aurora-port", str(aurora),
                "--batch-port", str(batch), "--work-dir", str(tmp_path / "cluster"),
            ],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        wait_until(lambda: "Ctrl-C" in out.read_text() or up.poll() is not None, 90,
                   what="corral up to say the cluster is up")  # fmt: skip
        text = out.read_text()
        assert up.poll() is None, text
        assert f"services: page and Marathon's /v2 API at http://127.0.0.1:{services}/" in text
        assert f"jobs: page and Chronos's API at http://127.0.0.1:{jobs}/" in text
        assert "aurora: the Aurora-style front end's API (corral job create|update) at " in text
        assert get(f"http://127.0.0.1:{aurora}/jobs") == {"jobs": []}
        assert f"batch: the queue's API at http://127.0.0.1:{batch}/" in text
        recorded = json.loads((tmp_path / "home" / "cluster.json").read_text())
        for name, p in (("batch", batch), ("services", services), ("jobs", jobs),
                        ("aurora", aurora)):  # fmt: skip
            assert recorded[f"{name}_url"] == f"http://127.0.0.1:{p}"
        # the client commands find the frameworks at their ports without flags
        for argv in (["app", "list", "--json"], ["job", "list", "--json"], ["batch", "queue"]):
            found = subprocess.run([sys.executable, "-m", "corral", *argv], env=env,
                                   capture_output=True, text=True, timeout=30)  # fmt: skip
            assert found.returncode == 0, (argv, found.stdout + found.stderr)
        info = f"http://127.0.0.1:{services}/v2/info"
        wait_until(lambda: get(info)["elected"] is True, 30, what="the services leader")
        assert get(f"http://127.0.0.1:{jobs}/v1/scheduler/jobs") == []

        def linked() -> dict[str, str]:
            state = get(f"http://127.0.0.1:{master}/master/state")
            return {f["name"]: f.get("webui_url", "") for f in state["frameworks"]}

        wait_until(lambda: {"services", "jobs"} <= set(linked()), 30, what="both subscribed")
        assert linked()["services"] == f"http://127.0.0.1:{services}/"
        assert linked()["jobs"] == f"http://127.0.0.1:{jobs}/"
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait(10)
    assert up.returncode == 0, out.read_text()


def test_up_names_a_framework_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "corral", "up", "--port", str(free_port()),
             "--jobs-port", str(port), "--no-batch", "--work-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "CORRAL_HOME": str(tmp_path / "home")},
        )  # fmt: skip
    assert r.returncode != 0
    assert f"--jobs-port {port} is in use" in r.stderr + r.stdout


def start_up(tmp_path: Path, port: int, work_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CORRAL_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable, "-m", "corral", "up", "--agents", "1", "--no-services",
                "--no-jobs", "--no-batch",
                "--resources", "cpus:1;mem:512;disk:1024;ports:[33200-33210]",
                "--port", str(port), "--work-dir", str(work_dir),
            ],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip


def wait_up(up: subprocess.Popen[bytes], log: Path, n: int = 1) -> None:
    wait_until(
        lambda: log.read_text().count("Ctrl-C stops") >= n or up.poll() is not None,
        90,
        what="corral up to say the cluster is up",
    )
    assert up.poll() is None, log.read_text()


def finish(up: subprocess.Popen[bytes]) -> None:
    if up.poll() is None:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait(10)


def test_one_cluster_per_directory_down_and_up_again_at_once(tmp_path: Path) -> None:
    port = free_port()
    work_dir, log = tmp_path / "cluster", tmp_path / "up.log"
    env = {**os.environ, "CORRAL_HOME": str(tmp_path / "home")}
    up = start_up(tmp_path, port, work_dir, log)
    try:
        wait_up(up, log)
        # A second `corral up` on the same directory is refused, naming the flag and the pid.
        second = subprocess.run(
            [sys.executable, "-m", "corral", "up", "--port", str(free_port()), "--no-services",
             "--no-jobs", "--no-batch", "--work-dir", str(work_dir)],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert second.returncode == 2
        assert f"--work-dir {work_dir} is used by corral up (pid {up.pid})" in second.stderr
        assert up.poll() is None
        get(f"http://127.0.0.1:{port}/master/state")  # the first one is untouched
        # `corral down` (here the last cluster started, from CORRAL_HOME) stops it.
        down = subprocess.run(
            [sys.executable, "-m", "corral", "down"],
            capture_output=True, text=True, timeout=90, env=env,
        )  # fmt: skip
        assert down.returncode == 0, down.stdout + down.stderr
        assert up.wait(10) == 0
        # Up again at once on the same port and directory (its TIME-WAIT sockets are no bar).
        again = start_up(tmp_path, port, work_dir, log)
        try:
            wait_up(again, log, 2)
            assert get(f"http://127.0.0.1:{port}/master/state")["activated_slaves"] == 1
        finally:
            finish(again)
        down = subprocess.run(
            [sys.executable, "-m", "corral", "down", "--work-dir", str(work_dir)],
            capture_output=True, text=True, timeout=30, env=env,
        )  # fmt: skip
        assert down.returncode == 1 and "no corral up runs" in down.stderr
    finally:
        finish(up)


def test_closing_the_terminal_stops_the_cluster(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "up.log"
    up = start_up(tmp_path, port, tmp_path / "cluster", log)
    try:
        wait_up(up, log)
        up.send_signal(signal.SIGHUP)
        assert up.wait(60) == 0
        assert "stopped." in log.read_text()
    finally:
        finish(up)


def test_up_with_tls_makes_a_local_ca_the_clients_trust(tmp_path: Path) -> None:
    import ssl

    port = free_port()
    log = tmp_path / "up.log"
    env = {**os.environ, "CORRAL_HOME": str(tmp_path / "home")}
    env.pop("CORRAL_TLS_CA", None)
    with log.open("ab") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "corral", "up", "--tls", "--agents", "1", "--no-services",
             "--no-jobs", "--no-batch",
             "--resources", "cpus:1;mem:512;disk:1024;ports:[33220-33230]",
             "--port", str(port), "--work-dir", str(tmp_path / "cluster")],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        wait_up(up, log)
        text = log.read_text()
        ca = tmp_path / "cluster" / "tls" / "ca.pem"
        assert f"master at https://127.0.0.1:{port}" in text and f"CORRAL_TLS_CA={ca}" in text
        ctx = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", context=ctx) as r:
            assert r.status == 200
        with pytest.raises(urllib.error.URLError):  # a client that does not trust the CA
            urllib.request.urlopen(f"https://127.0.0.1:{port}/health", timeout=5)
        # The client commands find the CA through the cluster `corral up` recorded.
        run = subprocess.run([sys.executable, "-m", "corral", "run", "--", "echo over-tls"],
                             capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
        assert run.returncode == 0 and "over-tls" in run.stdout, run.stdout + run.stderr
        down = subprocess.run([sys.executable, "-m", "corral", "down"], capture_output=True,
                              text=True, timeout=90, env=env)  # fmt: skip
        assert down.returncode == 0 and up.wait(10) == 0
    finally:
        finish(up)
