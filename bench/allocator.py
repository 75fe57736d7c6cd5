#!/usr/bin/env python3
"""Time one pass of the DRF allocator (``corral.master.allocator.allocate``) on big snapshots.

In the spirit of Mesos's ``HierarchicalAllocator_BENCHMARK_Test`` (which times allocation
cycles for 1k-50k agents x 1-1000 frameworks, with declining and suppressing frameworks),
this builds synthetic cluster state in memory -- no processes, no I/O -- and for every
agents x frameworks pair and every variant prints:

* **offers**: the OfferPlans one pass produces;
* **snapshot ms**: assembling the ``Snapshot`` from the (synthetic) master state: every agent,
  live filters copied (the master's own snapshot now does less: see ``snapshot`` below),
  median of ``--repeat``;
* **allocate ms**: one ``allocate(snapshot)`` pass, median (and min) of ``--repeat``;
* **us/agent**: allocate time per agent in the snapshot;
* **gen s**: generating the synthetic state itself (once; not part of any figure above).

Cluster: every agent is ``cpus:32;mem:65536;disk:100000;ports:[31000-32000]``; one agent
in ten carries a static reservation for one role (``cpus(role):8;mem(role):16384`` out of
the same machine). Agents are used 0/25/50/75/100 % (cpus, mem, half as much disk and a
block of ports), so ``available`` differs from ``total``; fully used agents get no offer.
Frameworks are spread round-robin over four weighted roles (web 3, analytics 2, batch 1,
dev 0.5); every fifth is MULTI_ROLE (two roles). Each used agent's usage is charged to a
random framework and role, so frameworks start with realistic ``allocated`` resources.

Variants:

* ``plain``: every framework wants offers, no filters;
* ``filters``: every framework has an active refuse filter (what DECLINE leaves behind:
  the declined ``available.for_role(role)``) on a random half of the agents;
* ``suppressed``: every other framework has suppressed all its roles.

``--quotas``: the quota mode instead (``allocator/quota.py``): ``--agents`` (default 10k)
agents and ``--roles`` (default 100) roles with one framework each, weights 1 to 5; every role
has a guarantee (the first tenth of the roles 40 % of the cluster's cpus and mem between
them, the others 20 %), every fourth one a limit of 1.2x its guarantee. One pass with those
quotas is timed beside the same snapshot without them; both are checked against the quotas
(offers past a limit, guarantees met after the pass).

    python bench/allocator.py                                   # 1k/10k/50k x 10/100, 3 variants
    python bench/allocator.py --agents 1000,5000 --frameworks 1,50 --repeat 5
    python bench/allocator.py --variants plain --profile        # + cProfile of one pass each
    python bench/allocator.py --json                            # one JSON object on stdout
    python bench/allocator.py --quotas                          # 10k agents x 100 roles
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from corral.master.allocator import (
    AgentView,
    Filter,
    FrameworkView,
    OfferPlan,
    Quota,
    Snapshot,
    allocate,
)
from corral.resources import Resources, parse

ROLES: tuple[tuple[str, float], ...] = (
    ("web", 3.0),
    ("analytics", 2.0),
    ("batch", 1.0),
    ("dev", 0.5),
)
WEIGHTS = dict(ROLES)
ROLE_NAMES = tuple(r for r, _ in ROLES)
AGENT = "cpus:32;mem:65536;disk:100000;ports:[31000-32000]"
RESERVED = "cpus:24;mem:49152;disk:100000;ports:[31000-32000];cpus({r}):8;mem({r}):16384"
USAGE = (0.0, 0.25, 0.5, 0.75, 1.0)  # fraction of an agent in use
NOW = 1_000_000.0
VARIANTS = ("plain", "filters", "suppressed")

clock = time.perf_counter


# ====================================================================== synthetic master state
@dataclass
class AgentState:
    agent_id: str
    total: Resources
    available: Resources


@dataclass
class FrameworkState:
    framework_id: str
    roles: tuple[str, ...]
    used: dict[str, Resources] = field(default_factory=dict)
    offered: dict[str, Resources] = field(default_factory=dict)
    suppressed_roles: set[str] = field(default_factory=set)
    filters: dict[str, list[Filter]] = field(default_factory=dict)

    def allocated(self) -> dict[str, Resources]:  # as FrameworkRecord.allocated()
        out = dict(self.used)
        for role, r in self.offered.items():
            out[role] = out.get(role, Resources()) + r
        return out


@dataclass
class Cluster:
    agents: list[AgentState]
    frameworks: list[FrameworkState]
    now: float = NOW
    weights: dict[str, float] = field(default_factory=lambda: dict(WEIGHTS))


def used_part(total: Resources, frac: float) -> Resources:
    """What ``frac`` of an agent's unreserved resources in use looks like."""
    if frac <= 0:
        return Resources()
    if frac >= 1:
        return total
    ports = total.ranges.get(("ports", "*"), ())
    lo = ports[0][0] if ports else 31000
    n_ports = int(1001 * frac)
    return Resources(
        {
            k: round(v * (frac if k[0] != "disk" else frac / 2), 3)
            for k, v in total.scalars.items()
            if k[1] == "*"
        },
        {("ports", "*"): ((lo, lo + n_ports - 1),)} if n_ports else {},
    )


