"""The read side of quota, weights and roles: GET_QUOTA, GET_WEIGHTS, GET_ROLES and ``/roles``
built as the types of ``wire/quota`` from the master's state (pure reads)."""

from __future__ import annotations

from collections.abc import Iterable

from corral.master.allocator import Quota
from corral.master.core import quota
from corral.master.core.state import FrameworkRecord, MasterState
from corral.resources import SCALAR_KINDS, Resources, scalars
from corral.wire import operator as op
from corral.wire import quota as wq
from corral.wire.base import ID
from corral.wire.common import Scalar


def amounts(r: Resources) -> dict[str, float]:
    """The scalar kinds of ``r`` that are not zero, as Mesos's ``/roles`` shows them."""
    return {k: r.scalar(k) for k in SCALAR_KINDS if r.scalar(k) > 0}


def unreserved(r: Resources | None) -> Resources:
    if r is None:
        return Resources()
    return Resources({k: v for k, v in r.scalars.items() if k[1] == "*"})


def config_view(role: str, q: Quota) -> wq.QuotaConfigView:
    return wq.QuotaConfigView(
        role=role,
        guarantees={k: Scalar(value=v) for k, v in sorted(q.guarantees.items())},
        limits={k: Scalar(value=v) for k, v in sorted(q.limits.items())},
    )


def get_quota(state: MasterState) -> wq.GetQuota:
    held = quota.consumed(state)
    why = quota.reasons(state)
    roles = sorted(state.quotas)
    return wq.GetQuota(
        status=wq.QuotaStatus(
            infos=[
                wq.QuotaInfo(role=r, guarantee=scalars(**state.quotas[r].guarantees).to_wire())
                for r in roles
                if state.quotas[r].guarantees
            ],
            configs=[config_view(r, state.quotas[r]) for r in roles],
        ),
        corral_roles=[
            wq.RoleQuotaState(
                role=r, consumed=amounts(held.get(r, Resources())), reason=why.get(r, "")
            )
            for r in roles
        ],
    )


QUOTA_METRICS = "allocator/mesos/quota/roles/"


def quota_metrics(state: MasterState) -> dict[str, float]:
    """Mesos's quota metrics: ``allocator/mesos/quota/roles/<role>/resources/<kind>/`` and
    ``guarantee``, ``limit``, ``consumed`` (allocated + offered) for each kind set."""
    if not state.quotas:
        return {}
    held = quota.consumed(state)
    out: dict[str, float] = {}
    for role, q in state.quotas.items():
        have = held.get(role, Resources())
        for kind in sorted({*q.guarantees, *q.limits}):
            base = f"{QUOTA_METRICS}{role}/resources/{kind}/"
            if kind in q.guarantees:
                out[base + "guarantee"] = q.guarantees[kind]
            if kind in q.limits:
                out[base + "limit"] = q.limits[kind]
            out[base + "consumed"] = have.scalar(kind)
    return out


def get_weights(state: MasterState) -> wq.GetWeights:
    return wq.GetWeights(
        weight_infos=[wq.WeightInfo(role=r, weight=w) for r, w in sorted(state.weights.items())]
    )


def role_views(state: MasterState, frameworks: Iterable[FrameworkRecord]) -> list[wq.RoleView]:
    """Every known role: subscribed to, holding resources, weighted or with quota."""
    fws = list(frameworks)
    members: dict[str, list[str]] = {}
    used: dict[str, Resources] = {}
    offered: dict[str, Resources] = {}
    for fw in fws:
        for role in fw.roles:
            members.setdefault(role, []).append(fw.id)
        for role, r in fw.used.items():
            used[role] = used.get(role, Resources()) + r
        for role, r in fw.offered.items():
            offered[role] = offered.get(role, Resources()) + r
    reserved: dict[str, Resources] = {}
    for a in state.agents.values():
        for (name, role), v in a.total.scalars.items():
            if role != "*" and name in SCALAR_KINDS:
                reserved[role] = reserved.get(role, Resources()) + scalars(**{name: v})
    why = quota.reasons(state)
    names = set(members) | set(used) | set(offered) | set(state.weights) | set(state.quotas)
    out: list[wq.RoleView] = []
    for name in sorted(names):
        view = wq.RoleView(
            name=name,
            weight=state.weights.get(name, 1.0),
            frameworks=[ID(f) for f in members.get(name, [])],
            allocated=amounts(used.get(name, Resources()) + offered.get(name, Resources())),
            offered=amounts(offered.get(name, Resources())),
            reserved=amounts(reserved.get(name, Resources())),
        )
        q = state.quotas.get(name)
        if q is not None:
            view.quota = wq.RoleQuotaView(
                role=name,
                guarantee=dict(sorted(q.guarantees.items())),
                limit=dict(sorted(q.limits.items())),
                # Mesos: a role consumes its reservations and the unreserved it uses.
                consumed=amounts(unreserved(used.get(name)) + reserved.get(name, Resources())),
            )
            if name in why:
                view.corral_quota_reason = why[name]
        out.append(view)
    return out


def get_roles(state: MasterState, frameworks: Iterable[FrameworkRecord]) -> op.GetRoles:
    allocated: dict[str, Resources] = {}
    fws = list(frameworks)
    for fw in fws:
        for role, r in fw.allocated().items():
            allocated[role] = allocated.get(role, Resources()) + r
    return op.GetRoles(
        roles=[
            op.Role(
                name=v.name,
                weight=v.weight,
                resources=allocated.get(v.name, Resources()).to_wire(),
                frameworks=v.frameworks,
                quota=v.quota,
                corral_quota_reason=v.corral_quota_reason,
            )
            for v in role_views(state, fws)
        ]
    )


def roles(state: MasterState, frameworks: Iterable[FrameworkRecord]) -> wq.Roles:
    """Mesos's ``/roles``."""
    return wq.Roles(roles=role_views(state, frameworks))
