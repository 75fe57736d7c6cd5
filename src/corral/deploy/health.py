"""Is the deployed cluster healthy? A leader elected and every agent registered."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from corral.deploy.inventory import Inventory


@dataclass(frozen=True)
class Health:
    leader: str | None = None  # address:port of the leading master
    standbys: int = 0
    agents: frozenset[str] = field(default_factory=frozenset)  # active agents' hostnames

    def healthy(self, inv: Inventory) -> bool:
        return self.leader is not None and not self.missing(inv)

    def missing(self, inv: Inventory) -> list[str]:
        return [h.name for h in inv.with_role("agent") if h.address not in self.agents]

    def describe(self, inv: Inventory) -> str:
        if self.leader is None:
            return f"no leader elected yet ({self.standbys} standby masters answer)"
        missing = self.missing(inv)
        total = len(inv.with_role("agent"))
        text = f"leader {self.leader}, {total - len(missing)}/{total} agents registered"
        return text + (f" (waiting for {', '.join(missing)})" if missing else "")


def judge(answers: dict[str, tuple[int, dict[str, Any] | None]]) -> Health:
    """Health from each master's answer to GET /master/state: (status, JSON) (pure)."""
    leader, standbys, agents = None, 0, frozenset[str]()
    for address, (status, doc) in sorted(answers.items()):
        if status == 200 and doc is not None and leader is None:
            leader = address
            agents = frozenset(
                str(a.get("hostname")) for a in doc.get("slaves", []) if a.get("active", True)
            )
        elif status in (307, 503):
            standbys += 1
    return Health(leader, standbys, agents)


async def check(inv: Inventory, timeout: float = 3.0) -> Health:
    port = inv.cluster.master_port
    answers: dict[str, tuple[int, dict[str, Any] | None]] = {}
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:

        async def ask(address: str) -> None:
            url = f"http://{address}:{port}/master/state"
            try:
                async with session.get(url, allow_redirects=False) as resp:
                    doc = await resp.json(content_type=None) if resp.status == 200 else None
                    answers[f"{address}:{port}"] = (resp.status, doc)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                pass

        await asyncio.gather(*(ask(h.address) for h in inv.with_role("master")))
    return judge(answers)
