"""Is the deployed cluster healthy? A leader elected, every agent registered, and each
built-in framework of the inventory registered with the leader and its API answering on
every host of its role."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from corral.deploy.inventory import FRAMEWORK_ROLES, Inventory


@dataclass(frozen=True)
class Health:
    leader: str | None = None  # address:port of the leading master
    standbys: int = 0
    agents: frozenset[str] = field(default_factory=frozenset)  # active agents' hostnames
    frameworks: frozenset[str] = field(default_factory=frozenset)  # active frameworks' names
    apis: frozenset[str] = field(default_factory=frozenset)  # framework APIs answering, ADDR:PORT

    def healthy(self, inv: Inventory) -> bool:
        return self.leader is not None and not self.missing(inv)

    def missing(self, inv: Inventory) -> list[str]:
        out = [h.name for h in inv.with_role("agent") if h.address not in self.agents]
        for role in FRAMEWORK_ROLES:
            hosts = inv.with_role(role)
            if hosts and role not in self.frameworks:
                out.append(f"{role} (not registered)")
            port = inv.cluster.framework_port(role)
            out += [f"{role} on {h.name}" for h in hosts if f"{h.address}:{port}" not in self.apis]
        return out

    def describe(self, inv: Inventory) -> str:
        if self.leader is None:
            return f"no leader elected yet ({self.standbys} standby masters answer)"
        missing = self.missing(inv)
        total = len(inv.with_role("agent"))
        registered = len([h for h in inv.with_role("agent") if h.address in self.agents])
        text = f"leader {self.leader}, {registered}/{total} agents registered"
        wanted = [r for r in FRAMEWORK_ROLES if inv.with_role(r)]
        if wanted:
            up = [r for r in wanted if r in self.frameworks]
            text += f", {len(up)}/{len(wanted)} frameworks registered"
        return text + (f" (waiting for {', '.join(missing)})" if missing else "")


def judge(
    answers: dict[str, tuple[int, dict[str, Any] | None]], apis: frozenset[str] = frozenset()
) -> Health:
    """Health from each master's answer to GET /master/state: (status, JSON), and the
    framework APIs that answered (pure)."""
    leader, standbys, agents, frameworks = None, 0, frozenset[str](), frozenset[str]()
    for address, (status, doc) in sorted(answers.items()):
        if status == 200 and doc is not None and leader is None:
            leader = address
            agents = frozenset(
                str(a.get("hostname")) for a in doc.get("slaves", []) if a.get("active", True)
            )
            frameworks = frozenset(
                str(f.get("name")) for f in doc.get("frameworks", []) if f.get("active")
            )
        elif status in (307, 503):
            standbys += 1
    return Health(leader, standbys, agents, frameworks, apis)


def framework_apis(inv: Inventory) -> list[str]:
    """ADDR:PORT of every built-in framework instance of the inventory."""
    return [endpoint for _, endpoint in framework_endpoints(inv)]


def framework_endpoints(inv: Inventory) -> list[tuple[str, str]]:
    """(role, ADDR:PORT) of every built-in framework instance of the inventory."""
    return [
        (role, f"{h.address}:{inv.cluster.framework_port(role)}")
        for role in FRAMEWORK_ROLES
        for h in inv.with_role(role)
    ]


async def check(inv: Inventory, timeout: float = 3.0) -> Health:
    port = inv.cluster.master_port
    answers: dict[str, tuple[int, dict[str, Any] | None]] = {}
    apis: set[str] = set()
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

        async def ping(endpoint: str) -> None:
            try:
                async with session.get(f"http://{endpoint}/ping") as resp:
                    if resp.status == 200:
                        apis.add(endpoint)
            except (aiohttp.ClientError, TimeoutError):
                pass

        await asyncio.gather(
            *(ask(h.address) for h in inv.with_role("master")),
            *(ping(e) for e in framework_apis(inv)),
        )
    return judge(answers, frozenset(apis))
