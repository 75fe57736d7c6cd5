"""``corral logs --master [HOST:PORT]`` / ``corral logs --agent ID``: a component's own log,
read through its ``/files/read`` API (``/master/log``, ``/slave/log``) as Mesos serves them."""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import msgspec

from corral.cli.common import fail, fetch
from corral.wire import state_views as sv
from corral.wire.codec import decode

CHUNK = 65536


def normalize_argv(argv: list[str]) -> list[str]:
    """``corral logs --master`` with no value after it means the master's own log: spelled
    ``--master-log`` for the option parser (``--master HOST:PORT`` keeps its meaning)."""
    if not argv or argv[0] != "logs":
        return argv
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--":
            break
        if arg == "--master" and (i + 1 == len(out) or out[i + 1].startswith("-")):
            out[i] = "--master-log"
    return out


def agent_address(state: sv.MasterState, agent_id: str) -> str:
    agent = next((a for a in state.slaves if a.id == agent_id), None)
    if agent is None:
        known = ", ".join(a.id for a in state.slaves) or "none"
        fail(f"--agent: no agent {agent_id!r} is known to the master (agents: {known})")
    return agent.pid.split("@", 1)[1]


def read(address: str, path: str, offset: int) -> sv.FileData:
    """One chunk; a clear message (naming --log-dir) when the component keeps no log file."""
    q = urllib.parse.urlencode({"path": path, "offset": offset, "length": CHUNK})
    url = f"http://{address}/files/read?{q}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return decode(resp.read(), sv.FileData)
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace").strip()
        if exc.code == 404 and "--log-dir" in body:
            fail(f"{address}: {body}")
        fail(f"{url}: HTTP {exc.code} {body}")
    except (urllib.error.URLError, OSError) as exc:
        fail(f"cannot reach {address}: {getattr(exc, 'reason', exc)}")
    except msgspec.DecodeError as exc:
        fail(f"{url}: unexpected answer: {exc}")


def tail(address: str, path: str, follow: bool, lines: int, interval: float = 0.5) -> None:
    """Print the last ``lines`` lines of the log (0: all of it), then, with ``follow``, what
    is written after; a rotated (shorter) file is read again from its start."""
    size = read(address, path, -1).offset
    offset = 0
    if lines > 0:
        start = max(0, size - CHUNK)
        text = read(address, path, start).data
        kept = text.splitlines(keepends=True)
        if start > 0 and kept:
            kept = kept[1:]  # the first one is likely cut
        tail_text = "".join(kept[-lines:])
        sys.stdout.write(tail_text)
        offset = start + len(text.encode())
    while True:
        chunk = read(address, path, offset)
        if chunk.data:
            sys.stdout.write(chunk.data)
            sys.stdout.flush()
            offset += len(chunk.data.encode())
            continue
        if not follow:
            sys.stdout.flush()
            return
        time.sleep(interval)  # polling the API, not synchronisation
        if read(address, path, -1).offset < offset:
            offset = 0  # rotated


def show(master: str, agent_id: str | None, follow: bool, lines: int) -> None:
    if agent_id is None:
        tail(master, "/master/log", follow, lines)
    else:
        state = fetch(f"http://{master}/master/state", sv.MasterState)
        tail(agent_address(state, agent_id), "/slave/log", follow, lines)
