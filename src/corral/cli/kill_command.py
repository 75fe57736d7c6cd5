"""`corral kill TASK_ID [--framework ID] [--grace SECONDS]`: the operator kills one task
(corral's KILL_TASK operator call; the master sends the kill to the task's agent)."""

from __future__ import annotations

from typing import Any

import typer

from corral.cli.common import fail, resolve_master
from corral.cli.operator_client import operator_call


def kill(
    task_id: str = typer.Argument(..., help="The task's id (see `corral tasks`)."),
    framework: str | None = typer.Option(
        None, "--framework", help="The task's framework (needed if two use the same task id)."
    ),
    grace: float | None = typer.Option(
        None,
        "--grace",
        help="Seconds between SIGTERM and SIGKILL (default: the task's own kill grace period).",
    ),
    master: str | None = typer.Option(
        None,
        "--master",
        help="HOST:PORT or zk://… of the masters (default: $CORRAL_MASTER or the `corral up` "
        "cluster).",
    ),
) -> None:
    """Kill a running task. Exits 1 if no framework runs TASK_ID."""
    if grace is not None and grace < 0:
        fail("--grace must not be negative")
    payload: dict[str, Any] = {"task_id": {"value": task_id}}
    if framework:
        payload["framework_id"] = {"value": framework}
    if grace is not None:
        payload["kill_policy"] = {"grace_period": {"nanoseconds": int(grace * 1e9)}}
    operator_call(resolve_master(master), {"type": "KILL_TASK", "kill_task": payload})
    print(f"kill sent to task {task_id}")
