"""``corral aurora``: run the Aurora-style front end (jobs role/env/name, TOML specs,
updates with rollback) on the services and jobs frameworks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from corral.cli.common import fail, setup_logging
from corral.cli.framework_flags import made_dir


def aurora(
    master: str = typer.Option(
        ..., "--master", help="The master (for GET_QUOTA): HOST:PORT or zk://.../corral."
    ),
    port: int = typer.Option(8081, "--port", help="Port of the front end's API."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    services_url: str = typer.Option(
        "http://127.0.0.1:8080", "--services-url", help="The services framework's API."
    ),
    jobs_url: str = typer.Option(
        "http://127.0.0.1:4400", "--jobs-url", help="The jobs framework's API (cron jobs)."
    ),
    work_dir: Path = typer.Option(
        Path("/var/lib/corral/aurora"), "--work-dir", help="Where the state file is kept."
    ),
    poll_interval: float = typer.Option(
        1.0, "--poll-interval", help="Seconds between looks at the instances under update."
    ),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Run the Aurora-style front end: `corral job create|status|killall|update` talk to it."""
    setup_logging(log_level)
    if not 0 < port <= 65535:
        fail("--port must be between 1 and 65535")
    if not poll_interval > 0:
        fail("--poll-interval must be a positive number of seconds")
    for flag, url in (("--services-url", services_url), ("--jobs-url", jobs_url)):
        if not url.startswith(("http://", "https://")):
            fail(f"{flag} must be an http:// URL, got {url!r}")
    work_dir = made_dir(work_dir)
    from corral.frameworks.aurora.daemon import run_aurora

    try:
        code = asyncio.run(
            run_aurora(
                master=master,
                services_url=services_url,
                jobs_url=jobs_url,
                work_dir=work_dir,
                host=host,
                port=port,
                poll_interval=poll_interval,
            )
        )
    except OSError as exc:
        fail(f"--port {port}: cannot listen on {host}:{port}: {exc.strerror or exc}")
    raise typer.Exit(code)
