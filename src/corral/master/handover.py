"""A planned leadership handover: ``POST /master/resign`` on the leading master.

The leader drops its term first (it stops answering as leader: no offers, no writes), then
deletes its candidacy in ZooKeeper, so the next master in line is elected as soon as its
watch fires: a few milliseconds plus the new term's registry recovery, not a session
timeout. The resigned master stands again at the back of the line, as a standby. For
`corral upgrade` (upgrade the standbys, hand over, upgrade the old leader) and for
maintenance of the leader's host. Documented in docs/ha.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from aiohttp import web

from corral.transport.http import json_response

log = logging.getLogger("corral.master")

# How long the answer waits to name the new leader.
ANSWER_WAIT = 2.0


class Resignable(Protocol):
    term: Any
    contender: object | None
    leader_address: str | None

    @property
    def address(self) -> str: ...

    def not_leader(self, request: web.Request) -> web.Response: ...


async def resign(proc: Resignable, request: web.Request) -> web.Response:
    from corral.coordination.zookeeper import MasterContender  # kazoo: only for HA masters

    contender = proc.contender
    if not isinstance(contender, MasterContender):
        return web.Response(
            status=409, text="this master runs without --zk: there is no standby to take over\n"
        )
    term = proc.term
    if term is None:
        return proc.not_leader(request)  # 307 to the leader (or 503 while there is none)
    loop = asyncio.get_running_loop()
    if await loop.run_in_executor(None, contender.others) == 0:
        return web.Response(status=409, text="no standby master is running to take over\n")
    started = time.monotonic()
    node = contender.leave()  # from here on, no election result makes this master lead
    proc.term = None
    log.warning("resigning leadership (operator request): dropping the in-memory state")
    await term.stop()
    await loop.run_in_executor(None, contender.rejoin, node)
    while time.monotonic() - started < ANSWER_WAIT and proc.leader_address in (
        None,
        proc.address,
    ):
        await asyncio.sleep(0.005)
    leader = proc.leader_address if proc.leader_address != proc.address else None
    return json_response(
        {"resigned": True, "leader": leader, "seconds": round(time.monotonic() - started, 4)}
    )
