"""``corral services``: run the services framework (long-running apps, Marathon's /v2 API)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from corral.cli import security_options as so
from corral.cli.common import fail, setup_logging
from corral.cli.framework_flags import check_master, made_dir


def services(
    master: str = typer.Option(
        ..., "--master", help="The master: HOST:PORT, or zk://h1:2181,h2:2181/corral."
    ),
    port: int = typer.Option(8080, "--port", help="Port of the API and the page (0: any)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    advertise: str = typer.Option(
        "",
        "--advertise",
        help="Base URL other instances and clients reach this one at (default: http://HOST:PORT).",
    ),
    work_dir: Path = typer.Option(
        Path("/var/lib/corral/services"),
        "--work-dir",
        help="The state (SQLite); instances sharing it elect a leader.",
    ),
    zk: str = typer.Option(
        "", "--zk", help="zk://h1:2181,.../path: keep the state in ZooKeeper instead."
    ),
    name: str = typer.Option("services", "--name", help="The framework's name at the master."),
    lease_ttl: float = typer.Option(
        5.0, "--lease-ttl", help="SQLite election: seconds before a dead leader is replaced."
    ),
    zk_session_timeout: float = typer.Option(
        10.0, "--zk-session-timeout", help="ZooKeeper election: session timeout, seconds."
    ),
    authenticate_http_readonly: bool = so.AUTH_READONLY,
    authenticate_http_readwrite: bool = so.AUTH_READWRITE,
    credentials: Path | None = so.CREDENTIALS,
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Run the services framework: keeps apps running, serves Marathon's /v2 API and a page."""
    from corral.coordination import is_zk_url, parse_zk_url

    setup_logging(log_level)
    check_master(master)
    if not 0 <= port <= 65535:
        fail("--port must be between 0 and 65535")
    if advertise and not advertise.startswith(("http://", "https://")):
        fail(f"--advertise must be a URL starting with http:// or https://, got {advertise!r}")
    if not lease_ttl > 0:
        fail("--lease-ttl must be a positive number of seconds")
    if not zk_session_timeout > 0:
        fail("--zk-session-timeout must be a positive number of seconds")
    if not name or "/" in name:
        fail("--name must be a non-empty name without '/'")
    state: str | Path
    if zk:
        if not is_zk_url(zk):
            fail(f"--zk must be a zk://host:port,.../path URL, got {zk!r}")
        try:
            parse_zk_url(zk)
        except ValueError as exc:
            fail(f"--zk: {exc}")
        state = zk
    else:
        state = made_dir(work_dir)
    from corral.frameworks.services.daemon import DaemonConfig, run_services

    security = so.api_security(authenticate_http_readonly, authenticate_http_readwrite, credentials)
    config = DaemonConfig(
        security=security,
        master=master,
        state=state,
        host=host,
        port=port,
        advertise=advertise or None,
        name=name,
        lease_ttl=lease_ttl,
        zk_session_timeout=zk_session_timeout,
    )
    try:
        code = asyncio.run(run_services(config))
    except OSError as exc:
        fail(f"--port {port}: cannot listen on {host}:{port}: {exc.strerror or exc}")
    raise typer.Exit(code)
