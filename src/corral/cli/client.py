"""Client commands: run, agents, tasks, frameworks, logs."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.parse
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from corral.cli.common import fail, fetch, resolve_master
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


def run(
    command: list[str] = typer.Argument(..., help="The command (after --)."),
    master: str | None = MasterOpt,
    cpus: float = typer.Option(0.1, "--cpus", help="CPUs per task."),
    mem: float = typer.Option(32.0, "--mem", help="Memory per task, MB."),
    disk: float = typer.Option(0.0, "--disk", help="Disk per task, MB."),
    count: int = typer.Option(1, "--count", help="Run this many copies."),
    name: str = typer.Option("corral-run", "--name", help="Framework and task name prefix."),
    env: list[str] = typer.Option(
        [], "--env", help="KEY=VALUE for the task's environment (repeatable)."
    ),
    uri: list[str] = typer.Option(
        [], "--uri", help="A URI to fetch into the sandbox (repeatable)."
    ),
    role: str = typer.Option("*", "--role", help="Role to run under."),
    timeout: float = typer.Option(
        0.0, "--timeout", help="Give up after this many seconds (0: wait forever)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
    docker_image: str = typer.Option(
        "", "--docker-image", help="Run the command in this docker image (agents with docker)."
    ),
    docker_network: str = typer.Option(
        "host", "--docker-network", help="With --docker-image: host, bridge or none."
    ),
    force_pull: bool = typer.Option(
        False, "--force-pull", help="With --docker-image: pull the image even if it is local."
    ),
) -> None:
    """Run a command (or --count copies) on the cluster; wait; report exit codes."""
    from corral.frameworks.run import RunSpec
    from corral.frameworks.run import run as run_framework

    if count < 1:
        fail("--count must be at least 1")
    if cpus <= 0 and mem <= 0:
        fail("--cpus or --mem must be positive")
    if cpus < 0 or mem < 0 or disk < 0:
        fail("--cpus, --mem and --disk must not be negative")
    environment: dict[str, str] = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--env: expected KEY=VALUE, got {item!r}")
        environment[key] = value
    if docker_network.lower() not in ("host", "bridge", "none"):
        fail(f"--docker-network: expected host, bridge or none, got {docker_network!r}")
    if not docker_image and (force_pull or docker_network.lower() != "host"):
        fail("--force-pull and --docker-network need --docker-image")
    if docker_image and (docker_image != docker_image.strip() or not docker_image.strip()):
        fail(f"--docker-image: not an image name: {docker_image!r}")
    address = resolve_master(master, keep_zk=True)  # the driver follows failovers itself
    shell_cmd = command[0] if len(command) == 1 else " ".join(_quote(c) for c in command)
    spec = RunSpec(
        command=shell_cmd,
        count=count,
        cpus=cpus,
        mem=mem,
        disk=disk,
        name=name,
        env=environment,
        uris=list(uri),
        role=role,
        docker_image=docker_image or None,
        docker_network=docker_network.upper(),
        force_pull=force_pull,
    )
    start = time.monotonic()
    verbose = count == 1 and not as_json

    def on_update(result: Any, status: Any) -> None:
        if verbose:
            line = f"{result.task_id} {status.state}"
            if status.reason and status.state != "TASK_RUNNING":
                line += f" ({status.reason})"
            if status.message and status.state != "TASK_RUNNING":
                line += f": {status.message}"
            console.print(line, highlight=False)

    try:
        fw = asyncio.run(run_framework(address, spec, on_update, timeout=timeout or None))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    if fw.failure_message:
        fail(f"the master refused the framework: {fw.failure_message}")
    results = list(fw.results.values())
    elapsed = time.monotonic() - start
    if as_json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
    elif count == 1:
        r = results[0]
        if r.exit_code is not None:
            console.print(f"exit code {r.exit_code}", highlight=False)
        elif r.state != "TASK_FINISHED":
            console.print(f"{r.state}" + (f" ({r.reason})" if r.reason else ""), highlight=False)
    else:
        by_state: dict[str, int] = {}
        for r in results:
            by_state[r.state] = by_state.get(r.state, 0) + 1
        summary = ", ".join(
            f"{n} {s.removeprefix('TASK_').lower()}" for s, n in sorted(by_state.items())
        )
        console.print(f"{count} tasks in {elapsed:.2f}s: {summary}", highlight=False)
    if not all(r.state in ("TASK_FINISHED", "TASK_STAGING") for r in results) or any(
        r.state == "TASK_STAGING" for r in results
    ):
        raise typer.Exit(1)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


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
    task_id: str = typer.Argument(..., help="The task whose output to show."),
    master: str | None = MasterOpt,
    stderr: bool = typer.Option(False, "--stderr", help="Show stderr instead of stdout."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing as the task writes."),
) -> None:
    """Print a task's stdout (or stderr) from its sandbox."""
    address = resolve_master(master)
    state = _state(address)
    task = next((t for t in _all_tasks(state) if t.id == task_id), None)
    if task is None:
        fail(f"no task {task_id!r} is known to the master at {address}")
    agent = next((a for a in state.slaves if a.id == task.slave_id), None)
    if agent is None:
        fail(f"task {task_id} ran on agent {task.slave_id}, which is gone")
    agent_addr = agent.pid.split("@", 1)[1]
    directory = _sandbox(fetch(f"http://{agent_addr}/state", sv.AgentState), task_id)
    if directory is None:
        fail(f"agent {agent.id} no longer has a sandbox for {task_id}")
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
