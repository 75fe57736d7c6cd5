"""Client commands: agents, tasks, frameworks, logs (`run` is in run_command.py)."""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from corral.cli.common import EXIT_RUNTIME, fail, fetch, resolve_master
from corral.wire import state_views as sv
from corral.wire.codec import to_builtins

console = Console(width=None if sys.stdout.isatty() else 200)
MasterOpt = typer.Option(
    None,
    "--master",
    help="HOST:PORT of the master (default: $CORRAL_MASTER or the `corral up` cluster).",
)


def _state(master: str) -> sv.MasterState:
    return fetch(f"http://{master}/master/state", sv.MasterState)


def _print_json(obj: Any) -> None:
    print(json.dumps(to_builtins(obj), indent=2))


def _num(resources: sv.LegacyResources, name: str) -> str:
    value = resources.get(name, 0)
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def agents(master: str | None = MasterOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """List the agents."""
    state = _state(resolve_master(master))
    if as_json:
        _print_json(state.slaves)
        return
    table = Table("ID", "HOST", "ACTIVE", "CPUS", "MEM", "DISK", "ATTRIBUTES")
    for a in state.slaves:
        r, u = a.resources, a.used_resources
        table.add_row(
            a.id,
            f"{a.hostname}:{a.port}",
            "yes" if a.active else "no",
            f"{_num(u, 'cpus')}/{_num(r, 'cpus')}",
            f"{_num(u, 'mem')}/{_num(r, 'mem')}",
            f"{_num(u, 'disk')}/{_num(r, 'disk')}",
            ";".join(f"{k}:{v}" for k, v in a.attributes.items()),
        )
    console.print(table)


def frameworks(
    master: str | None = MasterOpt, as_json: bool = typer.Option(False, "--json")
) -> None:
    """List the frameworks."""
    state = _state(resolve_master(master))
    if as_json:
        _print_json(
            [
                {k: v for k, v in to_builtins(f).items() if k not in ("tasks", "completed_tasks")}
                for f in state.frameworks
            ]
        )
        return
    table = Table("ID", "NAME", "ROLE", "ACTIVE", "TASKS", "CPUS", "MEM")
    for f in state.frameworks:
        u = f.used_resources
        table.add_row(
            f.id,
            f.name,
            f.role,
            "yes" if f.active else "no",
            str(len(f.tasks)),
            _num(u, "cpus"),
            _num(u, "mem"),
        )
    console.print(table)


LIVE_STATES = ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING")


def _all_tasks(state: sv.MasterState) -> list[sv.StateTask]:
    out: list[sv.StateTask] = []
    for f in [*state.frameworks, *state.completed_frameworks]:
        out += [*f.tasks, *f.unreachable_tasks, *f.completed_tasks]
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
        rows = [t for t in rows if t.state in (*LIVE_STATES, "TASK_UNREACHABLE")]
    if as_json:
        _print_json(rows)
        return
    table = Table("ID", "NAME", "STATE", "FRAMEWORK", "AGENT", "CPUS", "MEM")
    for t in rows:
        table.add_row(
            t.id,
            t.name,
            t.state,
            t.framework_id,
            t.slave_id,
            _num(t.resources, "cpus"),
            _num(t.resources, "mem"),
        )
    console.print(table)


def _sandbox(astate: sv.AgentState, task_id: str) -> str | None:
    for f in [*astate.frameworks, *astate.completed_frameworks]:
        for ex in f.executors:
            if any(t.id == task_id for t in [*ex.tasks, *ex.completed_tasks]):
                return ex.directory
    return None


def logs(
    task_id: str | None = typer.Argument(None, help="The task whose output to show."),
    master: str | None = MasterOpt,
    stderr: bool = typer.Option(False, "--stderr", help="Show stderr instead of stdout."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing as it is written."),
    master_log: bool = typer.Option(
        False,
        "--master-log",
        help="The master's own log (it needs --log-dir); `--master` with no value, or "
        "`--master HOST:PORT` without a TASK_ID, says the same.",
    ),
    agent_id: str | None = typer.Option(
        None, "--agent", help="Agent ID: that agent's own log (it needs --log-dir) instead."
    ),
    lines: int = typer.Option(
        0, "--lines", "-n", help="With --master-log/--agent: only the last N lines (0: all)."
    ),
) -> None:
    """Print a task's stdout (or stderr) from its sandbox; or a master's or an agent's log."""
    address = resolve_master(master)
    master_log = master_log or (task_id is None and agent_id is None and master is not None)
    if master_log or agent_id is not None:
        if task_id is not None or (master_log and agent_id is not None):
            fail("name one of TASK_ID, --master (the master's log) or --agent ID")
        from corral.cli import component_logs

        return component_logs.show(address, agent_id, follow, lines)
    if task_id is None:
        fail("name a TASK_ID, or --master / --agent ID for a component's own log")
    state = _state(address)
    task = next((t for t in _all_tasks(state) if t.id == task_id), None)
    if task is None:
        fail(f"no task {task_id!r} is known to the master at {address}", EXIT_RUNTIME)
    agent = next((a for a in state.slaves if a.id == task.slave_id), None)
    if agent is None:
        fail(f"task {task_id} ran on agent {task.slave_id}, which is gone", EXIT_RUNTIME)
    agent_addr = agent.pid.split("@", 1)[1]
    directory = _sandbox(fetch(f"http://{agent_addr}/state", sv.AgentState), task_id)
    if directory is None:
        fail(f"agent {agent.id} no longer has a sandbox for {task_id}", EXIT_RUNTIME)
    path = f"{directory}/{'stderr' if stderr else 'stdout'}"
    offset = 0
    while True:
        q = urllib.parse.urlencode({"path": path, "offset": offset, "length": 65536})
        chunk = fetch(f"http://{agent_addr}/files/read?{q}", sv.FileData)
        if chunk.data:
            sys.stdout.write(chunk.data)
            sys.stdout.flush()
            offset += len(chunk.data.encode())
            continue
        if not follow:
            break
        live = any(t.id == task_id and t.state in LIVE_STATES for t in _all_tasks(_state(address)))
        if not live:
            break
        time.sleep(0.5)
