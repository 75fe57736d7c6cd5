"""Quota and weights in the master core: UPDATE_QUOTA and UPDATE_WEIGHTS checked whole (a
400 naming the field, nothing changed), applied, persisted in the registry and recovered from
it; and what the views read (each role's consumption, the allocator's reasons)."""

from __future__ import annotations

import logging
import math

from corral.coordination.interfaces import RegistrySnapshot
from corral.master.allocator import Quota, quota_reasons
from corral.master.core.effects import Effects, Persist, StoreQuota, StoreWeights
from corral.master.core.events import QuotaUpdate, WeightsUpdate
from corral.master.core.offers import rescind_offer
from corral.master.core.send import allocate_soon
from corral.master.core.state import MasterState
from corral.master.errors import CallError
from corral.resources import SCALAR_KINDS, Resources
from corral.wire.quota import QuotaConfig

log = logging.getLogger("corral.master")

CALLS = ("UPDATE_QUOTA", "UPDATE_WEIGHTS")
KINDS = ", ".join(SCALAR_KINDS)


def role_error(role: str) -> str | None:
    """Why ``role`` is not a valid role name for quota or weights (Mesos's rules), or None."""
    if not role:
        return "a role name may not be empty"
    if role in (".", ".."):
        return f"{role!r} is not a valid role name"
    if role.startswith("-"):
        return f"role {role!r} may not start with '-'"
    if any(c.isspace() or not c.isprintable() for c in role):
        return f"role {role!r} may not contain whitespace or control characters"
    if "/" in role:
        return f"quota and weights on nested roles ({role!r}) are not supported"
    return None


