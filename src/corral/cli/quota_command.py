"""`corral quota set|show|remove` and `corral weights set|show`: the operator API's
UPDATE_QUOTA / GET_QUOTA and UPDATE_WEIGHTS / GET_WEIGHTS (exit 1 when the master refuses or
cannot be reached, 2 on bad usage)."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from corral.cli.common import EXIT_RUNTIME, fail, resolve_master
from corral.cli.operator_client import operator_call
from corral.resources import SCALAR_KINDS
from corral.wire import operator as op
from corral.wire import quota as wq
from corral.wire.codec import WireError, decode, to_builtins

console = Console(width=None if sys.stdout.isatty() else 200)
MasterOpt = typer.Option(
    None,
    "--master",
    help="HOST:PORT or zk://… of the masters (default: $CORRAL_MASTER or the `corral up` cluster).",
)

quota_app = typer.Typer(
    help="Per-role quota (Mesos >= 1.9): a guarantee held back for the role while it has work "
    "to place, and a limit it is never offered beyond.",
    no_args_is_help=True,
    add_completion=False,
)
weights_app = typer.Typer(
    help="Role weights: a role with weight 2 gets twice the fair share of weight 1.",
    no_args_is_help=True,
    add_completion=False,
)


def read(master: str, call_type: str) -> op.MasterResponse:
    body = operator_call(master, {"type": call_type})
    try:
        return decode(body, op.MasterResponse)
    except WireError as exc:
        fail(f"{call_type}: unexpected answer: {exc}", EXIT_RUNTIME)


def get_quota(master: str) -> wq.GetQuota:
    got = read(master, "GET_QUOTA").get_quota
    if not isinstance(got, wq.GetQuota):
        fail("GET_QUOTA: the answer has no 'get_quota'", EXIT_RUNTIME)
    return got


def amounts(flags: dict[str, float | None], prefix: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for kind, value in flags.items():
        if value is None:
            continue
        if not math.isfinite(value) or value < 0:
            fail(f"--{prefix}{kind}: must be a number >= 0, got {value:g}")
        out[kind] = {"value": value}
    return out


def _num(v: float) -> str:
    return f"{v:g}"


def _kinds(values: dict[str, Any]) -> str:
    parts = []
    for k in SCALAR_KINDS:
        if k in values:
            v = values[k]
            parts.append(f"{k} {_num(v.value if hasattr(v, 'value') else v)}")
    return ", ".join(parts) or "-"


@quota_app.command("set")
def quota_set(
    role: str = typer.Argument(..., help="The role."),
    cpus: float | None = typer.Option(None, "--cpus", help="Guaranteed cpus."),
    mem: float | None = typer.Option(None, "--mem", help="Guaranteed memory, MB."),
    disk: float | None = typer.Option(None, "--disk", help="Guaranteed disk, MB."),
    gpus: float | None = typer.Option(None, "--gpus", help="Guaranteed gpus."),
    limit_cpus: float | None = typer.Option(None, "--limit-cpus", help="At most these cpus."),
    limit_mem: float | None = typer.Option(None, "--limit-mem", help="At most this memory, MB."),
    limit_disk: float | None = typer.Option(None, "--limit-disk", help="At most this disk, MB."),
    limit_gpus: float | None = typer.Option(None, "--limit-gpus", help="At most these gpus."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Store it even if the guarantees exceed the cluster or a limit is below what the "
        "role uses now.",
    ),
    master: str | None = MasterOpt,
) -> None:
    """Set ROLE's quota (replacing the one it had): guarantees with --cpus/--mem/--disk/--gpus,
    limits with --limit-*. A kind not given has no guarantee (or no limit)."""
    guarantees = amounts({"cpus": cpus, "mem": mem, "disk": disk, "gpus": gpus}, "")
    limits = amounts(
        {"cpus": limit_cpus, "mem": limit_mem, "disk": limit_disk, "gpus": limit_gpus}, "limit-"
    )
    if not guarantees and not limits:
        fail("give a guarantee (--cpus, --mem, --disk, --gpus) or a limit (--limit-cpus, …)")
    for kind, g in guarantees.items():
        if kind in limits and g["value"] > limits[kind]["value"]:
            fail(
                f"--{kind}: the guarantee {_num(g['value'])} is above --limit-{kind} "
                f"{_num(limits[kind]['value'])}"
            )
    address = resolve_master(master)
    config = {"role": role, "guarantees": guarantees, "limits": limits}
    operator_call(
        address,
        {"type": "UPDATE_QUOTA", "update_quota": {"force": force, "quota_configs": [config]}},
    )
    print(
        f"quota of role {role}: guarantee {_kinds(flat(guarantees))}; limit {_kinds(flat(limits))}"
    )


def flat(values: dict[str, dict[str, float]]) -> dict[str, float]:
    return {k: v["value"] for k, v in values.items()}


@quota_app.command("show")
def quota_show(
    role: str | None = typer.Argument(None, help="Only this role."),
    as_json: bool = typer.Option(False, "--json"),
    master: str | None = MasterOpt,
) -> None:
    """Every role's quota, what it holds (allocated + offered), and why it is short of its
    guarantee or at its limit."""
    got = get_quota(resolve_master(master))
    configs = [c for c in got.status.configs if role is None or c.role == role]
    states = {s.role: s for s in got.corral_roles}
    if as_json:
        rows = []
        for c in configs:
            row = to_builtins(c)
            s = states.get(c.role)
            row["consumed"] = s.consumed if s else {}
            row["reason"] = s.reason if s else ""
            rows.append(row)
        print(json.dumps(rows, indent=2))
        return
    if not configs:
        print(f"role {role} has no quota" if role is not None else "no role has a quota")
        return
    table = Table("ROLE", "GUARANTEE", "LIMIT", "CONSUMED", "STATUS")
    for c in configs:
        s = states.get(c.role)
        table.add_row(
            c.role,
            _kinds(c.guarantees),
            _kinds(c.limits),
            _kinds(s.consumed) if s else "-",
            (s.reason if s and s.reason else "ok"),
        )
    console.print(table)


@quota_app.command("remove")
def quota_remove(
    role: str = typer.Argument(..., help="The role."),
    master: str | None = MasterOpt,
) -> None:
    """Remove ROLE's quota (back to no guarantee and no limit)."""
    address = resolve_master(master)
    if role not in {c.role for c in get_quota(address).status.configs}:
        fail(f"role {role} has no quota to remove", EXIT_RUNTIME)
    operator_call(
        address,
        {"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [{"role": role}]}},
    )
    print(f"removed the quota of role {role}")


@weights_app.command("set")
def weights_set(
    pairs: list[str] = typer.Argument(..., help="ROLE=WEIGHT, one or more."),
    master: str | None = MasterOpt,
) -> None:
    """Set roles' weights (kept across master failovers)."""
    infos: list[dict[str, str | float]] = []
    names: list[str] = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not sep or not name or not math.isfinite(weight) or weight <= 0:
            fail(f"ROLE=WEIGHT: cannot use {pair!r}; expected e.g. prod=2 (a weight > 0)")
        infos.append({"role": name, "weight": weight})
        names.append(f"{name}={_num(weight)}")
    operator_call(
        resolve_master(master),
        {"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": infos}},
    )
    print("weights: " + ", ".join(names))


@weights_app.command("show")
def weights_show(
    as_json: bool = typer.Option(False, "--json"), master: str | None = MasterOpt
) -> None:
    """Every role's weight that is not the default 1."""
    got = read(resolve_master(master), "GET_WEIGHTS").get_weights
    if not isinstance(got, wq.GetWeights):
        fail("GET_WEIGHTS: the answer has no 'get_weights'", EXIT_RUNTIME)
    if as_json:
        print(json.dumps(to_builtins(got.weight_infos), indent=2))
        return
    table = Table("ROLE", "WEIGHT")
    for w in got.weight_infos:
        table.add_row(w.role, _num(w.weight))
    console.print(table)
