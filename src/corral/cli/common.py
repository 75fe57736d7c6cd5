"""What every command shares: finding the master, errors, logging."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

import typer

CLUSTER_FILE = Path(os.environ.get("CORRAL_HOME", Path.home() / ".corral")) / "cluster.json"


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"corral: {message}", err=True)
    raise typer.Exit(code)


def resolve_master(flag: str | None, keep_zk: bool = False) -> str:
    """--master, else $CORRAL_MASTER, else the cluster `corral up` started, else :5050."""
    master = flag or os.environ.get("CORRAL_MASTER")
    if not master:
        try:
            master = str(json.loads(CLUSTER_FILE.read_text())["master"])
        except (OSError, ValueError, KeyError):
            master = "127.0.0.1:5050"
    for prefix in ("http://", "https://"):
        if master.startswith(prefix):
            master = master[len(prefix) :]
    master = master.rstrip("/")
    if master.startswith(("zk://", "zoo://", "file://")):
        if keep_zk:
            return master
        from corral.coordination.zookeeper import find_leader

        try:
            leader = find_leader(master)
        except Exception as exc:
            fail(f"--master: cannot reach ZooKeeper at {master}: {exc}")
        if leader is None:
            fail(f"--master: no leading master is registered at {master}")
        return leader
    if ":" not in master:
        master = f"{master}:5050"
    return master


def setup_logging(level: str) -> None:
    numeric = getattr(logging, level.upper(), None)
    if not isinstance(numeric, int):
        fail(f"--log-level: unknown level {level!r}")
    logging.basicConfig(
        level=numeric,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