def _amounts(values: dict[str, object], where: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for kind, scalar in values.items():
        if kind not in SCALAR_KINDS:
            raise CallError(
                400, f"'{where}': unknown resource kind {kind!r} (quota is set on {KINDS})"
            )
        value = getattr(scalar, "value", None)
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise CallError(
                400, f"'{where}.{kind}.value': must be a finite number >= 0, got {value!r}"
            )
        out[kind] = round(float(value), 3)
    return out


def parse_configs(configs: list[QuotaConfig] | tuple[QuotaConfig, ...]) -> dict[str, Quota]:
    """The stateless checks of UPDATE_QUOTA's configs: role -> the new quota (raises 400)."""
    out: dict[str, Quota] = {}
    for i, c in enumerate(configs):
        where = f"update_quota.quota_configs[{i}]"
        bad = role_error(c.role)
        if bad is not None:
            raise CallError(400, f"'{where}.role': {bad}")
        if c.role in out:
            raise CallError(400, f"'{where}.role': role {c.role!r} is listed twice")
        guarantees = _amounts(dict(c.guarantees), f"{where}.guarantees")
        limits = _amounts(dict(c.limits), f"{where}.limits")
        for kind, g in sorted(guarantees.items()):
            if kind in limits and g > limits[kind]:
                raise CallError(
                    400,
                    f"'{where}.guarantees.{kind}': the guarantee {g:g} is above the limit "
                    f"{limits[kind]:g}",
                )
        out[c.role] = Quota(guarantees=guarantees, limits=limits)
    return out


# ---------------------------------------------------------------------- what roles hold
def consumed(state: MasterState, *, offered: bool = True) -> dict[str, Resources]:
    """Role -> what its frameworks (connected or not) use, plus what is offered to them."""
    out: dict[str, Resources] = {}
    for fw in state.frameworks.values():
        held = fw.allocated() if offered else fw.used
        for role, r in held.items():
            out[role] = out.get(role, Resources()) + r
    return out


def cluster_total(state: MasterState) -> Resources:
    total = Resources()
    for a in state.agents.values():
        if a.active and a.connected:
            total = total + a.total
    return total


def reasons(state: MasterState) -> dict[str, str]:
    """For each role below its guarantee or at its limit, why (the allocator's rule)."""
    if not state.quotas:
        return {}
    subscribed: dict[str, int] = {}
    working: set[str] = set()
    for fw in state.frameworks.values():
        if not fw.active:
            continue
        for role in fw.roles:
            subscribed[role] = subscribed.get(role, 0) + 1
            if role not in fw.suppressed_roles:
                working.add(role)
    free = Resources()
    for a in state.agents.values():
        if a.active and a.connected:
            free = free + a.available
    return quota_reasons(state.quotas, consumed(state), subscribed, working, free)


# ---------------------------------------------------------------------- the calls
def update_quota(state: MasterState, now: float, out: Effects, ev: QuotaUpdate) -> None:
    new = parse_configs(ev.configs)
    if not ev.force:
        check_capacity(state, new)
    with_offers = consumed(state)
    for role, q in sorted(new.items()):
        if q.is_default():
            state.quotas.pop(role, None)
        else:
            state.quotas[role] = q
        out.append(Persist(StoreQuota(role, dict(q.guarantees), dict(q.limits))))
        log.info(
            "quota of role %s: guarantees %s, limits %s",
            role,
            dict(q.guarantees) or "none",
            dict(q.limits) or "none",
        )
        # Offers that would take the role past its new limit are rescinded.
        if any(with_offers.get(role, Resources()).scalar(k) > v for k, v in q.limits.items()):
            for offer in list(state.offers.values()):
                if offer.role == role:
                    rescind_offer(state, now, out, offer.id)
    # New guarantees the free resources cannot cover: offers of other roles go back.
    if any(q.guarantees for q in new.values()) and guarantees_uncovered(state):
        for offer in list(state.offers.values()):
            if offer.role not in new:
                rescind_offer(state, now, out, offer.id)
    allocate_soon(state, out)


def check_capacity(state: MasterState, new: dict[str, Quota]) -> None:
    """Without ``force``: every guarantee must fit in the cluster, no limit below what its
    role uses already (Mesos's overcommit and limit checks)."""
    quotas = {**state.quotas, **new}
    total = cluster_total(state)
    for kind in SCALAR_KINDS:
        guaranteed = round(sum(q.guarantees.get(kind, 0.0) for q in quotas.values()), 3)
        if guaranteed > total.scalar(kind):
            raise CallError(
                400,
                f"'update_quota.force': the guarantees of all roles ({kind} {guaranteed:g}) "
                f"exceed the cluster's {kind} ({total.scalar(kind):g}); set force to store "
                "them anyway",
            )
    used = consumed(state, offered=False)
    for i, (role, q) in enumerate(new.items()):  # in the call's order
        for kind, limit in sorted(q.limits.items()):
            have = used.get(role, Resources()).scalar(kind)
            if have > limit:
                raise CallError(
                    400,
                    f"'update_quota.quota_configs[{i}].limits.{kind}': role {role} already uses "
                    f"{have:g}, above the limit {limit:g}; set force to store it anyway",
                )


def guarantees_uncovered(state: MasterState) -> bool:
    """Whether the roles' unsatisfied guarantees need more than the free resources."""
    free = Resources()
    for a in state.agents.values():
        if a.active and a.connected:
            free = free + a.available
    held = consumed(state)
    for kind in SCALAR_KINDS:
        needed = sum(
            max(0.0, q.guarantees.get(kind, 0.0) - held.get(r, Resources()).scalar(kind))
            for r, q in state.quotas.items()
        )
        if needed > free.scalar(kind):
            return True
    return False


def update_weights(state: MasterState, now: float, out: Effects, ev: WeightsUpdate) -> None:
    new: dict[str, float] = {}
    for i, w in enumerate(ev.weights):
        where = f"update_weights.weight_infos[{i}]"
        bad = role_error(w.role)
        if bad is not None:
            raise CallError(400, f"'{where}.role': {bad}")
        if w.role in new:
            raise CallError(400, f"'{where}.role': role {w.role!r} is listed twice")
        if not math.isfinite(w.weight) or w.weight <= 0:
            raise CallError(400, f"'{where}.weight': must be a finite number > 0, got {w.weight}")
        new[w.role] = float(w.weight)
    if not new:
        raise CallError(400, "'update_weights.weight_infos': no weight to update")
    state.weights.update(new)
    out.append(Persist(StoreWeights(dict(new))))
    log.info("weights updated: %s", new)
    allocate_soon(state, out)


def recovered(state: MasterState, snap: RegistrySnapshot) -> None:
    """On election: the quotas and weights earlier masters stored (stored weights win over the
    --weights flag, as in Mesos)."""
    for role, data in snap.quotas.items():
        q = Quota(
            guarantees={k: float(v) for k, v in data.get("guarantees", {}).items()},
            limits={k: float(v) for k, v in data.get("limits", {}).items()},
        )
        if not q.is_default():
            state.quotas[role] = q
    for role, weight in snap.weights.items():
        flag = state.config.weights.get(role)
        if flag is not None and flag != weight:
            log.warning(
                "role %s: weight %g from the registry replaces --weights' %g", role, weight, flag
            )
        state.weights[role] = weight
    if snap.quotas or snap.weights:
        log.info(
            "recovered the quota of %d roles and %d weights", len(state.quotas), len(snap.weights)
        )
