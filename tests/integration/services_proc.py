"""A real `corral services` process for the page and CLI tests (stopped by pid)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from corral.testing import LocalCluster, free_port, wait_until


def _leading(url: str) -> bool:
    """Up and leading (``/metrics`` is answered by each instance itself), and answering."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=1) as resp:
            doc = json.loads(resp.read())
        with urllib.request.urlopen(url + "/v2/apps", timeout=2) as resp:
            ok = resp.status == 200
    except (OSError, ValueError):
        return False
    return ok and doc.get("gauges", {}).get("services.leading", {}).get("value") == 1


@contextlib.contextmanager
def services_process(cluster: LocalCluster, work_dir: Path) -> Iterator[str]:
    """Start `corral services` against ``cluster``; yields its base URL."""
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = work_dir / "services.log"
    argv = [
        sys.executable,
        "-m",
        "corral",
        "services",
        "--master",
        cluster.master_url,
        "--port",
        str(port),
        "--work-dir",
        str(work_dir / "state"),
    ]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        wait_until(
            lambda: proc.poll() is None and _leading(url),
            30,
            what=f"corral services on {url} (log: {log_path})",
        )
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def cli_env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def remove_all_apps(url: str, timeout: float = 30) -> None:
    """Delete every app (force) and wait until no task is left and their processes are gone,
    so a failed test does not leave task processes to the next one."""
    import psutil

    with urllib.request.urlopen(url + "/v2/apps", timeout=5) as resp:
        apps = json.loads(resp.read())["apps"]
    for a in apps:
        req = urllib.request.Request(f"{url}/v2/apps{a['id']}?force=true", method="DELETE")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(req, timeout=5).close()

    def no_tasks() -> bool:
        with urllib.request.urlopen(url + "/v2/tasks", timeout=5) as resp:
            return not json.loads(resp.read())["tasks"]

    def no_sleepers() -> bool:
        for p in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "sleep 300" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                    return False
        return True

    wait_until(no_tasks, timeout, what="every app's tasks gone")
    wait_until(no_sleepers, timeout, what="every task process gone")