def make_agents(n: int, seed: int) -> tuple[list[AgentState], list[tuple[int, Resources]]]:
    """``n`` agents and, per used agent, (agent index, its used resources)."""
    rng = random.Random(seed)
    plain_total = parse(AGENT)
    reserved_totals = {r: parse(RESERVED.format(r=r)) for r in ROLE_NAMES}
    # One Resources object per (shape, usage) pair, shared between agents like identical
    # machines' values would be equal; the allocator never mutates them.
    cache: dict[tuple[str, float], tuple[Resources, Resources]] = {}
    agents: list[AgentState] = []
    usage: list[tuple[int, Resources]] = []
    for i in range(n):
        shape = ROLE_NAMES[(i // 10) % len(ROLE_NAMES)] if i % 10 == 9 else "*"
        frac = rng.choice(USAGE)
        if (shape, frac) not in cache:
            total = plain_total if shape == "*" else reserved_totals[shape]
            used = used_part(total, frac)
            cache[(shape, frac)] = (used, total - used)
        used, available = cache[(shape, frac)]
        total = plain_total if shape == "*" else reserved_totals[shape]
        agents.append(AgentState(f"agent-{i:06d}", total, available))
        if frac > 0:
            usage.append((i, used))
    return agents, usage


def make_frameworks(m: int, usage: list[tuple[int, Resources]], seed: int) -> list[FrameworkState]:
    rng = random.Random(seed + 1)
    fws: list[FrameworkState] = []
    for j in range(m):
        roles = (ROLE_NAMES[j % 4],)
        if j % 5 == 4:  # MULTI_ROLE
            roles = (ROLE_NAMES[j % 4], ROLE_NAMES[(j + 1) % 4])
        fws.append(FrameworkState(f"fw-{j:04d}", roles))
    # Charge each used agent to one framework and role. Sum per (framework, role) with
    # plain floats first; Resources addition of 50k ports ranges would only measure _normalize.
    sums: dict[tuple[int, str], dict[str, float]] = {}
    for _, used in usage:
        j = rng.randrange(m)
        role = rng.choice(fws[j].roles)
        acc = sums.setdefault((j, role), {})
        for (name, _r), v in used.scalars.items():
            acc[name] = acc.get(name, 0.0) + v
    for (j, role), acc in sums.items():
        fws[j].used[role] = Resources({(k, "*"): round(v, 3) for k, v in acc.items()})
    return fws


def add_filters(c: Cluster, seed: int) -> None:
    """Each framework declined (with a refuse filter) the offers of a random half of agents."""
    rng = random.Random(seed + 2)
    idx = range(len(c.agents))
    declined: dict[tuple[int, str], Filter] = {}
    for fw in c.frameworks:
        role = fw.roles[0]
        for i in rng.sample(idx, len(c.agents) // 2):
            f = declined.get((i, role))
            if f is None:
                f = Filter(c.agents[i].available.for_role(role), c.now + 5.0)
                declined[(i, role)] = f
            fw.filters[c.agents[i].agent_id] = [f]


def clear_variant(c: Cluster) -> None:
    for fw in c.frameworks:
        fw.filters = {}
        fw.suppressed_roles = set()


def apply_variant(c: Cluster, variant: str, seed: int) -> None:
    clear_variant(c)
    if variant == "filters":
        add_filters(c, seed)
    elif variant == "suppressed":
        for j, fw in enumerate(c.frameworks):
            if j % 2:
                fw.suppressed_roles = set(fw.roles)
    elif variant != "plain":
        raise ValueError(f"unknown variant {variant!r}")


def snapshot(c: Cluster) -> Snapshot:
    """A snapshot of every agent, with live filters copied: what ``Master.snapshot()`` did when
    the figures in RESULTS.md were taken. The master now leaves out agents with nothing to
    offer, passes the cluster total and does not copy filters (src/corral/master/core/offers.py);
    this keeps the allocator's worst case, and the runs comparable."""
    now = c.now
    agents = tuple(AgentView(a.agent_id, a.total, a.available) for a in c.agents)
    frameworks = []
    for fw in c.frameworks:
        filters = {aid: tuple(f for f in fs if f.until > now) for aid, fs in fw.filters.items()}
        frameworks.append(
            FrameworkView(
                framework_id=fw.framework_id,
                roles=fw.roles,
                allocated=fw.allocated(),
                suppressed_roles=frozenset(fw.suppressed_roles),
                filters=filters,
            )
        )
    return Snapshot(agents=agents, frameworks=tuple(frameworks), now=now, weights=c.weights)


# ====================================================================== measurement
def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times: list[float] = []
    out: Any = None
    for _ in range(repeat):
        out = None  # let the previous result go before collecting
        gc.collect()
        t0 = clock()
        out = fn()
        times.append(clock() - t0)
    return times, out


def check(snap: Snapshot, plans: list[Any], variant: str) -> None:
    """Cheap sanity checks so a broken variant does not report nonsense quickly."""
    fws = {fw.framework_id: fw for fw in snap.frameworks}
    for p in plans:
        fw = fws[p.framework_id]
        assert p.role in fw.roles and p.role not in fw.suppressed_roles, p
        for f in fw.filters.get(p.agent_id, ()):
            assert not (snap.now < f.until and f.resources.contains(p.resources)), p
    if variant == "plain" and snap.agents:
        assert plans, "no offers at all"


def profile_pass(snap: Snapshot, top: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    allocate(snap)
    prof.disable()
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.strip_dirs().sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def run_case(c: Cluster, n: int, m: int, variant: str, args: argparse.Namespace) -> dict[str, Any]:
    t0 = clock()
    apply_variant(c, variant, args.seed)
    gen_variant = clock() - t0
    snap_times, snap = timed(lambda: snapshot(c), args.repeat)
    repeat = args.repeat
    if args.max_pass_seconds and n * max(m, 1) >= 500_000:
        # Probe once; if a pass is slower than the budget, keep that single pass.
        probe, plans = timed(lambda: allocate(snap), 1)
        times = probe
        if probe[0] < args.max_pass_seconds and repeat > 1:
            more, plans = timed(lambda: allocate(snap), repeat - 1)
            times = probe + more
    else:
        times, plans = timed(lambda: allocate(snap), repeat)
    check(snap, plans, variant)
    n_filters = sum(len(fw.filters) for fw in snap.frameworks)
    result = {
        "agents": n,
        "frameworks": m,
        "variant": variant,
        "offers": len(plans),
        "offered_frameworks": len({p.framework_id for p in plans}),
        "filters": n_filters,
        "variant_setup_s": round(gen_variant, 3),
        "snapshot_ms": round(statistics.median(snap_times) * 1e3, 2),
        "allocate_ms": round(statistics.median(times) * 1e3, 2),
        "allocate_min_ms": round(min(times) * 1e3, 2),
        "allocate_all_ms": [round(t * 1e3, 2) for t in times],
        "us_per_agent": round(statistics.median(times) * 1e6 / n, 2) if n else None,
    }
    if args.profile:
        result["profile"] = profile_pass(snap, args.profile_top)
    return result


# ====================================================================== quota mode
def quota_cluster(n: int, roles: int, seed: int) -> tuple[Cluster, dict[str, Quota]]:
    """``n`` agents, one framework per role, a guarantee for every role, a limit for 1 in 4."""
    agents, usage = make_agents(n, seed)
    names = [f"role-{k:03d}" for k in range(roles)]
    fws = [FrameworkState(f"fw-{k:04d}", (r,)) for k, r in enumerate(names)]
    rng = random.Random(seed + 3)
    sums: dict[int, dict[str, float]] = {}
    for _, used in usage:
        acc = sums.setdefault(rng.randrange(roles), {})
        for (name, _r), v in used.scalars.items():
            acc[name] = acc.get(name, 0.0) + v
    for k, acc in sums.items():
        fws[k].used[names[k]] = Resources({(x, "*"): round(v, 3) for x, v in acc.items()})
    total = Resources()
    for a in agents:
        total = total + a.total
    # Uneven: the first tenth of the roles are guaranteed 40 % of the cluster between them,
    # the rest 20 %; 1 role in 4 is limited to 1.2x its guarantee; weights 1 to 5.
    big = max(1, roles // 10)
    quotas: dict[str, Quota] = {}
    weights: dict[str, float] = {}
    for k, r in enumerate(names):
        share = 0.4 / big if k < big else 0.2 / max(1, roles - big)
        g = {
            "cpus": round(total.scalar("cpus") * share, 3),
            "mem": round(total.scalar("mem") * share),
        }
        limits = (
            {"cpus": round(g["cpus"] * 1.2, 3), "mem": round(g["mem"] * 1.2)} if k % 4 == 0 else {}
        )
        quotas[r] = Quota(guarantees=g, limits=limits)
        weights[r] = 1.0 + (k * 7) % 5
    return Cluster(agents, fws, weights=weights), quotas


def check_quotas(
    snap: Snapshot, plans: list[OfferPlan], quotas: dict[str, Quota], enforced: bool = True
) -> tuple[int, int]:
    """(roles offered past their limit, roles with their guarantee met after the pass);
    ``enforced``: asserts no offer took a role past its limit (a role may hold more than its
    limit from before the limit was set; it is then offered none of that kind)."""
    held: dict[str, dict[str, float]] = {}
    for fw in snap.frameworks:
        for role, r in fw.allocated.items():
            acc = held.setdefault(role, {})
            for k in ("cpus", "mem"):
                acc[k] = acc.get(k, 0.0) + r.scalar(k)
    offered: dict[str, dict[str, float]] = {}
    for p in plans:
        acc = offered.setdefault(p.role, {})
        for k in ("cpus", "mem"):
            acc[k] = acc.get(k, 0.0) + p.resources.scalar(k)
    over = met = 0
    for role, q in quotas.items():
        h, o = held.get(role, {}), offered.get(role, {})
        exceeded = any(
            o.get(k, 0.0) > 0 and h.get(k, 0.0) + o.get(k, 0.0) > v + 1e-6
            for k, v in q.limits.items()
        )
        assert not (enforced and exceeded), (role, h, o, q)
        over += exceeded
        met += all(h.get(k, 0.0) + o.get(k, 0.0) + 1e-6 >= v for k, v in q.guarantees.items())
    return over, met


def quota_mode(args: argparse.Namespace) -> int:
    info = machine()
    n = ints(args.agents)[0] if args.agents != "1000,10000,50000" else 10_000
    t0 = clock()
    c, quotas = quota_cluster(n, args.roles, args.seed)
    gen = clock() - t0
    base = snapshot(c)
    with_q = Snapshot(base.agents, base.frameworks, base.now, base.weights, quotas=quotas)
    # Interleaved, so load from other processes falls on both alike.
    plain_times: list[float] = []
    quota_times: list[float] = []
    plain_plans: list[OfferPlan] = []
    quota_plans: list[OfferPlan] = []
    for _ in range(args.repeat):
        t, plain_plans = timed(lambda: allocate(base), 1)
        plain_times += t
        t, quota_plans = timed(lambda: allocate(with_q), 1)
        quota_times += t
    _, met = check_quotas(with_q, quota_plans, quotas)
    over_plain, met_plain = check_quotas(base, plain_plans, quotas, enforced=False)
    limited = sum(bool(q.limits) for q in quotas.values())
    result = {
        "machine": info,
        "agents": n,
        "roles": args.roles,
        "without_quotas_ms": round(statistics.median(plain_times) * 1e3, 1),
        "with_quotas_ms": round(statistics.median(quota_times) * 1e3, 1),
        "offers_without": len(plain_plans),
        "offers_with": len(quota_plans),
        "roles_with_limits": limited,
        "guarantees_met": met,
        "guarantees_met_without_quotas": met_plain,
        "limits_exceeded_without_quotas": over_plain,
        "gen_s": round(gen, 2),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"# {info['date']}  nproc={info['nproc']}  python={info['python']}  "
        f"loadavg={' '.join(f'{x:.2f}' for x in info['loadavg'])}"
    )
    print(
        f"# {n} agents ({AGENT}), {args.roles} roles x 1 framework (weights 1-5); guarantees: "
        f"the first tenth of the roles 40 % of the cpus and mem between them, the others 20 %; "
        f"1 role in 4 limited to 1.2x its guarantee; median of {args.repeat}"
    )
    print(f"{'pass':<16} {'allocate ms':>11} {'min ms':>9} {'offers':>7}")
    for name, times, plans in (
        ("without quotas", plain_times, plain_plans),
        ("with quotas", quota_times, quota_plans),
    ):
        print(
            f"{name:<16} {statistics.median(times) * 1e3:>11.1f} {min(times) * 1e3:>9.1f} "
            f"{len(plans):>7}"
        )
    print(
        f"# with quotas: no limit exceeded ({limited} limited roles), guarantees met for "
        f"{met}/{len(quotas)} roles; the pass without them: {over_plain} limits exceeded, "
        f"{met_plain}/{len(quotas)} guarantees met; generating the state took {gen:.1f} s"
    )
    return 0


def machine() -> dict[str, Any]:
    return {
        "date": time.strftime("%a %b %d %H:%M:%S %Z %Y"),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg(),
    }


def ints(text: str) -> list[int]:
    return [int(x.replace("k", "000")) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--agents", default="1000,10000,50000", help="comma list (1k = 1000)")
    ap.add_argument("--frameworks", default="10,100", help="comma list")
    ap.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma list of " + "/".join(VARIANTS)
    )
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per case (median)")
    ap.add_argument(
        "--max-pass-seconds",
        type=float,
        default=8.0,
        help="for agents x frameworks >= 500k: if the first pass takes longer, report it alone "
        "(0 = always --repeat)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", action="store_true", help="cProfile one extra pass per case")
    ap.add_argument("--profile-top", type=int, default=15)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead")
    ap.add_argument(
        "--quotas", action="store_true", help="the quota mode (see above) instead of the cases"
    )
    ap.add_argument("--roles", type=int, default=100, help="roles in the quota mode")
    args = ap.parse_args(argv)
    if args.quotas:
        return quota_mode(args)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            ap.error(f"unknown variant {v!r}")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    started = clock()
    results: list[dict[str, Any]] = []
    info = machine()
    if not args.json:
        print(
            f"# {info['date']}  nproc={info['nproc']}  python={info['python']}  "
            f"loadavg={' '.join(f'{x:.2f}' for x in info['loadavg'])}"
        )
        print(f"# agent: {AGENT} (1 in 10 with a static reservation); roles/weights: {WEIGHTS}")
        hdr = (
            f"{'agents':>7} {'fws':>4} {'variant':<10} {'offers':>7} {'snapshot ms':>11} "
            f"{'allocate ms':>11} {'min ms':>9} {'us/agent':>8} {'gen s':>6}"
        )
        print(hdr)
        print("-" * len(hdr), flush=True)
    for n in ints(args.agents):
        t0 = clock()
        agents, usage = make_agents(n, args.seed)
        gen_agents = clock() - t0
        for m in ints(args.frameworks):
            t0 = clock()
            c = Cluster(agents, make_frameworks(m, usage, args.seed))
            gen = gen_agents + clock() - t0
            for variant in variants:
                log(f"... {n} agents x {m} frameworks, {variant}")
                r = run_case(c, n, m, variant, args)
                r["gen_s"] = round(gen + r["variant_setup_s"], 3)
                results.append(r)
                if not args.json:
                    print(
                        f"{n:>7} {m:>4} {variant:<10} {r['offers']:>7} {r['snapshot_ms']:>11.1f} "
                        f"{r['allocate_ms']:>11.1f} {r['allocate_min_ms']:>9.1f} "
                        f"{r['us_per_agent']:>8.1f} {r['gen_s']:>6.2f}",
                        flush=True,
                    )
                    if len(r["allocate_all_ms"]) < args.repeat:
                        print(
                            f"        (one pass only: {r['allocate_all_ms'][0] / 1e3:.1f} s > "
                            f"--max-pass-seconds {args.max_pass_seconds})"
                        )
                    if "profile" in r:
                        print(r["profile"])
            clear_variant(c)
            del c
    elapsed = clock() - started
    if args.json:
        print(
            json.dumps(
                {
                    "machine": info,
                    "args": vars(args),
                    "elapsed_s": round(elapsed, 1),
                    "results": results,
                },
                indent=2,
            )
        )
    else:
        print(f"# total {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
