"""Dominant resource fairness over roles (weighted), then over frameworks within a role."""

from __future__ import annotations

from corral.master.allocator.quota import QuotaBook, unreserved_kinds
from corral.master.allocator.snapshot import FrameworkView, OfferPlan, Snapshot, allocatable
from corral.resources import SCALAR_KINDS, Resources


def dominant_share(allocated: Resources, total: Resources) -> float:
    """The largest fraction of any scalar kind of ``total`` that ``allocated`` holds."""
    share = 0.0
    for kind in SCALAR_KINDS:
        t = total.scalar(kind)
        if t > 0:
            share = max(share, allocated.scalar(kind) / t)
    return share


def _filtered(fw: FrameworkView, agent_id: str, offer: Resources, now: float) -> bool:
    return any(now < f.until and f.resources.contains(offer) for f in fw.filters.get(agent_id, ()))


Kinds = list[float]  # one float per SCALAR_KINDS entry


def _kinds(r: Resources) -> Kinds:
    return [r.scalar(k) for k in SCALAR_KINDS]


def _share(alloc: Kinds, total: Kinds) -> float:
    share = 0.0
    for a, t in zip(alloc, total, strict=True):
        if t > 0 and a / t > share:
            share = a / t
    return share


def _add(into: Kinds, more: Kinds) -> None:
    for i, v in enumerate(more):
        into[i] = round(into[i] + v, 3)


def allocate(snap: Snapshot) -> list[OfferPlan]:
    """Offer each agent's available resources to the most under-served eligible framework.

    Roles are ordered by weighted dominant share, frameworks within a role by their own
    dominant share; offered resources count as allocated as soon as they are planned, so
    one pass spreads agents across frameworks the way Mesos's hierarchical DRF does.
    Shares are kept as per-kind floats, updated only when an offer is planned (computing
    them from ``Resources`` for every comparison made passes ~8x slower at 50k agents).
    """
    if not snap.agents:
        return []
    total_r = snap.total
    if total_r is None:
        total_r = Resources()
        for a in snap.agents:
            total_r = total_r + a.total
    total = _kinds(total_r)
    role_alloc: dict[str, Kinds] = {}
    fw_alloc: dict[tuple[str, str], Kinds] = {}
    by_role: dict[str, list[FrameworkView]] = {}
    for fw in snap.frameworks:
        # A role's share counts everything allocated to it, including the allocations of
        # frameworks that suppressed the role (as Mesos's role sorter does).
        for role, held in fw.allocated.items():
            _add(role_alloc.setdefault(role, [0.0] * len(SCALAR_KINDS)), _kinds(held))
        for role in fw.roles:
            if role in fw.suppressed_roles:
                continue
            by_role.setdefault(role, []).append(fw)
            fw_alloc[(fw.framework_id, role)] = _kinds(fw.allocated.get(role, Resources()))
            role_alloc.setdefault(role, [0.0] * len(SCALAR_KINDS))
    if not by_role:
        return []
    book = None
    if snap.quotas:
        free = [0.0] * len(SCALAR_KINDS)
        for a in snap.agents:
            _add(free, unreserved_kinds(a.available))
        book = QuotaBook(snap.quotas, role_alloc, by_role, free)

    def role_key(role: str) -> tuple[bool, float, str]:
        # Roles below their guarantee first (as Mesos's quota stage), then weighted DRF.
        weight = snap.weights.get(role, 1.0) or 1.0
        first = book is not None and book.below_guarantee(role)
        return (not first, _share(role_alloc[role], total) / weight, role)

    def fw_key(role: str, fw: FrameworkView) -> tuple[float, str]:
        return (_share(fw_alloc[(fw.framework_id, role)], total), fw.framework_id)

    plans: list[OfferPlan] = []
    for agent in snap.agents:
        available = agent.available
        progress = True
        while progress and allocatable(available, snap.min_cpus, snap.min_mem):
            progress = False
            for role in sorted(by_role, key=role_key):
                offerable = available.for_role(role)
                if not allocatable(offerable, snap.min_cpus, snap.min_mem):
                    continue
                if book is not None:
                    cut = book.cut(role, offerable, role_alloc[role], snap.min_cpus, snap.min_mem)
                    if cut is None:
                        continue
                    offerable = cut
                for fw in sorted(by_role[role], key=lambda f, r=role: fw_key(r, f)):  # type: ignore[misc]
                    if _filtered(fw, agent.agent_id, offerable, snap.now):
                        continue
                    plans.append(OfferPlan(fw.framework_id, agent.agent_id, role, offerable))
                    available = available - offerable
                    got = _kinds(offerable)
                    _add(fw_alloc[(fw.framework_id, role)], got)
                    _add(role_alloc[role], got)
                    if book is not None:
                        book.charge(role, offerable)
                    progress = True
                    break
                if progress:
                    break
    return plans
