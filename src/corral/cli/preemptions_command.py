"""``corral preemptions [--json]``: what the leading master preempted, for whom, and why
(``GET /master/preemptions``, newest first; docs/preemption.md)."""

from __future__ import annotations

import json
import sys
import time

import typer
from rich.console import Console
from rich.table import Table

from corral.cli.common import fetch, resolve_master
from corral.wire.codec import to_builtins
from corral.wire.preemption import PreemptionsView

console = Console(width=None if sys.stdout.isatty() else 200)


def preemptions(
    master: str | None = typer.Option(
        None,
        "--master",
        help="HOST:PORT or zk://… of the masters (default: $CORRAL_MASTER or the `corral up` "
        "cluster).",
    ),
    as_json: bool = typer.Option(False, "--json", help="The master's JSON, unchanged."),
) -> None:
    """List the preemptions: each victim task with its reason, newest first."""
    view = fetch(f"http://{resolve_master(master)}/master/preemptions", PreemptionsView)
    if as_json:
        print(json.dumps(to_builtins(view), indent=2))
        return
    if not view.preemptions:
        console.print("no preemptions")
        return
    table = Table("WHEN", "ID", "FOR", "AGENT", "STATE", "HOLD", "VICTIM", "STATE", "REASON")
    for p in view.preemptions:
        when = time.strftime("%H:%M:%S", time.localtime(p.time))
        asker = f"{p.framework_name or p.framework_id} {p.name or p.key or ''}".strip()
        for i, v in enumerate(p.victims):
            first = i == 0
            table.add_row(
                when if first else "",
                p.id if first else "",
                f"{asker} (priority {p.priority}, {p.tier})" if first else "",
                p.hostname if first else "",
                p.state if first else "",
                p.hold if first else "",
                v.task_id,
                v.state,
                v.reason,
            )
    console.print(table)
