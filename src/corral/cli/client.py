"""Client commands: agents, tasks, frameworks, logs (`run` is in run_command.py)."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from corral.cli.common import fail, resolve_master

console = Console(width=None if sys.stdout.isatty() else 200)
MasterOpt = typer.Option(
    None,
    "--master",
    help="HOST:PORT of the master (default: $CORRAL_MASTER or the `corral up` cluster).",
)


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        fail(f"{url}: HTTP {exc.code} {exc.read().decode(errors='replace').strip()}")
    except (urllib.error.URLError, OSError) as exc:
        fail(f"cannot reach {url}: {getattr(exc, 'reason', exc)} (is the cluster up? see --master)")


def _state(master: str) -> dict[str, Any]:
    result: dict[str, Any] = _get(f"http://{master}/master/state")
    return result


def agents(master: str | None = MasterOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """List the agents."""
    state = _state(resolve_master(master))
    if as_json:
        print(json.dumps(state["slaves"], indent=2))
        return
    table = Table("ID", "HOST", "ACTIVE", "CPUS", "MEM", "DISK", "ATTRIBUTES")
    for a in state["slaves"]:
        r, u = a["resources"], a["used_resources"]
        table.add_row(
            a["id"],
            f"{a['hostname']}:{a['port']}",
            "yes" if a["active"] else "no",
            f"{u['cpus']:g}/{r['cpus']:g}",
            f"{u['mem']:g}/{r['mem']:g}",
            f"{u['disk']:g}/{r['disk']:g}",
            ";".join(f"{k}:{v}" for k, v in a["attributes"].items()),
        )
    console.print(table)


def frameworks(
    master: str | None = MasterOpt, as_json: bool = typer.Option(False, "--json")
) -> None:
    """List the frameworks."""
    state = _state(resolve_master(master))
    if as_json:
        print(
            json.dumps(
                [
                    {k: v for k, v in f.items() if k not in ("tasks", "completed_tasks")}
                    for f in state["frameworks"]
                ],
                indent=2,
            )
        )
        return
    table = Table("ID", "NAME", "ROLE", "ACTIVE", "TASKS", "CPUS", "MEM")
    for f in state["frameworks"]:
        u = f["used_resources"]
        table.add_row(
            f["id"],
            f["name"],
            f["role"],
            "yes" if f["active"] else "no",
            str(len(f["tasks"])),
            f"{u['cpus']:g}",
            f"{u['mem']:g}",
        )
    console.print(table)


def _all_tasks(state: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for f in [*state["frameworks"], *state["completed_frameworks"]]:
        for key in ("tasks", "unreachable_tasks", "completed_tasks"):
            out += f.get(key, [])
    return out


def tasks(
    master: str | None = MasterOpt,
    as_json: bool = typer.Option(False, "--json"),
    all_tasks: bool = typer.Option(False, "--all", help="Include completed tasks."),
) -> None:
    """List tasks (running ones; --all for completed too)."""
    state = _state(resolve_master(master))
    rows = _all_tasks(state)
    if not all_tasks:
        rows = [
            t
            for t in rows
            if t["state"]
            in ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_UNREACHABLE")
        ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("ID", "NAME", "STATE", "FRAMEWORK", "AGENT", "CPUS", "MEM")
    for t in rows:
        table.add_row(
            t["id"],
            t["name"],
            t["state"],
            t["framework_id"],
            t["slave_id"],
            f"{t['resources']['cpus']:g}",
            f"{t['resources']['mem']:g}",
        )
    console.print(table)


def logs(
    task_id: str = typer.Argument(..., help="The task whose output to show."),
    master: str | None = MasterOpt,
    stderr: bool = typer.Option(False, "--stderr", help="Show stderr instead of stdout."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing as the task writes."),
) -> None:
    """Print a task's stdout (or stderr) from its sandbox."""
    address = resolve_master(master)
    state = _state(address)
    task = next((t for t in _all_tasks(state) if t["id"] == task_id), None)
    if task is None:
        fail(f"no task {task_id!r} is known to the master at {address}")
    agent = next((a for a in state["slaves"] if a["id"] == task["slave_id"]), None)
    if agent is None:
        fail(f"task {task_id} ran on agent {task['slave_id']}, which is gone")
    agent_addr = agent["pid"].split("@", 1)[1]
    astate = _get(f"http://{agent_addr}/state")
    directory = None
    for f in [*astate["frameworks"], *astate["completed_frameworks"]]:
        for ex in f["executors"]:
            for t in [*ex["tasks"], *ex["completed_tasks"]]:
                if t["id"] == task_id:
                    directory = ex["directory"]
    if directory is None:
        fail(f"agent {agent['id']} no longer has a sandbox for {task_id}")
    path = f"{directory}/{'stderr' if stderr else 'stdout'}"
    offset = 0
    while True:
        q = urllib.parse.urlencode({"path": path, "offset": offset, "length": 65536})
        chunk = _get(f"http://{agent_addr}/files/read?{q}")
        data = chunk["data"]
        if data:
            sys.stdout.write(data)
            sys.stdout.flush()
            offset += len(data.encode())
            continue
        if not follow:
            break
        live = any(
            t["id"] == task_id
            for t in _all_tasks(_state(address))
            if t["state"] in ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING")
        )
        if not live:
            break
        time.sleep(0.5)
