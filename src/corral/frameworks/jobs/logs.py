"""A run's output: a file of its task's sandbox, read from the agent that ran it.

The agent is found in the master's ``/master/slaves`` (its ``pid`` names the address), and
the file is read with the agent's ``/files/read`` (Mesos's virtual sandbox path, so no
agent state is needed). Only the last ``LOG_LIMIT`` bytes are returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from corral.security.client import ClientSecurity
from corral.wire.codec import WireError, decode
from corral.wire.state_views import FileData, Slaves

LOG_LIMIT = 1 << 20  # bytes of a log shown at most (its end)
TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass(frozen=True)
class LogUnavailable:
    why: str


async def sandbox_file(master: str | None, agent_id: str, path: str) -> str | LogUnavailable:
    """The end of ``path`` in ``agent_id``'s sandboxes, or why it cannot be read."""
    if master is None:
        return LogUnavailable("the framework is not connected to a master")
    try:
        sec = ClientSecurity.from_env()
        async with sec.session(TIMEOUT) as http:
            async with http.get(sec.url(master, "/master/slaves")) as resp:
                agents = decode(await resp.read(), Slaves).slaves
            agent = next((a for a in agents if a.id == agent_id), None)
            if agent is None or "@" not in agent.pid:
                return LogUnavailable(f"agent {agent_id} is gone (its sandbox with it)")
            address = agent.pid.split("@", 1)[1]
            url = sec.url(address, "/files/read")
            async with http.get(url, params={"path": path, "offset": "-1"}) as resp:
                if resp.status == 404:
                    return LogUnavailable(f"agent {agent_id} no longer has {path}")
                size = decode(await resp.read(), FileData).offset
            start = max(0, size - LOG_LIMIT)
            query = {"path": path, "offset": str(start), "length": str(LOG_LIMIT)}
            async with http.get(url, params=query) as resp:
                if resp.status != 200:
                    return LogUnavailable(f"agent {agent_id} answered {resp.status} for {path}")
                data = decode(await resp.read(), FileData).data
    except (aiohttp.ClientError, OSError, TimeoutError, WireError) as exc:
        return LogUnavailable(f"cannot read it from agent {agent_id}: {exc}")
    return data if start == 0 else f"[... the first {start} bytes are left out]\n{data}"


__all__ = ["LOG_LIMIT", "LogUnavailable", "sandbox_file"]
