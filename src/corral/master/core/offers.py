"""Offers: taking and consuming them, rescinds, refuse filters, and the allocation pass that
turns the allocator's plans into OFFERS events."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from corral.master.allocator import (
    AgentView,
    Filter,
    FrameworkView,
    OfferPlan,
    Snapshot,
    allocatable,
    allocate,
)
from corral.master.core.effects import CancelTimer, Effects, SetTimer
from corral.master.core.events import FilterLapsed, OfferTimeout
from corral.master.core.preemption_holds import held_plans, withhold
from corral.master.core.send import allocate_soon, to_framework
from corral.master.core.state import FrameworkRecord, MasterState, OfferRecord
from corral.master.errors import CallError
from corral.resources import Resources
from corral.wire import scheduler as s
from corral.wire.base import ID

DEFAULT_REFUSE_SECONDS = 5.0
MAX_REFUSE_SECONDS = 31536000.0
PAUSED_RETRY = 1.0  # a timer that fires while paused is re-armed this much later


def offer_timer(offer_id: str) -> tuple[str, str]:
    return ("offer", offer_id)


def take_offers(
    state: MasterState,
    fw: FrameworkRecord,
    offer_ids: list[ID],
    field_name: str,
    together: bool = True,
) -> list[OfferRecord]:
    """Check every offer id before touching anything (400 names the bad one). Offers used
    ``together`` (ACCEPT) must share one agent and role; DECLINE may name any offers."""
    seen: set[str] = set()
    offers: list[OfferRecord] = []
    for i, oid in enumerate(offer_ids):
        offer = state.offers.get(oid.value)
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


def consume_offer(
    state: MasterState, offer: OfferRecord, out: Effects, *, back: bool = True
) -> None:
    """Forget ``offer``; ``back``: its resources are available on the agent again (not when an
    ACCEPT uses them: it settles the agent's ``available`` itself)."""
    state.offers.pop(offer.id, None)
    if state.config.offer_timeout:
        out.append(CancelTimer(offer_timer(offer.id)))
    fw = state.frameworks.get(offer.framework_id)
    if fw is not None:
        fw.offers.pop(offer.id, None)
        fw.offered[offer.role] = fw.offered.get(offer.role, Resources()) - offer.resources
    agent = state.agents.get(offer.agent_id)
    if agent is not None:
        agent.offers.discard(offer.id)
        agent.drop_offer(offer.resources, back=back)


def rescind_offer(
    state: MasterState, now: float, out: Effects, offer_id: str, notify: bool = True
) -> None:
    offer = state.offers.get(offer_id)
    if offer is None:
        return
    if state.paused:
        # Offer timeouts wait while this master is not acting as leader.
        out.append(
            SetTimer(offer_timer(offer_id), now + PAUSED_RETRY, OfferTimeout(offer_id, notify))
        )
        return
    consume_offer(state, offer, out)
    fw = state.frameworks.get(offer.framework_id)
    if notify and fw is not None:
        to_framework(fw, s.Event(type="RESCIND", rescind=s.Rescind(offer_id=ID(offer_id))), out)
    allocate_soon(state, out)


def add_filter(
    state: MasterState,
    now: float,
    out: Effects,
    fw: FrameworkRecord,
    agent_id: str,
    resources: Resources,
    filters: Any,
) -> None:
    refuse = DEFAULT_REFUSE_SECONDS
    if filters is not None and filters.refuse_seconds is not None:
        refuse = filters.refuse_seconds if filters.refuse_seconds >= 0 else DEFAULT_REFUSE_SECONDS
    refuse = min(refuse, MAX_REFUSE_SECONDS)
    if refuse <= 0 or resources.is_empty():
        return
    fw.filters.setdefault(agent_id, []).append(Filter(resources=resources, until=now + refuse))
    # When the filter lapses: drop it, and allocate so the resources are offered again.
    key = ("filter", state.next_filter_timer)
    state.next_filter_timer += 1
    out.append(SetTimer(key, now + refuse + 0.001, FilterLapsed(fw.id, agent_id)))


def filter_lapsed(state: MasterState, now: float, out: Effects, ev: FilterLapsed) -> None:
    fw = state.frameworks.get(ev.framework_id)
    if fw is not None:
        fs = fw.filters.get(ev.agent_id)
        if fs is not None:
            live = [f for f in fs if f.until > now]
            if live:
                fw.filters[ev.agent_id] = live
            else:
                del fw.filters[ev.agent_id]
    allocate_soon(state, out)


def decline(
    state: MasterState,
    now: float,
    out: Effects,
    fw: FrameworkRecord,
    offer_ids: list[ID],
    filters: Any,
) -> None:
    offers = take_offers(state, fw, offer_ids, "decline.offer_ids", together=False)
    for offer in offers:
        consume_offer(state, offer, out)
        add_filter(state, now, out, fw, offer.agent_id, offer.resources, filters)
    allocate_soon(state, out)


def snapshot(state: MasterState, now: float) -> Snapshot:
    """The allocator's input: read-only views of ``state``; changes nothing."""
    frameworks = []
    for fw in state.frameworks.values():
        if not fw.active:
            if state.quotas and fw.used:  # what it holds counts towards its roles' limits
                frameworks.append(FrameworkView(fw.id, (), fw.allocated()))
            continue
        frameworks.append(
            FrameworkView(
                framework_id=fw.id,
                roles=fw.roles,
                allocated=fw.allocated(),
                suppressed_roles=frozenset(fw.suppressed_roles),
                filters=MappingProxyType(fw.filters),
            )
        )
    wanted = any(set(f.roles) - f.suppressed_roles for f in frameworks)
    agents: list[AgentView] = []
    if wanted:
        for a in state.agents.values():
            if a.active and a.connected:
                available = a.available
                if allocatable(available):
                    agents.append(AgentView(a.id, a.total, available))
    total = None
    if agents:
        total = state.cluster_total
        if total is None:
            total = Resources()
            for a in state.agents.values():
                if a.active and a.connected:
                    total = total + a.total
    return Snapshot(
        agents=tuple(agents),
        frameworks=tuple(frameworks),
        now=now,
        weights=state.weights,
        total=total,
        quotas=state.quotas,
    )


def agents_changed(state: MasterState) -> None:
    """Agents joined, left, connected or disconnected: the cluster total is stale."""
    state.cluster_total = None


def allocation_due(state: MasterState, now: float, out: Effects) -> None:
    state.allocation_pending = False
    if state.paused:
        return
    offer_plans(state, now, out, held_plans(state, now))  # freed for an asker: preemption
    snap = withhold(state, snapshot(state, now))
    if snap.agents and state.cluster_total is None:
        state.cluster_total = snap.total
    offer_plans(state, now, out, allocate(snap))


def offer_plans(state: MasterState, now: float, out: Effects, plans: list[OfferPlan]) -> None:
    by_fw: dict[str, list[s.Offer]] = {}
    timeout = state.config.offer_timeout
    for plan in plans:
        fw = state.frameworks[plan.framework_id]
        agent = state.agents[plan.agent_id]
        oid = f"{state.id}-O{state.next_offer}"
        state.next_offer += 1
        rec = OfferRecord(oid, fw.id, agent.id, plan.role, plan.resources, created=now)
        if timeout:
            out.append(SetTimer(offer_timer(oid), now + timeout, OfferTimeout(oid)))
        state.offers[oid] = rec
        fw.offers[oid] = rec
        fw.offered[plan.role] = fw.offered.get(plan.role, Resources()) + plan.resources
        agent.offers.add(oid)
        agent.add_offer(plan.resources)
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
                unavailability=state.maintenance.unavailability(
                    agent.hostname, agent.address.rsplit(":", 1)[0]
                ),
            )
        )
    for fid, offers in by_fw.items():
        to_framework(
            state.frameworks[fid], s.Event(type="OFFERS", offers=s.Offers(offers=offers)), out
        )
