"""What every command shares: finding the master, errors, logging."""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import NoReturn, TypeVar

import typer

from corral.wire.codec import WireError, decode

T = TypeVar("T")

CLUSTER_FILE = Path(os.environ.get("CORRAL_HOME", Path.home() / ".corral")) / "cluster.json"


EXIT_RUNTIME = 1  # the cluster refused, could not be reached, or something failed
EXIT_USAGE = 2  # bad flags or arguments


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    typer.echo(f"corral: {message}", err=True)
    raise typer.Exit(code)


def fetch(url: str, type_: type[T]) -> T:
    """GET ``url`` and decode its JSON into ``type_`` (a view of ``corral.wire``); a clear
    error, not a traceback, when the server cannot be reached or answers something else.
    Sends $CORRAL_PRINCIPAL/$CORRAL_SECRET and talks https verified by $CORRAL_TLS_CA."""
    request, context = authorized_request(url)
    url = request.full_url
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        fail(f"{url}: HTTP {exc.code} {exc.read().decode(errors='replace').strip()}", EXIT_RUNTIME)
    except (urllib.error.URLError, OSError) as exc:
        fail(
            f"cannot reach {url}: {getattr(exc, 'reason', exc)} (is the cluster up? see "
            "--master; a TLS master needs CORRAL_TLS_CA=CA_FILE)",
            EXIT_RUNTIME,
        )
    try:
        return decode(body, type_)
    except WireError as exc:
        fail(f"{url}: unexpected answer: {exc}", EXIT_RUNTIME)


def authorized_request(url: str) -> tuple[urllib.request.Request, ssl.SSLContext | None]:
    """``url`` with the environment's credentials, and https when it names a CA."""
    from corral.security.client import ClientSecurity

    sec = ClientSecurity.from_env()
    context = None
    if sec.scheme == "https":
        if url.startswith("http://"):
            url = "https://" + url[len("http://") :]
        ctx = sec.ssl_context()
        context = ctx if isinstance(ctx, ssl.SSLContext) else None
    return urllib.request.Request(url, headers=sec.headers()), context


def framework_url(flag: str | None, env: str, name: str, default: str) -> str:
    """A built-in framework's URL: the flag, else ``$env``, else what `corral up` recorded for
    ``name`` in cluster.json, else ``default``."""
    url = flag or os.environ.get(env)
    if not url:
        try:
            url = str(json.loads(CLUSTER_FILE.read_text())[f"{name}_url"])
        except (OSError, ValueError, KeyError, TypeError):
            url = default
    return url


def resolve_master(flag: str | None, keep_zk: bool = False) -> str:
    """--master, else $CORRAL_MASTER, else the cluster `corral up` started, else :5050."""
    master = flag or os.environ.get("CORRAL_MASTER")
    if not master:
        try:
            recorded = json.loads(CLUSTER_FILE.read_text())
            master = str(recorded["master"])
            if recorded.get("tls_ca") and not os.environ.get("CORRAL_TLS_CA"):
                os.environ["CORRAL_TLS_CA"] = str(recorded["tls_ca"])  # `corral up --tls`
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
            fail(f"--master: cannot reach ZooKeeper at {master}: {exc}", EXIT_RUNTIME)
        if leader is None:
            fail(f"--master: no leading master is registered at {master}", EXIT_RUNTIME)
        return leader
    if ":" not in master:
        master = f"{master}:5050"
    return master


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could not listen on ``port``. Binds as servers do (SO_REUSEADDR), so
    the TIME-WAIT connections a cluster stopped a moment ago leaves do not count."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


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
