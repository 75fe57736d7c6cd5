"""Election, the registry's recovery, pause and resume."""

from __future__ import annotations

import logging

from corral.master.core import quota
from corral.master.core.effects import Effects, MarkUnreachable, Persist, SetTimer
from corral.master.core.events import RegistryRecovered, ReregisterTimeout
from corral.master.core.offers import PAUSED_RETRY
from corral.master.core.send import allocate_soon
from corral.master.core.state import MasterState

log = logging.getLogger("corral.master")

REREGISTER_TIMER = ("reregister",)


def registry_recovered(state: MasterState, now: float, out: Effects, ev: RegistryRecovered) -> None:
    """Learn the agents admitted by earlier masters; they have ``agent_reregister_timeout``
    to come back before they are marked unreachable."""
    snap = ev.snapshot
    quota.recovered(state, snap)
    state.unreachable_agents.update(snap.unreachable)
    state.gone_agents.update(snap.gone)
    state.recovered_agents = {k: v for k, v in snap.agents.items() if k not in state.agents}
    if state.recovered_agents:
        timeout = state.config.agent_reregister_timeout
        log.info(
            "recovered %d agents from the registry; waiting %.0fs for them to re-register",
            len(state.recovered_agents),
            timeout,
        )
        out.append(SetTimer(REREGISTER_TIMER, now + timeout, ReregisterTimeout()))


def reregister_timeout(state: MasterState, now: float, out: Effects) -> None:
    if state.paused:
        out.append(SetTimer(REREGISTER_TIMER, now + PAUSED_RETRY, ReregisterTimeout()))
        return
    for aid in list(state.recovered_agents):
        log.warning("agent %s did not re-register in time; marking it unreachable", aid)
        del state.recovered_agents[aid]
        state.unreachable_agents[aid] = now
        out.append(Persist(MarkUnreachable(aid, now)))


def paused(state: MasterState) -> None:
    state.paused = True


def resumed(state: MasterState, out: Effects) -> None:
    state.paused = False
    for agent in state.agents.values():
        agent.missed_pings = 0
        agent.pong_pending = False
    allocate_soon(state, out)
