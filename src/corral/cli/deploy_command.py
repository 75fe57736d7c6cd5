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
    to: str = typer.Option(
        ...,
        "--to",
        metavar="WHEEL|VERSION",
        help="The corral wheel (a .whl file) or a VERSION, downloaded here by pip "
        "(pip download corral==VERSION --no-deps).",
    ),
    find_links: list[str] = typer.Option(
        [],
        "--find-links",
        metavar="DIR",
        help="With --to VERSION: a directory of wheels to look in (repeatable).",
    ),
    index_url: str = typer.Option(
        "",
        "--index-url",
        metavar="URL",
        help="With --to VERSION: the package index (pip's --index-url).",
    ),
    no_index: bool = typer.Option(
        False, "--no-index", help="With --to VERSION: look in --find-links only, no index."
    ),
    step_timeout: float = typer.Option(
        120.0, "--step-timeout", help="Seconds each step may take to be healthy again."
    ),
) -> None:
    """Rolling upgrade: standby masters, a leader handover, the old leader, agents one at a
    time, then the built-in frameworks."""
    from corral.deploy import inventory as inventory_mod
    from corral.deploy.upgrade import upgrade as run_upgrade

    try:
        inv = inventory_mod.parse(inventory.read_text(), str(inventory))
    except OSError as exc:
        fail(f"INVENTORY: cannot read {inventory}: {exc.strerror}")
    except inventory_mod.InventoryError as exc:
        fail(str(exc))
    if step_timeout <= 0:
        fail("--step-timeout must be positive")
    with tempfile.TemporaryDirectory(prefix="corral-upgrade-") as tmp:
        wheel, digest, version = resolve_to(to, find_links, index_url, no_index, Path(tmp))
        console = Console(highlight=False)
        console.print(f"corral wheel {wheel.name} ({digest[:12]}), version {version}")
        code = asyncio.run(
            run_upgrade(inv, wheel, digest, version, step_timeout=step_timeout, console=console)
        )
    raise typer.Exit(code)


def resolve_to(
    to: str, find_links: list[str], index_url: str, no_index: bool, tmp: Path
) -> tuple[Path, str, str]:
    """`--to`: a wheel file, or a version pip downloads into `tmp`; (wheel, digest, version),
    or a message naming the flag (exit 2 for bad usage, 1 for a version not found)."""
    from corral.deploy import wheel as wheel_mod
    from corral.deploy.upgrade import wheel_version

    pip_flags = [f for f, given in (("--find-links", find_links), ("--index-url", index_url),
                                    ("--no-index", no_index)) if given]  # fmt: skip
    if to.endswith(".whl"):
        if pip_flags:
            fail(f"{pip_flags[0]} only applies to --to VERSION, not to a wheel file")
        wheel = Path(to)
        if not wheel.is_file():
            fail(f"--to: {wheel} is not a file", EXIT_RUNTIME)
    else:
        if not wheel_mod.VERSION_RE.fullmatch(to):
            fail(f"--to: {to!r} is neither a wheel file (*.whl) nor a version (e.g. 0.2.0)")
        for d in find_links:
            if "://" not in d and not Path(d).is_dir():
                fail(f"--find-links: {d} is not a directory")
        if index_url and not index_url.startswith(("http://", "https://", "file://")):
            fail(f"--index-url must be an http://, https:// or file:// URL, got {index_url!r}")
        if no_index and index_url:
            fail("--no-index and --index-url exclude each other")
        if no_index and not find_links:
            fail("--no-index needs --find-links DIR (where else would the wheel come from?)")
        try:
            wheel = wheel_mod.fetch(
                to, tmp, find_links=find_links, index_url=index_url or None, no_index=no_index
            )
        except wheel_mod.WheelNotFound as exc:
            fail(f"--to {to}: {exc}", EXIT_RUNTIME)
    try:
        digest = wheel_mod.digest(wheel)
        version = wheel_version(wheel)
    except (OSError, ValueError) as exc:
        fail(f"--to: {exc}")
    return wheel, digest, version


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
