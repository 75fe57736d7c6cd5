"""A task's stdout and stderr, followed through its agent's ``/files/read`` as they grow
(what ``corral logs --follow`` does, for ``corral run``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aiohttp

from corral.security.client import ClientSecurity
from corral.wire.codec import decode
from corral.wire.state_views import FileData

POLL = 0.25  # seconds between reads while the task runs
CHUNK = 1 << 20
FILES = ("stdout", "stderr")


async def follow_output(
    agent: str,
    framework_id: str,
    task_id: str,
    sink: Callable[[str, str], None],
    ended: Callable[[], bool],
) -> None:
    """Pass what the task writes to ``sink(name, text)`` until ``ended()``, then the rest.
    The sandbox is named by Mesos's virtual path (a command task's executor id is its task
    id), so no lookup of the agent's state is needed."""
    offsets = dict.fromkeys(FILES, 0)
    timeout = aiohttp.ClientTimeout(total=10)
    sec = ClientSecurity.from_env()  # the agent's /files may want credentials, or https
    connector = aiohttp.TCPConnector(ssl=sec.ssl_context())
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, headers=sec.headers()
    ) as session:
        while True:
            finished = ended()  # decided before the read: the last read sees everything
            for name in FILES:
                path = f"/frameworks/{framework_id}/executors/{task_id}/runs/latest/{name}"
                while True:
                    text = await _read(session, sec.url(agent, "/files/read"), path, offsets[name])
                    if not text:
                        break
                    offsets[name] += len(text.encode())
                    sink(name, text)
            if finished:
                return
            await asyncio.sleep(POLL)


async def _read(session: aiohttp.ClientSession, url: str, path: str, offset: int) -> str:
    params = {"path": path, "offset": str(offset), "length": str(CHUNK)}
    with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError, OSError):
        async with session.get(url, params=params) as resp:
            if resp.status == 200:
                return decode(await resp.read(), FileData).data
    return ""  # not there yet (404 before the sandbox exists) or the agent is unreachable
