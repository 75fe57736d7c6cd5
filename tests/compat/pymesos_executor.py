"""An unmodified-pymesos custom executor, launched by corral's agent for the compat tests.

Usage (as the ExecutorInfo command): ``<python> pymesos_executor.py <journal_dir> [cleanup_secs]``

Behaviour:
* ``launchTask``: sends TASK_RUNNING, then TASK_FINISHED whose ``data`` (``encode_data``) is
  JSON ``{"pid": <this pid>, "task": <task id>}``.
* ``frameworkMessage``: echoes ``b"echo:" + <decoded message>`` back with
  ``driver.sendFrameworkMessage``.
* ``shutdown`` (SHUTDOWN from the agent, e.g. after the framework tears down): the driver stops
  and this process exits.
  With ``cleanup_secs`` > 0, ``shutdown`` first spends up to that long "cleaning up" (well
  within the agent's 5 s executor shutdown grace period), ending early if SIGTERM arrives.
* SIGTERM is journaled and otherwise ignored, so the test can tell whether the agent signalled
  the executor instead of (or before) letting it act on SHUTDOWN within its grace period. Mesos
  sends SHUTDOWN and only destroys the container (SIGKILL) after the grace period.

Every callback appends a JSON line to ``<journal_dir>/executor-<pid>.jsonl`` so the test can see
what the executor saw, including that it was shut down and exited cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data

JOURNAL_DIR = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
CLEANUP_SECS = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
JOURNAL = os.path.join(JOURNAL_DIR, f"executor-{os.getpid()}.jsonl")
SIGTERMED = threading.Event()


def journal(event: str, **fields: object) -> None:
    with open(JOURNAL, "a") as f:
        f.write(json.dumps({"event": event, "t": time.time(), **fields}) + "\n")
        f.flush()


class EchoExecutor(Executor):
    def registered(self, driver, executor_info, framework_info, agent_info):  # type: ignore[no-untyped-def]
        journal(
            "registered",
            executor_id=executor_info["executor_id"]["value"],
            framework_id=framework_info["id"]["value"],
            agent_id=agent_info.get("id", {}).get("value"),
            agent_hostname=agent_info.get("hostname"),
            env={
                k: os.environ.get(k)
                for k in (
                    "MESOS_AGENT_ENDPOINT",
                    "MESOS_FRAMEWORK_ID",
                    "MESOS_EXECUTOR_ID",
                    "MESOS_CHECKPOINT",
                    "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                    "MESOS_DIRECTORY",
                    "MESOS_SANDBOX",
                )
            },
        )

    def reregistered(self, driver, agent_info):  # type: ignore[no-untyped-def]
        journal("reregistered")

    def disconnected(self, driver):  # type: ignore[no-untyped-def]
        journal("disconnected")

    def launchTask(self, driver, task):  # type: ignore[no-untyped-def]
        task_id = task["task_id"]["value"]
        journal("launch", task=task_id)
        driver.sendStatusUpdate({"task_id": task["task_id"], "state": "TASK_RUNNING"})
        payload = json.dumps({"pid": os.getpid(), "task": task_id}).encode()
        driver.sendStatusUpdate(
            {
                "task_id": task["task_id"],
                "state": "TASK_FINISHED",
                "message": "done by pymesos executor",
                "data": encode_data(payload),
            }
        )
        journal("finished", task=task_id)

    def killTask(self, driver, task_id):  # type: ignore[no-untyped-def]
        journal("kill", task=task_id["value"])
        driver.sendStatusUpdate({"task_id": task_id, "state": "TASK_KILLED"})

    def frameworkMessage(self, driver, message):  # type: ignore[no-untyped-def]
        raw = decode_data(message)
        journal("message", data=raw.decode(errors="replace"))
        driver.sendFrameworkMessage(encode_data(b"echo:" + raw))

    def shutdown(self, driver):  # type: ignore[no-untyped-def]
        journal("shutdown")
        if CLEANUP_SECS > 0:
            SIGTERMED.wait(CLEANUP_SECS)
            journal("cleanup_done", interrupted_by_sigterm=SIGTERMED.is_set())

    def error(self, driver, message):  # type: ignore[no-untyped-def]
        journal("error", message=message)


def on_sigterm(signum: int, frame: object) -> None:
    SIGTERMED.set()
    journal("sigterm")


def main() -> int:
    signal.signal(signal.SIGTERM, on_sigterm)
    journal("start", argv=sys.argv, pgid=os.getpgid(0), sid=os.getsid(0))
    driver = MesosExecutorDriver(EchoExecutor(), use_addict=True)
    try:
        driver.run()
    except BaseException as exc:  # journal how we ended, then re-raise
        journal("exit", how=repr(exc))
        raise
    journal("exit", how="driver stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
