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
        available = (agent.available - taken.get(aid, Resources())).for_role(role)
        want = Resources()
        ready = []
        for rec in sorted(recs, key=lambda r: (-r.priority, r.id)):
            if usable(available, role).contains(usable(want + rec.resources, role)):
                want = want + rec.resources
                ready.append(rec)
        if not ready:
            continue
        for rec in ready:
            rec.hold = OFFERED
            log.info("preemption %s: freed resources offered to framework %s", rec.id, fid)
        taken[aid] = taken.get(aid, Resources()) + available
        plans.append(OfferPlan(fid, aid, role, available))
    return plans


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
