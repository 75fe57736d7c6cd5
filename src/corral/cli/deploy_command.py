"""`corral deploy INVENTORY` and `corral supervise SPEC` (docs/deploy.md)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import typer
from rich.console import Console

from corral.cli.common import EXIT_RUNTIME, fail


def deploy(
    inventory: Path = typer.Argument(..., help="The inventory (TOML): hosts, roles, SSH."),
    check: bool = typer.Option(False, "--check", help="Show what would change; change nothing."),
    wheel: Path | None = typer.Option(
        None, "--wheel", help="Install this corral wheel (default: build one of this checkout)."
    ),
    timeout: float = typer.Option(
        180.0, "--timeout", help="Seconds to wait for a leader and every agent after deploying."
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until the cluster is healthy."),
    as_json: bool = typer.Option(
        False, "--json", help="Print each host's outcome (and the health) as JSON on stdout."
    ),
) -> None:
    """Install, configure and start corral on every host of an inventory, over SSH."""
    from corral.deploy import inventory as inventory_mod
    from corral.deploy import wheel as wheel_mod
    from corral.deploy.run import deploy as run_deploy

    try:
        text = inventory.read_text()
    except OSError as exc:
        fail(f"INVENTORY: cannot read {inventory}: {exc.strerror}")
    try:
        inv = inventory_mod.parse(text, str(inventory))
    except inventory_mod.InventoryError as exc:
        fail(str(exc))
    if timeout <= 0:
        fail("--timeout must be positive")
    console = Console(highlight=False, stderr=as_json)  # --json: progress on stderr
    report: list[dict[str, object]] | None = [] if as_json else None
    with tempfile.TemporaryDirectory(prefix="corral-deploy-") as tmp:
        if wheel is None:
            console.print("building a wheel of this checkout…")
            try:
                wheel = wheel_mod.build(Path(tmp))
            except RuntimeError as exc:
                fail(str(exc), EXIT_RUNTIME)
        elif not wheel.is_file():
            fail(f"--wheel: {wheel} is not a file")
        try:
            digest = wheel_mod.digest(wheel)
        except (OSError, ValueError) as exc:
            fail(f"--wheel: {exc}")
        console.print(f"corral wheel {wheel.name} ({digest[:12]})")
        code = asyncio.run(
            run_deploy(inv, wheel, digest, check=check, timeout=timeout, wait=wait,
                       console=console, report=report)
        )  # fmt: skip
    if report is not None:
        print(json.dumps(report, indent=2))
    raise typer.Exit(code)


def upgrade(
    inventory: Path = typer.Argument(
        ..., help="The inventory (TOML) the cluster was deployed from."
    ),
    to: str = typer.Option(..., "--to", help="The corral wheel (a .whl file) to upgrade to."),
    step_timeout: float = typer.Option(
        120.0, "--step-timeout", help="Seconds each step may take to be healthy again."
    ),
) -> None:
    """Rolling upgrade: standby masters, a leader handover, the old leader, agents one at a time."""
    from corral.deploy import inventory as inventory_mod
    from corral.deploy import wheel as wheel_mod
    from corral.deploy.upgrade import upgrade as run_upgrade
    from corral.deploy.upgrade import wheel_version

    try:
        inv = inventory_mod.parse(inventory.read_text(), str(inventory))
    except OSError as exc:
        fail(f"INVENTORY: cannot read {inventory}: {exc.strerror}")
    except inventory_mod.InventoryError as exc:
        fail(str(exc))
    if step_timeout <= 0:
        fail("--step-timeout must be positive")
    wheel = Path(to)
    if not to.endswith(".whl"):
        fail(f"--to: {to!r}: give a wheel file (*.whl); upgrading to a version from an index "
             "is not supported yet")  # fmt: skip
    if not wheel.is_file():
        fail(f"--to: {wheel} is not a file", EXIT_RUNTIME)
    try:
        digest = wheel_mod.digest(wheel)
        version = wheel_version(wheel)
    except (OSError, ValueError) as exc:
        fail(f"--to: {exc}")
    console = Console(highlight=False)
    console.print(f"corral wheel {wheel.name} ({digest[:12]}), version {version}")
    code = asyncio.run(
        run_upgrade(inv, wheel, digest, version, step_timeout=step_timeout, console=console)
    )
    raise typer.Exit(code)


def supervise(
    spec: Path = typer.Argument(..., help="A service spec written by corral deploy."),
    restart: bool = typer.Option(
        False, "--restart", help="Stop a running supervisor of SPEC, start a detached one."
    ),
    stop: bool = typer.Option(False, "--stop", help="Stop the running supervisor of SPEC."),
) -> None:
    """Keep the service of SPEC running (restarts with backoff; used where systemd is not)."""
    from corral.deploy import supervisor

    if restart and stop:
        fail("--restart and --stop exclude each other")
    try:
        loaded = supervisor.Spec.load(spec.absolute())
    except (OSError, ValueError, KeyError) as exc:
        fail(f"SPEC: cannot load {spec}: {exc}")
    if stop:
        supervisor.stop(loaded)
        return
    if restart:
        supervisor.stop(loaded)
        try:
            pid = supervisor.start_detached(loaded)
        except RuntimeError as exc:
            fail(str(exc), EXIT_RUNTIME)
        print(f"supervising {spec} as pid {pid}")
        return
    raise typer.Exit(supervisor.run(loaded))
