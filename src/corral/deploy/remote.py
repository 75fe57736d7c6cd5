"""The SSH shell of `corral deploy` (asyncssh): connect, probe, and carry out a plan."""

from __future__ import annotations

import asyncio
import os
import posixpath
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh

from corral.deploy import probe
from corral.deploy.inventory import Host, Inventory
from corral.deploy.plan import (
    Action,
    InstallWheel,
    Observed,
    StartService,
    StopService,
    WriteFile,
)
from corral.deploy.render import Desired, Layout, desired

CONNECT_TIMEOUT = 15.0


class RemoteError(RuntimeError):
    """A command on a host failed; the message names the host and says what it printed."""


async def connect(host: Host) -> asyncssh.SSHClientConnection:
    options: dict[str, Any] = {
        "host": host.address,
        "port": host.ssh.port,
        "username": host.ssh.user,
    }
    if host.ssh.key:
        options["client_keys"] = [os.path.expanduser(host.ssh.key)]
    if not host.ssh.check_host_key:
        options["known_hosts"] = None
    elif host.ssh.known_hosts:
        options["known_hosts"] = os.path.expanduser(host.ssh.known_hosts)
    try:
        return await asyncio.wait_for(asyncssh.connect(**options), CONNECT_TIMEOUT)
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        where = f"{host.ssh.user}@{host.address}:{host.ssh.port}"
        raise RemoteError(f"{host.name}: cannot connect over SSH to {where}: {exc}") from None


async def run(
    conn: asyncssh.SSHClientConnection, host: Host, command: str, stdin: str | None = None
) -> str:
    result = await conn.run(command, input=stdin, check=False)
    if result.exit_status != 0:
        said = f"{_text(result.stdout)}{_text(result.stderr)}".strip()
        raise RemoteError(
            f"{host.name}: `{command[:200]}` exited with {result.exit_status}"
            f"{': ' + said[-2000:] if said else ''}"
        )
    return _text(result.stdout)


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


async def observe(
    conn: asyncssh.SSHClientConnection, inv: Inventory, host: Host, wheel: str
) -> Observed:
    """What the host has: every file either kind of service manager would need."""
    files = set(desired(inv, host, wheel).files) | set(
        desired(inv, host, wheel, systemd=True).files
    )
    ask = probe.request(Layout(host.root), sorted(files))
    command = f"{shlex.quote(host.python)} - {shlex.quote(ask)}"
    return probe.parse(await run(conn, host, command, stdin=probe.PROBE))


async def apply(
    conn: asyncssh.SSHClientConnection,
    want: Desired,
    actions: list[Action],
    wheel_file: Path,
    pip_args: tuple[str, ...],
    say: Callable[[str], None],
) -> None:
    host, layout = want.host, want.layout
    q = shlex.quote
    async with conn.start_sftp_client() as sftp:
        for action in actions:
            say(action.describe())
            if isinstance(action, InstallWheel):
                target = layout.wheel(wheel_file.name)
                await run(conn, host, f"mkdir -p {q(posixpath.dirname(target))}")
                await sftp.put(str(wheel_file), target)
                await run(conn, host, "sh -s", stdin=install_script(
                    host.python, layout, target, action.digest, pip_args))  # fmt: skip
            elif isinstance(action, WriteFile):
                parent = posixpath.dirname(action.path)
                await run(conn, host, f"mkdir -p {q(parent)}")
                tmp = action.path + ".corral-new"
                async with sftp.open(tmp, "w") as f:
                    await f.write(action.content)
                await sftp.posix_rename(tmp, action.path)
            elif isinstance(action, StopService):
                if want.systemd:
                    unit = f"corral-{action.name}.service"
                    await run(
                        conn,
                        host,
                        f"systemctl disable --now {unit} && "
                        f"rm -f {q(layout.unit(action.name))} && systemctl daemon-reload",
                    )
                else:
                    spec = layout.spec(action.name)
                    await run(
                        conn,
                        host,
                        f"{q(layout.python)} -m corral supervise {q(spec)} "
                        f"--stop && rm -f {q(spec)}",
                    )
            elif isinstance(action, StartService):
                for d in (layout.path("var", "log", "corral"), layout.path("run", "corral")):
                    await run(conn, host, f"mkdir -p {q(d)}")
                if want.systemd:
                    unit = f"corral-{action.name}.service"
                    await run(
                        conn,
                        host,
                        f"systemctl daemon-reload && systemctl enable {unit} "
                        f"&& systemctl restart {unit}",
                    )
                else:
                    spec = layout.spec(action.name)
                    await run(
                        conn, host, f"{q(layout.python)} -m corral supervise {q(spec)} --restart"
                    )


def install_script(
    python: str, layout: Layout, wheel: str, digest: str, pip_args: tuple[str, ...]
) -> str:
    """Make the venv (with the system's packages visible, so nothing already there is
    downloaded) and install the wheel in it. A venv without pip of its own, driven by the host's
    pip (`--python`, pip 22.3+), saves ensurepip's ~3 s of CPU per host."""
    q = shlex.quote
    py, venv = q(layout.python), q(layout.venv)
    extra = " ".join(q(a) for a in pip_args)
    pip = "-m pip -q --disable-pip-version-check"
    return "\n".join([
        "set -e",
        f"[ -x {py} ] || {q(python)} -m venv --system-site-packages --without-pip {venv}",
        f"if {q(python)} -m pip --python {py} --version >/dev/null 2>&1; then",
        f'  pip_() {{ {q(python)} {pip} --python {py} "$@"; }}',
        "else",
        f"  {py} -m pip --version >/dev/null 2>&1 || {py} -m ensurepip -q",
        f'  pip_() {{ {py} {pip} "$@"; }}',
        "fi",
        f"pip_ install {extra} {q(wheel)}",
        f"pip_ install {extra} --force-reinstall --no-deps {q(wheel)}",
        f"echo {q(digest)} > {q(layout.installed)}",
        "",
    ])  # fmt: skip
