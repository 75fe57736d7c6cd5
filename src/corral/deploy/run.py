"""`corral deploy`: every host probed, planned and brought up in parallel, then the cluster
waited on until healthy, with progress per host."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from corral.deploy import health, remote
from corral.deploy.inventory import Host, Inventory
from corral.deploy.plan import Action, plan
from corral.deploy.render import desired


@dataclass
class HostResult:
    host: Host
    actions: list[Action] = field(default_factory=list)
    error: str | None = None
    done: bool = False

    @property
    def summary(self) -> str:
        if self.error:
            return f"[red]failed[/]: {self.error}"
        if not self.actions:
            return "[green]unchanged[/]"
        verb = "changed" if self.done else "would change"
        return f"[yellow]{verb}[/]: {len(self.actions)} step(s)"

    def to_json(self) -> dict[str, object]:
        """The host's row of ``corral deploy --json``."""
        if self.error:
            result = "failed"
        elif not self.actions:
            result = "unchanged"
        else:
            result = "changed" if self.done else "would change"
        return {
            "host": self.host.name,
            "address": self.host.address,
            "roles": list(self.host.roles),
            "result": result,
            "steps": [a.describe() for a in self.actions],
            "error": self.error,
        }


async def _host(
    inv: Inventory, host: Host, wheel_file: Path, digest: str, check: bool, console: Console
) -> HostResult:
    result = HostResult(host)

    def say(text: str) -> None:
        console.print(f"[bold cyan]{host.name:<10}[/] {text}", highlight=False)

    try:
        say(f"connecting to {host.ssh.user}@{host.address}:{host.ssh.port}")
        conn = await remote.connect(host)
        async with conn:
            seen = await remote.observe(conn, inv, host, digest)
            want = desired(inv, host, digest, systemd=seen.systemd)
            result.actions = plan(want, seen)
            manager = "systemd" if seen.systemd else "corral supervise"
            if not result.actions:
                say(f"[green]unchanged[/] ({', '.join(host.roles)}; {manager})")
                return result
            if check:
                for action in result.actions:
                    say(f"would {action.describe()}")
                return result
            await remote.apply(conn, want, result.actions, wheel_file, inv.cluster.pip_args, say)
            result.done = True
            say(f"[green]done[/] ({len(result.actions)} step(s); {manager})")
    except (remote.RemoteError, OSError) as exc:
        result.error = str(exc)
        say(f"[red]failed[/]: {exc}")
    return result


async def wait_healthy(inv: Inventory, timeout: float, console: Console) -> health.Health:
    deadline = time.monotonic() + timeout
    said = ""
    while True:
        now = await health.check(inv)
        text = now.describe(inv)
        if text != said:
            console.print(f"[bold cyan]{'cluster':<10}[/] {text}", highlight=False)
            said = text
        if now.healthy(inv) or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.5)


async def deploy(
    inv: Inventory,
    wheel_file: Path,
    digest: str,
    *,
    check: bool,
    timeout: float,
    wait: bool,
    console: Console,
    report: list[dict[str, object]] | None = None,
) -> int:
    """Returns the exit code: 0 deployed (or checked) and healthy, 1 a host or the health
    check failed. With ``report`` (``--json``), each host's outcome is appended to it as
    JSON instead of a table, and the cluster's health last."""
    results = await asyncio.gather(
        *(_host(inv, h, wheel_file, digest, check, console) for h in inv.hosts)
    )
    if report is not None:
        report.extend(r.to_json() for r in results)
    else:
        title = "corral deploy" + (" --check" if check else "")
        table = Table("host", "address", "roles", "result", title=title)
        for r in results:
            table.add_row(r.host.name, r.host.address, ", ".join(r.host.roles), r.summary)
        console.print(table)
    if any(r.error for r in results):
        return 1
    if check or not wait:
        return 0
    now = await wait_healthy(inv, timeout, console)
    if report is not None:
        report.append({"cluster": now.describe(inv), "healthy": now.healthy(inv)})
    if not now.healthy(inv):
        console.print(
            f"[red]not healthy after {timeout:g} s[/]: {now.describe(inv)}; see "
            "ROOT/var/log/corral/*.log on the hosts",
            highlight=False,
        )
        return 1
    console.print(f"[green]healthy[/]: {now.describe(inv)}", highlight=False)
    return 0
