"""Quota in the allocator (Mesos >= 1.9): per role a guarantee and a limit of scalar kinds.

* **Limit**: a role is never offered more than ``limit - (allocated + offered)`` of a kind; an
  offer that would cross it is cut down (its other resources stay on the agent for others).
* **Guarantee**: while a role has a framework that has not suppressed it (work to place), the
  part of its guarantee it does not hold yet is *held back*: an offer to any other role may take
  only the free unreserved resources beyond the sum of those unsatisfied guarantees.

``QuotaBook`` carries that bookkeeping through one allocation pass (floats per kind, as
``drf.py``'s shares); ``quota_reasons`` says, for each role below its guarantee or at its
limit, why. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from corral.resources import SCALAR_KINDS, UNRESERVED, Resources

Kinds = list[float]  # one float per SCALAR_KINDS entry
INF = math.inf
KIND_INDEX = {k: i for i, k in enumerate(SCALAR_KINDS)}


@dataclass(frozen=True)
class Quota:
    """One role's quota: kind (one of ``SCALAR_KINDS``) -> amount. A kind absent from
    ``limits`` has no limit; absent from ``guarantees``, no guarantee."""

    guarantees: Mapping[str, float] = field(default_factory=dict)
    limits: Mapping[str, float] = field(default_factory=dict)

    def is_default(self) -> bool:
        return not self.guarantees and not self.limits


def kinds_of(r: Resources) -> Kinds:
    return [r.scalar(k) for k in SCALAR_KINDS]


def unreserved_kinds(r: Resources) -> Kinds:
    return [r.scalars.get((k, UNRESERVED), 0.0) for k in SCALAR_KINDS]


def _zeros() -> Kinds:
    return [0.0] * len(SCALAR_KINDS)


class QuotaBook:
    """The quota state of one allocation pass.

    ``alloc`` is the pass's own per-role allocation (the same lists ``drf.allocate`` updates),
    ``working`` the roles with a non-suppressed framework, ``free`` the unreserved available
    scalars of every agent of the pass.
    """

    def __init__(
        self,
        quotas: Mapping[str, Quota],
        alloc: Mapping[str, Kinds],
        working: Iterable[str],
        free: Kinds,
    ) -> None:
        self.limits: dict[str, Kinds] = {}
        self.unsatisfied: dict[str, Kinds] = {}
        self.needed = _zeros()  # sum of the unsatisfied guarantees held back
        self.free = list(free)
        working_set = set(working)
        for role, q in quotas.items():
            if q.limits:
                self.limits[role] = [q.limits.get(k, INF) for k in SCALAR_KINDS]
            if q.guarantees and role in working_set:
                have = alloc.get(role) or _zeros()
                missing = [
                    max(0.0, round(q.guarantees.get(k, 0.0) - have[i], 3))
                    for i, k in enumerate(SCALAR_KINDS)
                ]
                if any(missing):
                    self.unsatisfied[role] = missing
                    for i, m in enumerate(missing):
                        self.needed[i] += m

    def below_guarantee(self, role: str) -> bool:
        return role in self.unsatisfied

    def cut(
        self, role: str, offer: Resources, have: Kinds, min_cpus: float, min_mem: float
    ) -> Resources | None:
        """``offer`` cut to what ``role`` may take (``have``: its allocation so far), or None
        when what is left is not worth offering."""
        limit = self.limits.get(role)
        missing = self.unsatisfied.get(role)
        cuts: dict[int, float] = {}  # kind index -> most of it the offer may carry
        totals = _zeros()
        unreserved = _zeros()
        for (name, res_role), v in offer.scalars.items():
            i = KIND_INDEX.get(name)
            if i is not None:
                totals[i] += v
                if res_role == UNRESERVED:
                    unreserved[i] += v
        for i in range(len(SCALAR_KINDS)):
            total = round(totals[i], 3)
            if total <= 0:
                continue
            allowed = INF
            if limit is not None and limit[i] != INF:
                allowed = max(0.0, limit[i] - have[i])
            unres = unreserved[i]
            if unres > 0:
                # Unreserved resources beyond the role's own missing guarantee must come out of
                # the surplus over every guarantee held back.
                own = missing[i] if missing is not None else 0.0
                reserved = total - unres
                spare = max(0.0, own - reserved) + max(0.0, self.free[i] - self.needed[i])
                allowed = min(allowed, reserved + spare)
            if allowed < total:
                cuts[i] = round(max(0.0, allowed), 3)
        if not cuts:
            return offer
        scalars = dict(offer.scalars)
        for i, allowed in cuts.items():
            kind = SCALAR_KINDS[i]
            # Keep the role's own reservations first, then unreserved.
            keys = sorted((k for k in scalars if k[0] == kind), key=lambda k: k[1] == UNRESERVED)
            for key in keys:
                keep = min(scalars[key], allowed)
                allowed = round(allowed - keep, 3)
                if keep > 0:
                    scalars[key] = keep
                else:
                    del scalars[key]
        cut = Resources(scalars, offer.ranges, offer.sets)
        if cut.scalar("cpus") < min_cpus and cut.scalar("mem") < min_mem:
            return None
        return cut

    def charge(self, role: str, offer: Resources) -> None:
        """``offer`` was planned for ``role``: take it from the free pool and the guarantee."""
        unres = unreserved_kinds(offer)
        got = kinds_of(offer)
        for i in range(len(SCALAR_KINDS)):
            self.free[i] = round(self.free[i] - unres[i], 3)
        missing = self.unsatisfied.get(role)
        if missing is None:
            return
        for i, g in enumerate(got):
            dec = min(missing[i], g)
            missing[i] = round(missing[i] - dec, 3)
            self.needed[i] = round(self.needed[i] - dec, 3)
        if not any(missing):
            del self.unsatisfied[role]


# ---------------------------------------------------------------------- reasons
def _fmt(v: float) -> str:
    return f"{v:g}"


def quota_reasons(
    quotas: Mapping[str, Quota],
    consumed: Mapping[str, Resources],
    subscribed: Mapping[str, int],
    working: Iterable[str],
    free: Resources,
) -> dict[str, str]:
    """For each role below its guarantee or at its limit, why (one sentence).

    ``consumed``: role -> allocated + offered; ``subscribed``: role -> how many active
    frameworks are subscribed in it; ``working``: roles with a non-suppressed framework;
    ``free``: the cluster's available resources (not used, not offered).
    """
    working_set = set(working)
    out: dict[str, str] = {}
    for role in sorted(quotas):
        q = quotas[role]
        have = consumed.get(role, Resources())
        at_limit = [
            f"{k} {_fmt(have.scalar(k))} of {_fmt(v)}"
            for k, v in sorted(q.limits.items())
            if have.scalar(k) >= v
        ]
        if at_limit:
            out[role] = (
                f"at its limit ({', '.join(at_limit)} allocated or offered): no more offers "
                "for it until its tasks end or the limit is raised"
            )
            continue
        short = {k: round(v - have.scalar(k), 3) for k, v in q.guarantees.items()}
        short = {k: v for k, v in short.items() if v > 0}
        if not short:
            continue
        below = ", ".join(
            f"{k} {_fmt(have.scalar(k))} of {_fmt(q.guarantees[k])}" for k in sorted(short)
        )
        if not subscribed.get(role):
            why = f"no framework is subscribed in role {role}, so nothing is held back for it"
        elif role not in working_set:
            why = (
                "its frameworks have suppressed offers (no work to place), so its guarantee "
                "is not held back from other roles"
            )
        else:
            lacking = [
                f"{k} {_fmt(free.for_role(role).scalar(k))} free, needs {_fmt(v)} more"
                for k, v in sorted(short.items())
                if free.for_role(role).scalar(k) < v
            ]
            if lacking:
                why = (
                    f"the cluster lacks the resources ({'; '.join(lacking)}): the rest is used "
                    "by tasks of other roles, which are not preempted for a guarantee"
                )
            else:
                why = (
                    "the free resources are held back for it, but its frameworks declined them "
                    "(refuse filters) or have not been offered them yet"
                )
        out[role] = f"below its guarantee ({below}): {why}"
    return out
