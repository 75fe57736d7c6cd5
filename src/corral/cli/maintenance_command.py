"""`corral agent`: run an agent (no subcommand, the flags of `corral agent --help`), or act
on one as the operator: `corral agent drain|deactivate|reactivate|gone HOST`."""

from __future__ import annotations

import inspect
import typing
from typing import Any

import typer

from corral.cli import daemons
from corral.cli.common import EXIT_RUNTIME, fail, fetch, resolve_master
from corral.cli.operator_client import operator_call
from corral.wire import state_views as sv

app = typer.Typer(
    help="Run an agent (`corral agent [FLAGS]`), or drain, deactivate, reactivate or mark gone "
    "an agent of the cluster (`corral agent drain HOST`).",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
)

MasterOpt = typer.Option(
    None,
    "--master",
    help="HOST:PORT or zk://… of the masters (default: $CORRAL_MASTER or the `corral up` cluster).",
)


def agent_callback(ctx: typer.Context, **flags: Any) -> None:
    if ctx.invoked_subcommand is None:
        daemons.agent(**flags)


# The callback takes every flag of `corral agent` (the daemon) plus the context; the
# annotations are resolved here (the daemon's module has postponed ones, which typer would
# otherwise read as strings and parse every flag as text).
DAEMON = inspect.signature(daemons.agent)
HINTS = typing.get_type_hints(daemons.agent)
agent_callback.__signature__ = DAEMON.replace(  # type: ignore[attr-defined]
    parameters=[
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        *(
            p.replace(annotation=HINTS.get(p.name, p.annotation))
            for p in DAEMON.parameters.values()
        ),
    ],
    return_annotation=None,
)
agent_callback.__doc__ = daemons.agent.__doc__
app.callback(invoke_without_command=True)(agent_callback)


def find_agent(master: str, host: str) -> sv.StateAgent:
    """The agent named by its id, hostname or hostname:port."""
    state = fetch(f"http://{master}/master/state", sv.MasterState)
    found = [
        a
        for a in state.slaves
        if host in (a.id, a.hostname, f"{a.hostname}:{a.port}", a.pid.split("@")[-1])
    ]
    if not found:
        known = ", ".join(f"{a.hostname}:{a.port} ({a.id})" for a in state.slaves) or "none"
        fail(f"HOST: no agent {host!r} is registered (agents: {known})", EXIT_RUNTIME)
    if len(found) > 1:
        ids = ", ".join(f"{a.hostname}:{a.port} ({a.id})" for a in found)
        fail(f"HOST: {host!r} names {len(found)} agents ({ids}): give HOST:PORT or the id")
    return found[0]


def agent_call(master: str, call_type: str, agent_id: str) -> None:
    """One of Mesos's agent calls that name only the agent (DEACTIVATE_AGENT, ...)."""
    operator_call(master, {"type": call_type, call_type.lower(): {"agent_id": {"value": agent_id}}})


@app.command()
def drain(
    host: str = typer.Argument(..., help="The agent: its hostname, HOST:PORT or id."),
    max_grace: float = typer.Option(
        -1.0, "--max-grace", help="Cap on each task's kill grace period, seconds (default: none)."
    ),
    mark_gone: bool = typer.Option(
        False, "--mark-gone", help="Once drained, mark the agent gone (it may never come back)."
    ),
    master: str | None = MasterOpt,
) -> None:
    """Drain an agent: no new tasks; its frameworks are told (inverse offers) and given the
    master's --drain-notice to move their tasks, then what is left is killed."""
    address = resolve_master(master)
    a = find_agent(address, host)
    payload: dict[str, Any] = {"agent_id": {"value": a.id}, "mark_gone": mark_gone}
    if max_grace >= 0:
        payload["max_grace_period"] = {"nanoseconds": int(max_grace * 1e9)}
    operator_call(address, {"type": "DRAIN_AGENT", "drain_agent": payload})
    print(f"draining agent {a.hostname}:{a.port} ({a.id})")


@app.command()
def deactivate(
    host: str = typer.Argument(..., help="The agent: its hostname, HOST:PORT or id."),
    master: str | None = MasterOpt,
) -> None:
    """No new offers for the agent; what runs there keeps running."""
    address = resolve_master(master)
    a = find_agent(address, host)
    agent_call(address, "DEACTIVATE_AGENT", a.id)
    print(f"deactivated agent {a.hostname}:{a.port} ({a.id})")


@app.command()
def reactivate(
    host: str = typer.Argument(..., help="The agent: its hostname, HOST:PORT or id."),
    master: str | None = MasterOpt,
) -> None:
    """Offer a deactivated or drained agent again."""
    address = resolve_master(master)
    a = find_agent(address, host)
    agent_call(address, "REACTIVATE_AGENT", a.id)
    print(f"reactivated agent {a.hostname}:{a.port} ({a.id})")


@app.command()
def gone(
    host: str = typer.Argument(..., help="The agent: its hostname, HOST:PORT or id."),
    master: str | None = MasterOpt,
) -> None:
    """Mark an agent gone for good: its tasks end as TASK_GONE_BY_OPERATOR and it may never
    register again."""
    address = resolve_master(master)
    a = find_agent(address, host)
    agent_call(address, "MARK_AGENT_GONE", a.id)
    print(f"agent {a.hostname}:{a.port} ({a.id}) is gone")


def teardown(
    framework_id: str = typer.Argument(..., help="The framework's id (see `corral frameworks`)."),
    master: str | None = MasterOpt,
) -> None:
    """Tear a framework down: its tasks are killed and it may not subscribe again (the
    operator API's TEARDOWN)."""
    address = resolve_master(master)
    state = fetch(f"http://{address}/master/state", sv.MasterState)
    known = {f.id: f.name for f in state.frameworks}
    if framework_id not in known:
        listed = ", ".join(f"{i} ({n})" for i, n in known.items()) or "none"
        fail(f"FRAMEWORK_ID: no framework {framework_id!r} is registered (frameworks: {listed})", 1)
    body = {"type": "TEARDOWN", "teardown": {"framework_id": {"value": framework_id}}}
    operator_call(address, body)
    print(f"tore down framework {framework_id} ({known[framework_id]})")
