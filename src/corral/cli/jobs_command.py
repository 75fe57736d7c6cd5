"""``corral jobs``: run the jobs framework (Chronos's API on port 4400)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from corral.cli import security_options as so
from corral.cli.common import fail, setup_logging


def jobs(
    master: str = typer.Option(..., "--master", help="The master: host:port or zk://.../path."),
    port: int = typer.Option(4400, "--port", help="Port of the jobs API and page."),
    ip: str = typer.Option("127.0.0.1", "--ip", help="Address to listen on."),
    work_dir: Path = typer.Option(
        Path("/var/lib/corral/jobs"), "--work-dir", help="State (SQLite) when --zk is not given."
    ),
    zk: str = typer.Option(
        "", "--zk", help="zk://h1:2181,.../path: state and election in ZooKeeper."
    ),
    lease_ttl: float = typer.Option(5.0, "--lease-ttl", help="SQLite leader lease, seconds."),
    zk_session_timeout: float = typer.Option(10.0, "--zk-session-timeout", help="Seconds."),
    history: int = typer.Option(100, "--history", help="Runs kept per job in the store."),
    authenticate_http_readonly: bool = so.AUTH_READONLY,
    authenticate_http_readwrite: bool = so.AUTH_READWRITE,
    credentials: Path | None = so.CREDENTIALS,
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Run the jobs framework: scheduled and dependent jobs (Chronos's REST API)."""
    from corral.frameworks.jobs.daemon import run_jobs

    setup_logging(log_level)
    if zk and not zk.startswith("zk://"):
        fail("--zk must be a zk://host:port,.../path URL")
    if lease_ttl <= 0:
        fail("--lease-ttl must be more than 0 seconds")
    if history < 1:
        fail("--history must be 1 or more")
    security = so.api_security(authenticate_http_readonly, authenticate_http_readwrite, credentials)
    state: str | Path = zk or work_dir
    fenced = asyncio.run(
        run_jobs(
            master,
            state,
            host=ip,
            port=port,
            lease_ttl=lease_ttl,
            session_timeout=zk_session_timeout,
            history=history,
            security=security,
        )
    )
    if fenced:
        raise typer.Exit(1)
