"""`corral maintenance`: the cluster's maintenance schedule, as Mesos's operator API has it.
`schedule set FILE.json` (Mesos's schedule JSON: windows of machines and their
unavailability), `schedule show`, `status` (DRAINING machines with their frameworks' answers,
DOWN machines), `start HOST...` (DOWN: their agents' tasks are killed) and `stop HOST...` (UP
again, out of the schedule)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from corral.cli.common import EXIT_RUNTIME, fail, resolve_master
from corral.cli.operator_client import operator_call
from corral.wire import maintenance as wm
from corral.wire.codec import WireError, decode, encode, to_builtins

app = typer.Typer(
    help="Maintenance schedules: windows of machines going away (DRAINING), then DOWN and UP.",
    no_args_is_help=True,
    add_completion=False,
)
schedule_app = typer.Typer(
    help="Set or show the maintenance schedule.", no_args_is_help=True, add_completion=False
)
app.add_typer(schedule_app, name="schedule")
console = Console(width=None if sys.stdout.isatty() else 200)

MasterOpt = typer.Option(
    None,
    "--master",
    help="HOST:PORT or zk://… of the masters (default: $CORRAL_MASTER or the `corral up` cluster).",
)
JsonOpt = typer.Option(False, "--json", help="Print Mesos's JSON instead of a table.")


def read(master: str, call_type: str) -> wm.MaintenanceResponse:
    body = operator_call(master, {"type": call_type})
    try:
        return decode(body, wm.MaintenanceResponse)
    except WireError as exc:
        fail(f"{call_type}: unexpected answer: {exc}", EXIT_RUNTIME)


def current_schedule(master: str) -> wm.Schedule:
    got = read(master, "GET_MAINTENANCE_SCHEDULE").get_maintenance_schedule
    return got.schedule if got is not None else wm.Schedule()


def when(ns: int) -> str:
    t = datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.UTC)
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def span(ns: int | None) -> str:
    if ns is None:
        return "indefinite"
    return str(datetime.timedelta(seconds=round(ns / 1e9)))


def label(m: wm.MachineID) -> str:
    if m.hostname and m.ip:
        return f"{m.hostname} ({m.ip})"
    return m.hostname or m.ip or "?"


def print_json(obj: Any) -> None:
    print(json.dumps(to_builtins(obj), indent=2))


@schedule_app.command("set")
def schedule_set(
    file: Path = typer.Argument(
        ..., help='Mesos\'s schedule JSON: {"windows": [{"machine_ids": [...], ...}]}.'
    ),
    master: str | None = MasterOpt,
) -> None:
    """Replace the maintenance schedule (an empty {"windows": []} clears it; DOWN machines
    must stay in it until `corral maintenance stop`)."""
    try:
        text = file.read_text()
    except OSError as exc:
        fail(f"FILE: cannot read {file}: {exc.strerror}")
    try:
        schedule = decode(text, wm.Schedule)
    except WireError as exc:
        fail(f"FILE: {file} is not a maintenance schedule: {exc}")
    address = resolve_master(master)
    operator_call(
        address,
        {
            "type": "UPDATE_MAINTENANCE_SCHEDULE",
            "update_maintenance_schedule": {"schedule": json.loads(encode(schedule))},
        },
    )
    machines = sum(len(w.machine_ids) for w in schedule.windows)
    print(f"maintenance schedule set: {len(schedule.windows)} window(s), {machines} machine(s)")


@schedule_app.command("show")
def schedule_show(master: str | None = MasterOpt, as_json: bool = JsonOpt) -> None:
    """Show the maintenance schedule: each window's machines, start and duration."""
    address = resolve_master(master)
    schedule = current_schedule(address)
    if as_json:
        print_json(schedule)
        return
    if not schedule.windows:
        print("no maintenance scheduled")
        return
    table = Table("WINDOW", "MACHINES", "START (UTC)", "DURATION")
    for i, w in enumerate(schedule.windows):
        u = w.unavailability
        table.add_row(
            str(i),
            ", ".join(label(m) for m in w.machine_ids),
            when(u.start.nanoseconds),
            span(None if u.duration is None else u.duration.nanoseconds),
        )
    console.print(table)


@app.command()
def status(master: str | None = MasterOpt, as_json: bool = JsonOpt) -> None:
    """DRAINING machines (with each framework's answer to the inverse offers) and DOWN ones."""
    address = resolve_master(master)
    got = read(address, "GET_MAINTENANCE_STATUS").get_maintenance_status
    st = got.status if got is not None else wm.ClusterStatus()
    if as_json:
        print_json(st)
        return
    if not st.draining_machines and not st.down_machines:
        print("no machine is draining or down")
        return
    table = Table("MACHINE", "MODE", "FRAMEWORKS' ANSWERS")
    for d in st.draining_machines:
        answers = ", ".join(f"{x.framework_id.value}: {x.status}" for x in d.statuses)
        table.add_row(label(d.id), "DRAINING", answers or "-")
    for m in st.down_machines:
        table.add_row(label(m), "DOWN", "-")
    console.print(table)


def machine_ids(address: str, hosts: list[str]) -> list[dict[str, str]]:
    """Each HOST as the schedule names its machine (a hostname or an IP may name a machine
    scheduled with both); as given when the schedule has no such machine."""
    scheduled = [m for w in current_schedule(address).windows for m in w.machine_ids]
    out: list[dict[str, str]] = []
    for host in hosts:
        found = [m for m in scheduled if host.lower() in ((m.hostname or "").lower(), m.ip)]
        if len(found) == 1:
            out.append(json.loads(encode(found[0])))
            continue
        if len(found) > 1:
            fail(f"HOST: {host!r} names {len(found)} scheduled machines; give HOSTNAME or IP")
        try:
            out.append({"ip": str(ipaddress.ip_address(host))})
        except ValueError:
            out.append({"hostname": host})
    return out


def machines_command(call_type: str, hosts: list[str], master: str | None) -> None:
    address = resolve_master(master)
    machines = machine_ids(address, hosts)
    operator_call(address, {"type": call_type, call_type.lower(): {"machines": machines}})


@app.command()
def start(
    hosts: list[str] = typer.Argument(..., help="Machines of the schedule: hostname or IP."),
    master: str | None = MasterOpt,
) -> None:
    """Take DRAINING machines DOWN: their agents' tasks are killed and the agents are refused
    until `corral maintenance stop`."""
    machines_command("START_MAINTENANCE", hosts, master)
    print(f"down for maintenance: {', '.join(hosts)}")


@app.command()
def stop(
    hosts: list[str] = typer.Argument(..., help="DOWN machines: hostname or IP."),
    master: str | None = MasterOpt,
) -> None:
    """Bring DOWN machines UP: their agents may register again; they leave the schedule."""
    machines_command("STOP_MAINTENANCE", hosts, master)
    print(f"up: {', '.join(hosts)}")
