"""The ``--log-*`` flags that ``corral master`` and ``corral agent`` share, and the call that
turns them into the process's log handlers (``corral.logs.setup``)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from corral.cli.common import fail
from corral.logs import setup

LOG_DIR = typer.Option(
    None,
    "--log-dir",
    help="Write <component>.log here, rotated (and <dir>/launcher.log for an agent's "
    "launcher); served at /files/read?path=/master/log (or /slave/log). Default: stderr only.",
)
LOG_FORMAT = typer.Option("text", "--log-format", help="'text' or 'json' (one object a line).")
LOG_MAX_BYTES = typer.Option(
    setup.DEFAULT_MAX_BYTES, "--log-max-bytes", help="Rotate the log file at this size."
)
LOG_BACKUPS = typer.Option(
    setup.DEFAULT_BACKUPS, "--log-backups", help="Rotated files kept (<name>.log.1 ... .N)."
)


def configure(
    component: str,
    level: str,
    log_dir: Path | None,
    log_format: str,
    max_bytes: int,
    backups: int,
) -> None:
    """Set up the process's logging from its flags; a message naming the flag when wrong."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        fail(f"--log-level: unknown level {level!r} (debug, info, warning, error)")
    opts = setup.LogOptions(
        log_dir=log_dir.absolute() if log_dir is not None else None,
        log_format=log_format,
        max_bytes=max_bytes,
        backups=backups,
    )
    bad = setup.check(opts)
    if bad:
        fail(bad)
    try:
        setup.configure(component, numeric, opts)
    except OSError as exc:
        fail(f"--log-dir: cannot write logs in {log_dir}: {exc}")
