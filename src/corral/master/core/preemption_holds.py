"""The resources a preemption freed, held for the framework that asked: the allocation
pass offers them to it first (``held_plans``, once all it asked for is free on the agent) and
leaves them out of everyone else's snapshot (``withhold``) until the hold lapses."""

from __future__ import annotations

import logging
from dataclasses import replace

from corral.master.allocator import AgentView, OfferPlan, Snapshot, allocatable
from corral.master.core.preemption import usable
from corral.master.core.preemption_records import HELD, OFFERED, Preemption
from corral.master.core.state import MasterState
from corral.resources import Resources

log = logging.getLogger("corral.master")


def held_plans(state: MasterState, now: float) -> list[OfferPlan]:
    """Offers of held resources to their askers, where all they asked for is free now."""
    groups: dict[tuple[str, str, str], list[Preemption]] = {}
    for rec in state.preemptions.active():
        if rec.hold != HELD or now >= rec.hold_until:
            continue
        groups.setdefault((rec.agent_id, rec.framework_id, rec.role), []).append(rec)
    plans = []
    taken: dict[str, Resources] = {}
    for (aid, fid, role), recs in sorted(
        groups.items(), key=lambda kv: -max(r.priority for r in kv[1])
    ):
        agent = state.agents.get(aid)
        fw = state.frameworks.get(fid)
        if agent is None or fw is None or not fw.active or not (agent.active and agent.connected):
            continue
        if role not in fw.roles or role in fw.suppressed_roles:
            continue
        available = (agent.available - taken.get(aid, Resources())).for_role(role)
        want = Resources()
        ready = []
        for rec in sorted(recs, key=lambda r: (-r.priority, r.id)):
            if usable(available, role).contains(usable(want + rec.resources, role)):
                want = want + rec.resources
                ready.append(rec)
        if not ready:
            continue
        why = over_limit(state, role, want)
        if why is not None:
            log.info("preemption hold on agent %s for framework %s: not offered, %s", aid, fid, why)
            continue
        for rec in ready:
            rec.hold = OFFERED
            log.info("preemption %s: freed resources offered to framework %s", rec.id, fid)
        # what was asked for, as the agent has it (reserved for the role, or not); the rest
        # of the agent goes through the allocation pass, quotas and all
        offer = want if available.contains(want) else available
        taken[aid] = taken.get(aid, Resources()) + offer
        plans.append(OfferPlan(fid, aid, role, offer))
    return plans


def over_limit(state: MasterState, role: str, more: Resources) -> str | None:
    """Why ``more`` would take ``role`` past its quota limit (what its frameworks hold and
    are offered, plus ``more``), or None."""
    quota = state.quotas.get(role)
    if quota is None or not quota.limits:
        return None
    have = Resources()  # as quota.consumed, for one role (quota.py imports offers.py)
    for fw in state.frameworks.values():
        have = have + fw.allocated().get(role, Resources())
    for kind, limit in quota.limits.items():
        total = have.scalar(kind) + more.scalar(kind)
        if total > limit + 1e-9:
            return f"role {role} would hold {total:g} {kind}, over its limit of {limit:g}"
    return None


def withhold(state: MasterState, snap: Snapshot) -> Snapshot:
    """The allocator's snapshot without what is held for askers."""
    held: dict[str, Resources] = {}
    for rec in state.preemptions.active():
        if rec.hold == HELD and snap.now < rec.hold_until:
            held[rec.agent_id] = held.get(rec.agent_id, Resources()) + rec.held
    if not held:
        return snap
    agents: list[AgentView] = []
    for a in snap.agents:
        h = held.get(a.agent_id)
        if h is None:
            agents.append(a)
            continue
        left = a.available - h
        if allocatable(left, snap.min_cpus, snap.min_mem):
            agents.append(replace(a, available=left))
    return replace(snap, agents=tuple(agents))
