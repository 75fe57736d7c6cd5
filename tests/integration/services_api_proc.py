"""A real ``corral services`` process for the API, failover and compat tests, and HTTP helpers."""

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

import psutil

from corral.testing import LocalCluster, free_port, stop_process, wait_until


def api(
    base: str, method: str, path: str, body: Any = None, timeout: float = 10
) -> tuple[int, Any]:
    """(status, decoded JSON or text or None) of one request; HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    if not raw:
        return status, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


class ServicesProc:
    """``corral services`` on a free port, with short election timeouts."""

    def __init__(
        self, master: str, work_dir: Path, log: Path, extra: list[str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        argv = [
            sys.executable, "-m", "corral", "services",
            "--master", master,
            "--port", str(self.port),
            "--work-dir", str(work_dir),
            "--lease-ttl", "1.5",
            "--zk-session-timeout", "2",
            *(extra or []),
        ]  # fmt: skip
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        if self.popen.poll() is not None:
            raise RuntimeError(f"corral services exited {self.popen.returncode}:\n{self.text()}")
        return True

    def leading(self) -> bool:
        """This process leads (``/metrics`` is answered by each instance itself)."""
        self.alive()
        status, doc = api(self.url, "GET", "/metrics", timeout=2)
        return status == 200 and doc["gauges"]["services.leading"]["value"] == 1

    def wait_leading(self, timeout: float = 30) -> None:
        wait_until(self.leading, timeout, 0.1, f"corral services on :{self.port} to lead")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return api(self.url, method, path, body)

    def app(self, app_id: str) -> dict[str, Any] | None:
        status, doc = self.call("GET", f"/v2/apps{app_id}")
        return doc["app"] if status == 200 else None

    def kill9(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        stop_process(self.popen, grace=15)


def framework(cluster: LocalCluster, name: str = "services") -> dict[str, Any] | None:
    fws = [f for f in cluster.state()["frameworks"] if f["name"] == name]
    assert len(fws) <= 1, fws
    return fws[0] if fws else None


def running_at_master(cluster: LocalCluster, prefix: str = "") -> dict[str, dict[str, Any]]:
    """The framework's TASK_RUNNING tasks as the master sees them, by id."""
    fw = framework(cluster)
    if fw is None:
        return {}
    return {
        t["id"]: t
        for t in fw["tasks"]
        if t["state"] == "TASK_RUNNING" and t["id"].startswith(prefix)
    }


def task_pid(task_id: str) -> int:
    for p in psutil.process_iter(["environ", "cmdline"]):
        try:
            env = p.info["environ"] or {}
        except (psutil.Error, KeyError):
            continue
        if env.get("MESOS_TASK_ID") == task_id and "sleep" in " ".join(p.info["cmdline"] or []):
            return int(p.pid)
    raise LookupError(f"no process for task {task_id}")


def running(proc: ServicesProc, app_id: str, n: int) -> list[dict[str, Any]] | None:
    """The app's tasks once exactly ``n`` run (and no deployment is open)."""
    app = proc.app(app_id)
    if app is None:
        return None
    tasks = [t for t in app["tasks"] if t["state"] == "TASK_RUNNING"]
    if len(tasks) == n and app["tasksRunning"] == n and not app["deployments"]:
        return tasks
    return None


def task_processes() -> list[int]:
    """Our tasks' processes (a module's cluster outlives each test; its tasks must not)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "sleep 60" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        except psutil.Error:
            pass
    return out


def clear_apps(svc: ServicesProc, cluster: LocalCluster) -> None:
    """Delete every app and wait until its tasks and their processes are gone."""
    for app in svc.call("GET", "/v2/apps")[1]["apps"]:
        svc.call("DELETE", f"/v2/apps{app['id']}?force=true")
    wait_until(lambda: not running_at_master(cluster), 30, 0.2, "every task killed")
    wait_until(lambda: not task_processes(), 30, 0.1, "every task process gone")


__all__ = [
    "ServicesProc",
    "api",
    "clear_apps",
    "framework",
    "running",
    "running_at_master",
    "task_pid",
    "task_processes",
]
