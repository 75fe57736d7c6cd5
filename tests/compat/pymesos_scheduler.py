"""Unmodified-pymesos schedulers run against a real corral master by tests/compat/test_pymesos.py.

Usage: ``python pymesos_scheduler.py <scenario> <master host:port> <deadline secs> [journal_dir
[executor_cleanup_secs]]``

Scenarios:

``command``
    Launches four command tasks on one offer (``echo hi``, ``exit 0``, ``exit 3`` and a
    long-running ``sleep 300``) and declines every other offer. Once the three short tasks are
    terminal and the long one is RUNNING it reconciles implicitly (``reconcileTasks([])``; the
    RUNNING task must come back) and explicitly (the long task plus an unknown task id; the
    unknown one must come back TASK_LOST since the framework is not PARTITION_AWARE), then kills
    the long task and ``driver.stop()``s (TEARDOWN).

``executor``
    Launches two tasks on one custom ExecutorInfo running ``pymesos_executor.py``. When a task is
    RUNNING it sends a framework message to the executor and waits for the echo in
    ``frameworkMessage``; once both tasks are FINISHED and the echo arrived it ``driver.stop()``s,
    which tears the framework down so the agent shuts the executor down.

The last line on stdout is a JSON object describing what happened (``ok``, ``error``, every
status update, ...). The exit code is 0 when the scenario ran to completion, 1 on a failure
detected here, 2 on a timeout. All pymesos logging goes to stderr.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import shlex
import sys
import threading
import time
import traceback
from typing import Any

from pymesos import MesosSchedulerDriver, Scheduler, decode_data, encode_data

HERE = os.path.dirname(os.path.abspath(__file__))
EXECUTOR_SCRIPT = os.path.join(HERE, "pymesos_executor.py")
TERMINAL = {
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
}


def scalar(name: str, value: float) -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


def offer_scalar(offer: Any, name: str) -> float:
    return sum(r["scalar"]["value"] for r in offer.get("resources", []) if r["name"] == name)


class Base(Scheduler):
    """Records everything; subclasses decide what to launch and when the scenario is done."""

    need_cpus = 0.0
    need_mem = 0.0

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.framework_id: str | None = None
        self.master_info: dict[str, Any] | None = None
        self.launched = False
        self.offers_seen = 0
        self.offers_declined = 0
        self.updates: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.callback_errors: list[str] = []
        self.disconnects = 0

    # -------------------------------------------------------------- helpers
    def _record_error(self) -> None:
        with self.changed:
            self.callback_errors.append(traceback.format_exc())
            self.changed.notify_all()

    def wait_for(self, pred: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not pred():
                if self.callback_errors:
                    raise RuntimeError("callback failed:\n" + self.callback_errors[0])
                if self.errors:
                    raise RuntimeError(f"scheduler got ERROR: {self.errors}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"timed out waiting for {what}")
                self.changed.wait(min(left, 0.5))

    def tasks(self, offer: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    # ------------------------------------------------------------ callbacks
    def registered(self, driver, framework_id, master_info):  # type: ignore[no-untyped-def]
        with self.changed:
            self.framework_id = framework_id["value"]
            self.master_info = dict(master_info)
            self.changed.notify_all()

    def disconnected(self, driver):  # type: ignore[no-untyped-def]
        with self.changed:
            self.disconnects += 1

    def resourceOffers(self, driver, offers):  # type: ignore[no-untyped-def]
        try:
            for offer in offers:
                with self.changed:
                    self.offers_seen += 1
                    fits = (
                        not self.launched
                        and offer_scalar(offer, "cpus") >= self.need_cpus
                        and offer_scalar(offer, "mem") >= self.need_mem
                    )
                    if fits:
                        self.launched = True
                    else:
                        self.offers_declined += 1
                if fits:
                    driver.launchTasks(offer["id"], self.tasks(offer))
                else:
                    driver.declineOffer(offer["id"])
        except Exception:
            self._record_error()

    def statusUpdate(self, driver, status):  # type: ignore[no-untyped-def]
        try:
            rec = {
                "task_id": status["task_id"]["value"],
                "state": status["state"],
                "reason": status.get("reason"),
                "source": status.get("source"),
                "message": status.get("message"),
                "has_uuid": "uuid" in status,
                "agent_id": (status.get("agent_id") or {}).get("value"),
                "executor_id": (status.get("executor_id") or {}).get("value"),
                "data": decode_data(status["data"]).decode() if status.get("data") else None,
            }
            with self.changed:
                self.updates.append(rec)
                self.changed.notify_all()
            self.on_update(driver, rec)
        except Exception:
            self._record_error()

    def on_update(self, driver: Any, rec: dict[str, Any]) -> None:
        pass

    def frameworkMessage(self, driver, executor_id, agent_id, message):  # type: ignore[no-untyped-def]
        try:
            rec = {
                "executor_id": executor_id["value"],
                "agent_id": agent_id["value"],
                "data": decode_data(message).decode(),
            }
            with self.changed:
                self.messages.append(rec)
                self.changed.notify_all()
        except Exception:
            self._record_error()

    def error(self, driver, message):  # type: ignore[no-untyped-def]
        with self.changed:
            self.errors.append(message)
            self.changed.notify_all()

    # -------------------------------------------------------------- queries
    def last_state(self, task_id: str, reconciliation: bool | None = None) -> str | None:
        states = [
            u["state"]
            for u in self.updates
            if u["task_id"] == task_id
            and (
                reconciliation is None or (u["reason"] == "REASON_RECONCILIATION") == reconciliation
            )
        ]
        return states[-1] if states else None

    def result(self) -> dict[str, Any]:
        with self.lock:
            return {
                "framework_id": self.framework_id,
                "master_info": self.master_info,
                "offers_seen": self.offers_seen,
                "offers_declined": self.offers_declined,
                "updates": list(self.updates),
                "messages": list(self.messages),
                "errors": list(self.errors),
                "callback_errors": list(self.callback_errors),
                "disconnects": self.disconnects,
            }


# ---------------------------------------------------------------------- command scenario
COMMAND_TASKS = {"echo": "echo hi", "exit0": "exit 0", "exit3": "exit 3", "long": "sleep 300"}
SHORT = ("echo", "exit0", "exit3")
UNKNOWN = "no-such-task"


class CommandScheduler(Base):
    need_cpus = 0.4
    need_mem = 128.0

    def tasks(self, offer: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": f"compat-{tid}",
                "task_id": {"value": tid},
                "agent_id": offer["agent_id"],
                "resources": [scalar("cpus", 0.1), scalar("mem", 32)],
                "command": {"value": cmd},
            }
            for tid, cmd in COMMAND_TASKS.items()
        ]


def run_command(
    driver: MesosSchedulerDriver, s: CommandScheduler, deadline: float
) -> dict[str, Any]:
    def left() -> float:
        return max(0.1, deadline - time.monotonic())

    s.wait_for(
        lambda: (
            all(s.last_state(t) in TERMINAL for t in SHORT)
            and s.last_state("long") == "TASK_RUNNING"
        ),
        left(),
        "short tasks terminal and the long task RUNNING",
    )
    n_before = len(s.updates)
    driver.reconcileTasks([])
    s.wait_for(
        lambda: any(
            u["task_id"] == "long" and u["reason"] == "REASON_RECONCILIATION"
            for u in s.updates[n_before:]
        ),
        left(),
        "implicit reconciliation of the long task",
    )
    n_implicit = len(s.updates)
    driver.reconcileTasks([{"task_id": {"value": UNKNOWN}}, {"task_id": {"value": "long"}}])
    s.wait_for(
        lambda: {u["task_id"] for u in s.updates[n_implicit:]} >= {UNKNOWN, "long"},
        left(),
        "explicit reconciliation replies",
    )
    driver.killTask({"value": "long"})
    s.wait_for(
        lambda: s.last_state("long", reconciliation=False) in TERMINAL, left(), "long task killed"
    )
    return {
        "implicit": s.updates[n_before:n_implicit],
        "explicit": s.updates[n_implicit:],
    }


# ---------------------------------------------------------------------- executor scenario
EXECUTOR_ID = "compat-pymesos-executor"
EXECUTOR_TASKS = ("exec-task-1", "exec-task-2")
PING = b"ping-from-scheduler"


class ExecutorScheduler(Base):
    need_cpus = 0.3
    need_mem = 96.0

    def __init__(self, journal_dir: str, cleanup_secs: str) -> None:
        super().__init__()
        self.journal_dir = journal_dir
        self.cleanup_secs = cleanup_secs
        self.ping_sent = False

    def tasks(self, offer: Any) -> list[dict[str, Any]]:
        executor = {
            "executor_id": {"value": EXECUTOR_ID},
            "name": "compat pymesos executor",
            "command": {
                "value": "exec "
                + " ".join(
                    shlex.quote(a)
                    for a in (sys.executable, EXECUTOR_SCRIPT, self.journal_dir, self.cleanup_secs)
                )
            },
            "resources": [scalar("cpus", 0.1), scalar("mem", 32)],
        }
        return [
            {
                "name": tid,
                "task_id": {"value": tid},
                "agent_id": offer["agent_id"],
                "resources": [scalar("cpus", 0.1), scalar("mem", 32)],
                "executor": executor,
            }
            for tid in EXECUTOR_TASKS
        ]

    def on_update(self, driver: Any, rec: dict[str, Any]) -> None:
        if rec["state"] == "TASK_RUNNING":
            with self.lock:
                send = not self.ping_sent
                self.ping_sent = True
            if send:
                driver.sendFrameworkMessage(
                    {"value": EXECUTOR_ID}, {"value": rec["agent_id"]}, encode_data(PING)
                )


def run_executor(
    driver: MesosSchedulerDriver, s: ExecutorScheduler, deadline: float
) -> dict[str, Any]:
    s.wait_for(
        lambda: all(s.last_state(t) in TERMINAL for t in EXECUTOR_TASKS) and bool(s.messages),
        max(0.1, deadline - time.monotonic()),
        "both executor tasks terminal and the echoed framework message",
    )
    return {"ping": PING.decode()}


# ---------------------------------------------------------------------- main
def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    scenario, master, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    journal_dir = sys.argv[4] if len(sys.argv) > 4 else os.getcwd()
    cleanup_secs = sys.argv[5] if len(sys.argv) > 5 else "0"
    deadline = time.monotonic() + timeout

    sched: Base
    if scenario == "command":
        sched = CommandScheduler()
    elif scenario == "executor":
        sched = ExecutorScheduler(journal_dir, cleanup_secs)
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")

    framework = {
        "user": getpass.getuser(),
        "name": f"pymesos-compat-{scenario}",
        "hostname": "localhost",
    }
    driver = MesosSchedulerDriver(sched, framework, master, use_addict=True)
    out: dict[str, Any] = {"scenario": scenario, "ok": False, "error": None}
    code = 1
    try:
        driver.start()
        sched.wait_for(lambda: sched.framework_id is not None, timeout, "SUBSCRIBED")
        out["version"] = driver.version
        out["capabilities"] = driver.framework.get("capabilities")
        if isinstance(sched, CommandScheduler):
            out.update(run_command(driver, sched, deadline))
        else:
            assert isinstance(sched, ExecutorScheduler)
            out.update(run_executor(driver, sched, deadline))
        out["ok"] = True
        code = 0
    except TimeoutError as exc:
        out["error"] = f"timeout: {exc}"
        code = 2
    except BaseException as exc:  # includes KeyboardInterrupt from pymesos' IO-thread abort
        out["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        code = 1
    finally:
        stopped_at = time.monotonic()
        try:
            driver.stop()  # not failover: sends TEARDOWN from the IO thread's shutdown
            joiner = threading.Thread(target=driver.join, daemon=True)
            joiner.start()
            joiner.join(10)
            out["joined"] = not joiner.is_alive()
            out["stop_secs"] = round(time.monotonic() - stopped_at, 3)
        except BaseException as exc:
            out["stop_error"] = repr(exc)
        out.update(sched.result())
        print(json.dumps(out), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
