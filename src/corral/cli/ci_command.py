"""``corral ci``: the ci framework (elastic CI build agents)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer

from corral.cli import security_options as so
from corral.cli.common import fail, setup_logging


def ci(
    master: str = typer.Option(
        os.environ.get("CORRAL_MASTER", "127.0.0.1:5050"),
        "--master",
        help="The master: HOST:PORT, or zk://h1:2181,h2:2181/corral.",
    ),
    config: Path = typer.Option(..., "--config", help="The agent templates (TOML)."),
    ip: str = typer.Option("127.0.0.1", "--ip", help="Address the API listens on."),
    port: int = typer.Option(5060, "--port", help="Port of the API and page."),
    work_dir: str = typer.Option(
        "/var/lib/corral/ci",
        "--work-dir",
        help="The framework's store: a directory, or zk://host:port/path shared by instances.",
    ),
    advertise: str = typer.Option("", "--advertise", help="URL agents reach the API at."),
    unregister_after: float = typer.Option(
        5.0, "--unregister-after", help="Seconds with no agent before unregistering."
    ),
    authenticate_http_readonly: bool = so.AUTH_READONLY,
    authenticate_http_readwrite: bool = so.AUTH_READWRITE,
    credentials: Path | None = so.CREDENTIALS,
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Run the ci framework: build agents made when the CI queue starves, removed when idle."""
    from corral.frameworks.ci.daemon import run_ci
    from corral.frameworks.ci.templates import ConfigError, read_config

    setup_logging(log_level)
    try:
        cfg = read_config(config)
    except ConfigError as exc:
        fail(f"--config: {exc}")
    if not 0 <= port <= 65535:
        fail("--port must be between 0 and 65535")
    if unregister_after < 0:
        fail("--unregister-after must be at least 0")
    if not work_dir.startswith("zk://"):
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    security = so.api_security(authenticate_http_readonly, authenticate_http_readwrite, credentials)
    raise typer.Exit(
        asyncio.run(
            run_ci(
                cfg,
                master,
                work_dir,
                host=ip,
                port=port,
                advertise=advertise or None,
                unregister_after=unregister_after,
                security=security,
            )
        )
    )
