"""Offers: taking and consuming them, rescinds, refuse filters, and the allocation pass
that turns the allocator's plans into OFFERS events."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from corral.master.allocator import (
    AgentView,
    Filter,
    FrameworkView,
    OfferPlan,
    Snapshot,
    allocate,
)
from corral.master.allocator.snapshot import MIN_ALLOCATABLE_CPUS, MIN_ALLOCATABLE_MEM
from corral.master.errors import CallError
from corral.master.state import FrameworkRecord, OfferRecord
from corral.resources import Resources
from corral.wire import scheduler as s
from corral.wire.base import ID

if TYPE_CHECKING:
    from corral.master.master import Master

DEFAULT_REFUSE_SECONDS = 5.0
FILTER_PRUNE_INTERVAL = 1.0  # seconds between dropping expired refuse filters
MAX_REFUSE_SECONDS = 31536000.0


def _take_offers(
    self: Master, fw: FrameworkRecord, offer_ids: list[ID], field_name: str, together: bool = True
) -> list[OfferRecord]:
    """Check every offer id before touching anything (400 names the bad one). Offers used
    ``together`` (ACCEPT) must share one agent and role; DECLINE may name any offers."""
    seen: set[str] = set()
    offers: list[OfferRecord] = []
    for i, oid in enumerate(offer_ids):
        offer = self.offers.get(oid.value)
        if oid.value in seen:
            raise CallError(400, f"'{field_name}[{i}]': offer {oid.value} is listed twice")
        seen.add(oid.value)
        if offer is None:
            raise CallError(
                400,
                f"'{field_name}[{i}]': offer {oid.value} is no longer valid "
                "(already used, declined or rescinded)",
            )
        if offer.framework_id != fw.id:
            raise CallError(
                400, f"'{field_name}[{i}]': offer {oid.value} belongs to another framework"
            )
        offers.append(offer)
    if not together:
        return offers
    if len({o.role for o in offers}) > 1:
        raise CallError(
            400, f"'{field_name}': aggregated offers must be allocated to the same role"
        )
    if len({o.agent_id for o in offers}) > 1:
        raise CallError(400, f"'{field_name}': all offers must be on the same agent")
    return offers


def _consume_offer(self: Master, offer: OfferRecord) -> None:
    self.offers.pop(offer.id, None)
    if offer.expiry is not None:
        offer.expiry.cancel()
    fw = self.frameworks.get(offer.framework_id)
    if fw is not None:
        fw.offers.pop(offer.id, None)
        fw.offered[offer.role] = fw.offered.get(offer.role, Resources()) - offer.resources
    agent = self.agents.get(offer.agent_id)
    if agent is not None:
        agent.offers.discard(offer.id)
        agent.offered = agent.offered - offer.resources


def rescind_offer(self: Master, offer_id: str, notify: bool = True) -> None:
    if self.paused and offer_id in self.offers:
        # Offer timeouts wait while this master is not acting as leader.
        self.offers[offer_id].expiry = asyncio.get_running_loop().call_later(
            1.0, self.rescind_offer, offer_id, notify
        )
        return
    offer = self.offers.get(offer_id)
    if offer is None:
        return
    self._consume_offer(offer)
    fw = self.frameworks.get(offer.framework_id)
    if notify and fw is not None:
        self.send_event(fw, s.Event(type="RESCIND", rescind=s.Rescind(offer_id=ID(offer_id))))
    self.schedule_allocation()


def _add_filter(
    self: Master, fw: FrameworkRecord, agent_id: str, resources: Resources, filters: Any
) -> None:
    refuse = DEFAULT_REFUSE_SECONDS
    if filters is not None and filters.refuse_seconds is not None:
        refuse = filters.refuse_seconds if filters.refuse_seconds >= 0 else DEFAULT_REFUSE_SECONDS
    refuse = min(refuse, MAX_REFUSE_SECONDS)
    if refuse <= 0 or resources.is_empty():
        return
    now = self._now()
    fw.filters.setdefault(agent_id, []).append(Filter(resources=resources, until=now + refuse))
    # Re-run allocation when the filter lapses so the resources are offered again.
    asyncio.get_running_loop().call_later(refuse + 0.001, self.schedule_allocation)


def decline(self: Master, fw: FrameworkRecord, offer_ids: list[ID], filters: Any) -> None:
    offers = self._take_offers(fw, offer_ids, "decline.offer_ids", together=False)
    for offer in offers:
        self._consume_offer(offer)
        self._add_filter(fw, offer.agent_id, offer.resources, filters)
    self.schedule_allocation()


def schedule_allocation(self: Master) -> None:
    if self._allocation_handle is None and not self.closed and not self.paused:
        loop = asyncio.get_running_loop()
        self._allocation_handle = loop.call_later(self.config.allocation_delay, self._allocate)


def snapshot(self: Master) -> Snapshot:
    now = self._now()
    frameworks = []
    for fw in self.frameworks.values():
        if not fw.active:
            continue
        if fw.filters and now - fw.filters_pruned >= FILTER_PRUNE_INTERVAL:
            fw.filters_pruned = now
            for aid, fs in list(fw.filters.items()):
                live = [f for f in fs if f.until > now]
                if live:
                    fw.filters[aid] = live
                else:
                    del fw.filters[aid]
        frameworks.append(
            FrameworkView(
                framework_id=fw.id,
                roles=fw.roles,
                allocated=fw.allocated(),
                suppressed_roles=frozenset(fw.suppressed_roles),
                filters=fw.filters,  # read-only to the allocator, which runs to completion now
            )
        )
    wanted = any(set(f.roles) - f.suppressed_roles for f in frameworks)
    agents: list[AgentView] = []
    if wanted:
        for a in self.agents.values():
            if a.active and a.connected:
                available = a.available
                if _allocatable(available):
                    agents.append(AgentView(a.id, a.total, available))
    return Snapshot(
        agents=tuple(agents),
        frameworks=tuple(frameworks),
        now=now,
        weights=self.config.weights,
        total=cluster_total(self) if agents else None,
    )


def _allocatable(r: Resources) -> bool:
    return r.scalar("cpus") >= MIN_ALLOCATABLE_CPUS or r.scalar("mem") >= MIN_ALLOCATABLE_MEM


def cluster_total(self: Master) -> Resources:
    """The resources of all active, connected agents; recomputed only when that set changes."""
    version, total = self._cluster_total
    if version != self.agents_version:
        total = Resources()
        for a in self.agents.values():
            if a.active and a.connected:
                total = total + a.total
        self._cluster_total = (self.agents_version, total)
    return total


def _allocate(self: Master) -> None:
    self._allocation_handle = None
    if self.paused or self.closed:
        return
    started = time.perf_counter()
    _offer_plans(self, allocate(self.snapshot()), started)
    self.allocation_run_ms.add((time.perf_counter() - started) * 1e3)


def _offer_plans(self: Master, plans: list[OfferPlan], now: float) -> None:
    by_fw: dict[str, list[s.Offer]] = {}
    for plan in plans:
        fw = self.frameworks[plan.framework_id]
        agent = self.agents[plan.agent_id]
        oid = f"{self.id}-O{self._next_offer}"
        self._next_offer += 1
        rec = OfferRecord(oid, fw.id, agent.id, plan.role, plan.resources, created=now)
        if self.config.offer_timeout:
            rec.expiry = asyncio.get_running_loop().call_later(
                self.config.offer_timeout, self.rescind_offer, oid
            )
        self.offers[oid] = rec
        fw.offers[oid] = rec
        fw.offered[plan.role] = fw.offered.get(plan.role, Resources()) + plan.resources
        agent.offers.add(oid)
        agent.offered = agent.offered + plan.resources
        by_fw.setdefault(fw.id, []).append(
            s.Offer(
                id=ID(oid),
                framework_id=ID(fw.id),
                agent_id=ID(agent.id),
                hostname=agent.hostname,
                url={
                    "scheme": "http",
                    "address": {
                        "hostname": agent.hostname,
                        "ip": agent.address.rsplit(":", 1)[0],
                        "port": agent.port,
                    },
                    "path": "/slave(1)",
                },
                resources=plan.resources.to_wire(allocation_role=plan.role),
                attributes=agent.info.attributes,
                executor_ids=[ID(eid) for (aid, eid) in fw.executors if aid == agent.id],
                allocation_info={"role": plan.role},
            )
        )
    for fid, offers in by_fw.items():
        self.send_event(
            self.frameworks[fid], s.Event(type="OFFERS", offers=s.Offers(offers=offers))
        )
