"""Helpers for the ci framework's integration tests: the framework and a Buildbot master as
processes on free ports, stopped by pid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from corral.testing import LocalCluster, free_port, http_json, stop_process, wait_until

T = TypeVar("T")

BIN = str(Path(sys.executable).parent)


def request(method: str, url: str, body: object | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def spawn(argv: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PATH": BIN + ":" + os.environ["PATH"]},
        )


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    stop_process(proc, grace=20)


class CiProcess:
    def __init__(self, cluster: LocalCluster, tmp: Path, templates: str) -> None:
        self.cluster = cluster
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "templates.toml"
        self.config.write_text(templates)
        self.log = tmp / "ci.log"
        self.argv = [
            sys.executable,
            "-m",
            "corral",
            "ci",
            "--master",
            cluster.master,
            "--config",
            str(self.config),
            "--port",
            str(self.port),
            "--work-dir",
            str(tmp / "ci-state"),
            "--unregister-after",
            "1",
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> CiProcess:
        self.proc = spawn(self.argv, self.log)

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"corral ci exited; see {self.log}")
            return request("GET", self.url + "/v1/status")[0] == 200

        wait_until(up, 20, what=f"corral ci on {self.url}")
        return self

    def get(self, path: str) -> Any:
        status, body = request("GET", self.url + path)
        assert status == 200, (path, status, body)
        return body

    def wait(self, predicate: Callable[[], T], timeout: float, what: str) -> T:
        """``wait_until``, with the end of the framework's log in the error when it times out."""
        try:
            return wait_until(predicate, timeout, what=what)
        except TimeoutError as exc:
            tail = self.log.read_text(errors="replace").splitlines()[-40:]
            raise TimeoutError(f"{exc}; the end of {self.log}:\n" + "\n".join(tail)) from None

    def stop(self) -> None:
        stop(self.proc)


def start_buildbot(master_dir: Path, api: str, log: Path) -> subprocess.Popen[bytes]:
    """``buildbot start --nodaemon`` on a created master dir; returns once its API answers."""
    bb = spawn([f"{BIN}/buildbot", "start", "--nodaemon", str(master_dir)], log)

    def up() -> bool:
        if bb.poll() is not None:
            raise RuntimeError(f"buildbot exited; see {master_dir / 'twistd.log'}")
        return bool(http_json(f"{api}/builders")["builders"])

    try:
        wait_until(up, 60, what="the Buildbot master")
    except BaseException:
        stop(bb)
        raise
    return bb


def force_builds(api: str, builds: int, timeout: float = 90) -> list[dict[str, Any]]:
    """Force ``builds`` builds of builder 1 at once; the completed builds, once all are."""
    for i in range(builds):
        status, answer = request(
            "POST",
            f"{api}/forceschedulers/force",
            {
                "jsonrpc": "2.0",
                "method": "force",
                "id": i,
                "params": {"builderid": "1", "username": "", "reason": f"test {i}"},
            },
        )
        assert status == 200 and "error" not in answer, answer

    def done() -> list[dict[str, Any]] | None:
        got: list[dict[str, Any]] = http_json(f"{api}/builds?complete=true")["builds"]
        return got if len(got) >= builds else None

    finished: list[dict[str, Any]] = wait_until(
        done, timeout, interval=0.5, what=f"{builds} builds to complete"
    )
    return finished
