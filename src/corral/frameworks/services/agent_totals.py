"""The agents' total resources as the master lists them (``/master/slaves``), read again at
most every ``REFRESH`` seconds: placement spreads instances against them (``State.totals``)."""

from __future__ import annotations

import logging

import aiohttp

from corral.scheduler_client.driver import SchedulerDriver
from corral.scheduler_client.placement import totals_from_state

log = logging.getLogger("corral.frameworks.services")

REFRESH = 30.0  # seconds between two reads


class AgentTotals:
    """When they were last read; ``read`` answers None between two refreshes."""

    def __init__(self) -> None:
        self.read_at = 0.0

    async def read(
        self, driver: SchedulerDriver | None, now: float
    ) -> dict[str, dict[str, float]] | None:
        """Agent id -> scalar totals, or None: not due yet, no master, or not readable."""
        if driver is None or driver.master is None or now - self.read_at < REFRESH:
            return None
        self.read_at = now
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            sec = driver.security
            async with sec.session(timeout) as http, http.get(
                sec.url(driver.master, "/master/slaves")
            ) as resp:
                doc = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.info("services: agent totals not read: %s", exc)
            return None
        totals = totals_from_state(doc if isinstance(doc, dict) else {})
        return {a: {n: r.scalar(n) for n, _ in r.scalars} for a, r in totals.items()}
