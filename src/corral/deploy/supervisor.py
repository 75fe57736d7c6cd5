"""`corral supervise SPEC`: keep one service running where systemd does not run.

A spec (JSON, written by `corral deploy`) names the argv, environment, log file, state file
and kill mode. The supervisor runs the process, restarts it when it exits (backing off from
0.5 s, doubling to 30 s, back to 0.5 s once a run lasted 30 s), and records itself in the
state file: its pid, the digest of the spec it runs, the child's pid. SIGTERM stops it: the
child gets SIGTERM (its whole process group, or with ``kill_mode: process`` the main
process only, as systemd's KillMode=process: an agent's tasks belong to its launcher and
survive), then SIGKILL after ``stop_timeout``.

``--restart`` stops a running supervisor of the same spec and starts a detached one (a new
session, no terminal), returning once it has written its state; ``--stop`` stops it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
STABLE_AFTER = 30.0


def backoff(failures: int) -> float:
    """Seconds before the next start after `failures` short runs in a row (pure)."""
    return float(min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, failures - 1))) if failures else 0.0


def next_failures(failures: int, ran_for: float) -> int:
    return 1 if ran_for >= STABLE_AFTER else failures + 1


@dataclass(frozen=True)
class Spec:
    path: Path
    digest: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    state: Path
    kill_mode: str
    stop_timeout: float

    @classmethod
    def load(cls, path: Path) -> Spec:
        text = path.read_text()
        doc: dict[str, Any] = json.loads(text)
        return cls(
            path=path,
            digest=hashlib.sha256(text.encode()).hexdigest(),
            argv=[str(a) for a in doc["argv"]],
            env={str(k): str(v) for k, v in doc.get("env", {}).items()},
            log=Path(doc["log"]),
            state=Path(doc["state"]),
            kill_mode=str(doc.get("kill_mode", "control-group")),
            stop_timeout=float(doc.get("stop_timeout", 10.0)),
        )


def read_state(state: Path) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = json.loads(state.read_text())
        return doc
    except (OSError, ValueError):
        return None


def running_supervisor(spec_path: Path, state: Path) -> dict[str, Any] | None:
    """The state of the live supervisor of `spec_path`, or None (a stale file is ignored)."""
    doc = read_state(state)
    if not doc or not isinstance(doc.get("pid"), int):
        return None
    try:
        cmdline = Path(f"/proc/{doc['pid']}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if b"supervise" not in cmdline or str(spec_path).encode() not in cmdline:
        return None
    return doc


def _write_state(spec: Spec, child: int | None, restarts: int) -> None:
    spec.state.parent.mkdir(parents=True, exist_ok=True)
    tmp = spec.state.with_suffix(".tmp")
    doc = {"pid": os.getpid(), "spec": spec.digest, "child": child, "restarts": restarts}
    tmp.write_text(json.dumps(doc) + "\n")
    tmp.replace(spec.state)


def run(spec: Spec) -> int:
    """Supervise until SIGTERM/SIGINT; returns the exit code."""
    asked = [False]  # set by the signal handler
    child: subprocess.Popen[bytes] | None = None

    def stopping() -> bool:
        return asked[0]

    def on_signal(signum: int, _frame: object) -> None:
        asked[0] = True
        if child is not None and child.poll() is None:
            _signal(child, signal.SIGTERM, spec.kill_mode)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    failures, restarts = 0, 0
    with open(spec.log, "ab", buffering=0) as log:

        def say(text: str) -> None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"{stamp} supervise[{os.getpid()}]: {text}\n".encode())

        _write_state(spec, None, restarts)
        while not stopping():
            started = time.monotonic()
            try:
                child = subprocess.Popen(
                    spec.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    env=spec.env, cwd="/", start_new_session=True, close_fds=True,
                )  # fmt: skip
            except OSError as exc:
                say(f"cannot start {spec.argv[0]}: {exc}")
                child = None
            if child is not None:
                say(f"started pid {child.pid}: {' '.join(spec.argv)}")
                _write_state(spec, child.pid, restarts)
                deadline: float | None = None
                while True:
                    try:
                        code = child.wait(timeout=0.2)
                        break
                    except subprocess.TimeoutExpired:
                        if stopping() and deadline is None:
                            deadline = time.monotonic() + spec.stop_timeout
                        if deadline is not None and time.monotonic() > deadline:
                            say(f"pid {child.pid} did not stop in {spec.stop_timeout:g} s: SIGKILL")
                            _signal(child, signal.SIGKILL, spec.kill_mode)
                            deadline = float("inf")
                say(f"pid {child.pid} exited with status {code}")
            if stopping():
                break
            failures = next_failures(failures, time.monotonic() - started)
            delay = backoff(failures)
            restarts += 1
            say(f"restarting in {delay:g} s")
            _write_state(spec, None, restarts)
            end = time.monotonic() + delay
            while not stopping() and time.monotonic() < end:
                time.sleep(0.05)
        say("stopped")
    try:
        if (read_state(spec.state) or {}).get("pid") == os.getpid():
            spec.state.unlink()
    except OSError:
        pass
    return 0


def _signal(child: subprocess.Popen[bytes], sig: int, kill_mode: str) -> None:
    try:
        if kill_mode == "process":
            child.send_signal(sig)
        else:
            os.killpg(child.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def stop(spec: Spec) -> bool:
    """Stop the running supervisor of `spec` (and its service); False when none ran."""
    doc = running_supervisor(spec.path, spec.state)
    if doc is None:
        return False
    pid = int(doc["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + spec.stop_timeout + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def start_detached(spec: Spec, timeout: float = 15.0) -> int:
    """Start a supervisor of `spec` in its own session; its pid once its state is written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "corral", "supervise", str(spec.path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True, cwd="/",
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = read_state(spec.state)
        if doc and doc.get("pid") == proc.pid and doc.get("spec") == spec.digest:
            return proc.pid
        if proc.poll() is not None:
            code = proc.returncode
            raise RuntimeError(f"the supervisor exited with status {code}; see {spec.log}")
        time.sleep(0.05)
    raise RuntimeError(f"the supervisor wrote no state in {timeout:g} s; see {spec.log}")
