"""The allocator with quotas (Mesos >= 1.9): limits never exceeded, guarantees held back while
the role has work, DRF within a role kept; and the reasons given for roles short of quota."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.master.allocator import (
    AgentView,
    FrameworkView,
    OfferPlan,
    Quota,
    Snapshot,
    allocate,
    dominant_share,
    quota_reasons,
)
from corral.resources import Resources, parse, scalars


def agent(agent_id: str, total: str) -> AgentView:
    t = parse(total)
    return AgentView(agent_id, t, t)


def fw(
    framework_id: str,
    role: str,
    allocated: Resources | None = None,
    suppressed: bool = False,
) -> FrameworkView:
    return FrameworkView(
        framework_id,
        (role,),
        {role: allocated} if allocated is not None else {},
        frozenset({role}) if suppressed else frozenset(),
    )


def snap(
    agents: Sequence[AgentView],
    frameworks: Sequence[FrameworkView],
    quotas: Mapping[str, Quota],
    **kw: object,
) -> Snapshot:
    return Snapshot(tuple(agents), tuple(frameworks), 0.0, quotas=quotas, **kw)  # type: ignore[arg-type]


def per_role(plans: list[OfferPlan], kind: str = "cpus") -> dict[str, float]:
    out: dict[str, float] = {}
    for p in plans:
        out[p.role] = round(out.get(p.role, 0.0) + p.resources.scalar(kind), 3)
    return out


def test_limit_cuts_offers_and_leaves_the_rest_for_others() -> None:
    agents = [agent(f"a{i}", "cpus:4;mem:4096") for i in range(3)]
    plans = allocate(
        snap(agents, [fw("f1", "dev"), fw("f2", "prod")], {"dev": Quota(limits={"cpus": 2})})
    )
    got = per_role(plans)
    assert got["dev"] == 2  # cut down: an offer of 2 cpus out of an agent's 4
    assert got["prod"] == 10
    dev = [p for p in plans if p.role == "dev"]
    assert dev[0].resources.scalar("cpus") == 2 and dev[0].resources.scalar("mem") == 4096
    # Past its cpus limit, dev may still be offered mem (it has no mem limit), never cpus.
    assert all(p.resources.scalar("cpus") == 0 for p in dev[1:])


def test_limit_counts_what_the_role_already_holds() -> None:
    agents = [agent("a1", "cpus:8;mem:8192")]
    held = Resources() + parse("cpus:3;mem:100")
    plans = allocate(snap(agents, [fw("f1", "dev", held)], {"dev": Quota(limits={"cpus": 4})}))
    assert per_role(plans) == {"dev": 1}
    # At (or over) its limit on every kind it could be offered: nothing at all.
    held = parse("cpus:4;mem:100")
    quotas = {"dev": Quota(limits={"cpus": 4, "mem": 100})}
    assert allocate(snap(agents, [fw("f1", "dev", held)], quotas)) == []


def test_limit_of_zero_on_one_kind_still_offers_the_others() -> None:
    plans = allocate(
        snap(
            [agent("a1", "cpus:4;mem:1024")], [fw("f1", "dev")], {"dev": Quota(limits={"cpus": 0})}
        )
    )
    assert len(plans) == 1
    assert plans[0].resources.scalar("cpus") == 0 and plans[0].resources.scalar("mem") == 1024


def test_guarantee_is_held_back_from_other_roles() -> None:
    # 8 cpus in all; web is guaranteed 6 and has work: batch (heavier weight, lower share)
    # may take only the 2 beyond it, however the agents are ordered.
    agents = [agent("a1", "cpus:4;mem:4096"), agent("a2", "cpus:4;mem:4096")]
    quotas = {"web": Quota(guarantees={"cpus": 6})}
    frameworks = [fw("fb", "batch"), fw("fw", "web")]
    plans = allocate(snap(agents, frameworks, quotas, weights={"batch": 10.0}))
    got = per_role(plans)
    assert got["web"] >= 6
    assert got.get("batch", 0) <= 2


def test_guarantee_not_held_while_the_role_has_no_work() -> None:
    agents = [agent("a1", "cpus:4;mem:4096"), agent("a2", "cpus:4;mem:4096")]
    quotas = {"web": Quota(guarantees={"cpus": 6})}
    for frameworks in ([fw("fb", "batch")], [fw("fb", "batch"), fw("fw", "web", suppressed=True)]):
        assert per_role(allocate(snap(agents, frameworks, quotas))) == {"batch": 8}


def test_guarantee_already_met_holds_nothing() -> None:
    agents = [agent("a1", "cpus:4;mem:4096")]
    quotas = {"web": Quota(guarantees={"cpus": 2})}
    frameworks = [fw("fw", "web", parse("cpus:2;mem:10")), fw("fb", "batch")]
    got = per_role(allocate(snap(agents, frameworks, quotas)))
    assert got.get("batch", 0) + got.get("web", 0) == 4
    assert got.get("batch", 0) >= 2  # batch's share (0) is below web's: it goes first


def test_drf_within_a_role_is_kept() -> None:
    # Two frameworks in one quota'd role: the one with the lower share is offered first, and a
    # pass spreads the agents between them.
    agents = [agent(f"a{i}", "cpus:1;mem:1024") for i in range(4)]
    quotas = {"web": Quota(guarantees={"cpus": 4}, limits={"cpus": 4})}
    frameworks = [fw("f1", "web", parse("cpus:1;mem:1")), fw("f2", "web")]
    plans = allocate(snap(agents, frameworks, quotas))
    by_fw: dict[str, float] = {}
    for p in plans:
        by_fw[p.framework_id] = by_fw.get(p.framework_id, 0) + p.resources.scalar("cpus")
    assert plans[0].framework_id == "f2"
    assert by_fw == {"f2": 2, "f1": 1}  # 3 cpus offered: the limit counts f1's held cpu


def test_reserved_resources_of_the_role_come_first_within_its_limit() -> None:
    a = AgentView("a1", parse("cpus(dev):2;cpus:4;mem:1024"), parse("cpus(dev):2;cpus:4;mem:1024"))
    plans = allocate(snap([a], [fw("f1", "dev")], {"dev": Quota(limits={"cpus": 3})}))
    assert len(plans) == 1
    r = plans[0].resources
    assert r.scalars[("cpus", "dev")] == 2 and r.scalars[("cpus", "*")] == 1


quota_st = st.builds(
    lambda g, extra, lim: Quota(
        guarantees={"cpus": g} if g is not None else {},
        limits={"cpus": (g or 0) + extra} if lim else {},
    ),
    st.one_of(st.none(), st.integers(0, 8).map(float)),
    st.integers(0, 6).map(float),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(
    cpus=st.lists(st.integers(1, 6), min_size=1, max_size=6),
    roles=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]),
        st.tuples(quota_st, st.integers(0, 4), st.booleans(), st.integers(1, 2)),
        min_size=1,
    ),
)
def test_property_limits_never_exceeded_and_guarantees_held(
    cpus: list[int], roles: dict[str, tuple[Quota, int, bool, int]]
) -> None:
    agents = [agent(f"a{i}", f"cpus:{c};mem:{c * 1024}") for i, c in enumerate(cpus)]
    total = float(sum(cpus))
    frameworks = []
    quotas = {}
    held: dict[str, float] = {}
    for role, (q, have, suppressed, n) in roles.items():
        quotas[role] = q
        for j in range(n):
            h = float(have) if j == 0 else 0.0
            held[role] = held.get(role, 0.0) + h
            alloc = scalars(cpus=h, mem=1) if h else None
            frameworks.append(fw(f"{role}{j}", role, alloc, suppressed and j == 0 and n == 1))
    plans = allocate(
        snap(agents, frameworks, quotas, total=parse(f"cpus:{total + sum(held.values())}"))
    )
    got = per_role(plans)
    # Offers never exceed the agents.
    by_agent: dict[str, float] = {}
    for p in plans:
        by_agent[p.agent_id] = by_agent.get(p.agent_id, 0.0) + p.resources.scalar("cpus")
    for a in agents:
        assert by_agent.get(a.agent_id, 0.0) <= a.available.scalar("cpus") + 1e-9
    working = {f.roles[0] for f in frameworks if not f.suppressed_roles}
    # Limits: allocated + offered never above the limit (offers only shrink what is over).
    for role, q in quotas.items():
        if "cpus" in q.limits:
            assert got.get(role, 0.0) == 0.0 or held[role] + got[role] <= q.limits["cpus"] + 1e-9
    # Guarantees: the cpus taken by roles other than R leave R's unsatisfied guarantee free,
    # whenever R has work and the cluster had room for every held-back guarantee.
    missing = {
        r: max(0.0, q.guarantees.get("cpus", 0.0) - held[r])
        for r, q in quotas.items()
        if r in working
    }
    if sum(missing.values()) <= total:
        for r, m in missing.items():
            limit = quotas[r].limits.get("cpus", float("inf"))
            assert got.get(r, 0.0) + 1e-9 >= min(m, limit - held[r]), (r, got, missing)


def test_reasons_for_roles_short_of_their_quota() -> None:
    quotas = {
        "full": Quota(limits={"cpus": 2}),
        "none": Quota(guarantees={"cpus": 4}),
        "idle": Quota(guarantees={"cpus": 4}),
        "short": Quota(guarantees={"cpus": 10}),
        "declined": Quota(guarantees={"cpus": 2}),
        "fine": Quota(guarantees={"cpus": 1}, limits={"cpus": 8}),
    }
    consumed = {"full": parse("cpus:2"), "fine": parse("cpus:2"), "short": parse("cpus:1")}
    subscribed = {"full": 1, "idle": 1, "short": 1, "declined": 1, "fine": 1}
    working = {"full", "short", "declined", "fine"}
    reasons = quota_reasons(quotas, consumed, subscribed, working, parse("cpus:3;mem:100"))
    assert set(reasons) == {"full", "none", "idle", "short", "declined"}
    assert reasons["full"].startswith("at its limit (cpus 2 of 2")
    assert "no framework is subscribed in role none" in reasons["none"]
    assert "suppressed" in reasons["idle"]
    assert "below its guarantee (cpus 1 of 10)" in reasons["short"]
    assert "cpus 3 free, needs 9 more" in reasons["short"]
    assert "declined" in reasons["declined"]


@settings(max_examples=150, deadline=None)
@given(
    held=st.lists(st.integers(0, 6), min_size=2, max_size=5),
    limit=st.one_of(st.none(), st.integers(1, 12)),
    guarantee=st.integers(0, 12),
)
def test_property_drf_within_a_quota_role(
    held: list[int], limit: int | None, guarantee: int
) -> None:
    """Within one role with quota, the framework with the lowest dominant share is offered
    first, and every offer goes to a framework with the lowest share at that point."""
    agents = [agent(f"a{i}", "cpus:2;mem:2048") for i in range(6)]
    frameworks = [
        fw(f"f{j}", "web", scalars(cpus=h, mem=1) if h else None) for j, h in enumerate(held)
    ]
    q = Quota(
        guarantees={"cpus": float(min(guarantee, limit if limit is not None else guarantee))},
        limits={"cpus": float(limit)} if limit is not None else {},
    )
    total = parse(f"cpus:{12 + sum(held)};mem:{12288 + len(held)}")
    plans = allocate(snap(agents, frameworks, {"web": q}, total=total))
    if not any(p.resources.scalar("cpus") > 0 for p in plans):
        assert limit is not None and sum(held) >= limit
    if not plans:
        return
    start = {f"f{j}": scalars(cpus=h, mem=1) if h else Resources() for j, h in enumerate(held)}
    lowest = min(start, key=lambda f: (dominant_share(start[f], total), f))
    assert plans[0].framework_id == lowest
    # Dominant shares as the pass goes: each offer goes to a framework with the lowest one.
    have = dict(start)
    for p in plans:
        shares = {f: dominant_share(r, total) for f, r in have.items()}
        assert shares[p.framework_id] == min(shares.values()), (p, shares)
        have[p.framework_id] = have[p.framework_id] + p.resources
