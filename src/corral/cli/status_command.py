"""`corral status` (leader, masters, ZooKeeper quorum, agents, frameworks and tasks, in one
screen) and `corral version`."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from corral import __version__
from corral.cli.common import EXIT_RUNTIME, fail, fetch, resolve_master
from corral.coordination.url import is_zk_url, parse_zk_url
from corral.wire import state_views as sv

MasterOpt = typer.Option(
    None,
    "--master",
    help="HOST:PORT or zk://… of the masters (default: $CORRAL_MASTER or the `corral up` cluster).",
)


@dataclass
class Status:
    """What `corral status` shows (and prints with --json)."""

    leader: str
    version: str
    uptime_secs: float
    elected_secs: float
    masters: list[str] = field(default_factory=list)
    zookeeper: dict[str, Any] | None = None
    agents: dict[str, int] = field(default_factory=dict)
    resources: dict[str, dict[str, float]] = field(default_factory=dict)
    frameworks: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[str, int] = field(default_factory=dict)


def summarize(state: sv.MasterState, now: float) -> Status:
    """The one-screen view of a leader's ``/master/state`` (pure)."""
    kinds = ("cpus", "mem", "disk", "gpus")
    total = dict.fromkeys(kinds, 0.0)
    used = dict.fromkeys(kinds, 0.0)
    for a in state.slaves:
        for k in kinds:
            total[k] += float(a.resources.get(k, 0) or 0)
            used[k] += float(a.used_resources.get(k, 0) or 0)
    tasks: Counter[str] = Counter()
    frameworks = []
    for f in state.frameworks:
        states = Counter(t.state for t in f.tasks)
        tasks.update(states)
        frameworks.append(
            {
                "name": f.name,
                "id": f.id,
                "active": f.active,
                "role": f.role,
                "tasks": sum(states.values()),
                "cpus": float(f.used_resources.get("cpus", 0) or 0),
                "mem": float(f.used_resources.get("mem", 0) or 0),
                "webui_url": f.webui_url,
            }
        )
    for f in state.completed_frameworks:
        tasks.update(t.state for t in f.completed_tasks)
    for f in state.frameworks:
        tasks.update(t.state for t in f.completed_tasks)
    return Status(
        leader=state.leader.removeprefix("master@"),
        version=state.corral_version,
        uptime_secs=max(0.0, now - state.start_time),
        elected_secs=max(0.0, now - state.elected_time) if state.elected_time else 0.0,
        agents={
            "active": state.activated_slaves,
            "inactive": state.deactivated_slaves,
            "unreachable": state.unreachable_slaves,
        },
        resources={k: {"used": used[k], "total": total[k]} for k in kinds},
        frameworks=frameworks,
        tasks=dict(sorted(tasks.items())),
    )


def ago(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def status(master: str | None = MasterOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """The cluster in one screen: leader, masters, ZooKeeper, agents, frameworks, tasks."""
    target = resolve_master(master, keep_zk=True)
    masters: list[str] = []
    quorum = None
    if is_zk_url(target):
        from corral.coordination.zk_health import ensemble
        from corral.coordination.zookeeper import find_masters

        try:
            zk = parse_zk_url(target)
        except ValueError as exc:
            fail(f"--master: {exc}")
        quorum = ensemble(zk.hosts)
        if not quorum.healthy:
            lines = ", ".join(f"{s.address} {s.mode}" for s in quorum.servers)
            fail(f"ZooKeeper at {zk.hosts}: {quorum.summary()} ({lines})", EXIT_RUNTIME)
        try:
            masters = find_masters(target)
        except Exception as exc:
            fail(f"--master: cannot read the masters from {target}: {exc}", EXIT_RUNTIME)
        if not masters:
            fail(f"no master is registered at {target}", EXIT_RUNTIME)
        address = masters[0]
    else:
        address = target
    state = fetch(f"http://{address}/master/state", sv.MasterState)
    if not state.leader:
        fail(f"the master at {address} does not know a leader (an election under way?)", 1)
    if state.pid.removeprefix("master@") != state.leader.removeprefix("master@"):
        address = state.leader.removeprefix("master@")  # a standby answered: ask the leader
        state = fetch(f"http://{address}/master/state", sv.MasterState)
    out = summarize(state, time.time())
    out.masters = masters or [out.leader]
    if quorum is not None:
        out.zookeeper = {
            "healthy": quorum.healthy,
            "summary": quorum.summary(),
            "servers": [asdict(s) for s in quorum.servers],
        }
    if as_json:
        print(json.dumps(asdict(out), indent=2))
        return
    show(out)


def show(s: Status) -> None:
    console = Console()
    console.print(
        f"[bold]leader[/]      {s.leader}  (corral {s.version}, elected {ago(s.elected_secs)} "
        f"ago, up {ago(s.uptime_secs)})"
    )
    if len(s.masters) > 1:
        standbys = ", ".join(s.masters[1:])
        console.print(
            f"[bold]masters[/]     {len(s.masters)}: {s.masters[0]} (leading), {standbys}"
        )
    if s.zookeeper is not None:
        servers = ", ".join(f"{x['address']} {x['mode']}" for x in s.zookeeper["servers"])
        console.print(f"[bold]zookeeper[/]   {s.zookeeper['summary']} ({servers})")
    a = s.agents
    console.print(
        f"[bold]agents[/]      {a['active']} active, {a['inactive']} inactive, "
        f"{a['unreachable']} unreachable"
    )
    res = ", ".join(
        f"{k} {v['used']:g}/{v['total']:g}" for k, v in s.resources.items() if v["total"]
    )
    console.print(f"[bold]resources[/]   {res or 'none'} (used/total)")
    tasks = ", ".join(f"{n} {st.removeprefix('TASK_').lower()}" for st, n in s.tasks.items())
    console.print(f"[bold]tasks[/]       {tasks or 'none'}")
    if s.frameworks:
        table = Table("FRAMEWORK", "ID", "ROLE", "ACTIVE", "TASKS", "CPUS", "MEM", "UI")
        for f in s.frameworks:
            table.add_row(
                f["name"],
                f["id"],
                f["role"],
                "yes" if f["active"] else "no",
                str(f["tasks"]),
                f"{f['cpus']:g}",
                f"{f['mem']:g}",
                f["webui_url"] or "",
            )
        console.print(table)
    else:
        console.print("[bold]frameworks[/]  none")


def version(master: str | None = MasterOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """This corral's version, and the leading master's when it can be reached."""
    info: dict[str, Any] = {"client": __version__}
    try:
        address = resolve_master(master)
        got = fetch(f"http://{address}/version", sv.VersionInfo)
        corral = got.corral_version if isinstance(got.corral_version, str) else "?"
        info["master"] = {"address": address, "version": corral, "mesos_api": got.version}
    except typer.Exit:
        info["master"] = None
    if as_json:
        print(json.dumps(info, indent=2))
        return
    print(f"corral {__version__}")
    if info["master"]:
        print(f"master at {info['master']['address']}: corral {info['master']['version']}")
    else:
        print("master: not reachable (see --master)")
