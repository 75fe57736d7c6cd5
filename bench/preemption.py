#!/usr/bin/env python3
"""Time the choice of preemption victims (``corral.master.core.preemption.choose``) on a
full synthetic cluster, beside one DRF allocation pass over the same agents (the baseline,
measured in the same run). Pure code, no processes.

Every agent is ``cpus:8;mem:16384``, full with ``--tasks`` tasks of random sizes (0.5-2
cpus, 128-1024 MB), priorities 0-5 and tiers. The demand (priority 10, preferred) needs
``--cpus`` cpus and ``--mem`` MB, so most agents need two or three victims. Medians of
``--repeat`` runs.

    python bench/preemption.py                         # 500, 2000, 10000 agents x 10 tasks
    python bench/preemption.py --agents 1000 --tasks 30 --repeat 5
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from corral.master.allocator import AgentView, FrameworkView, Snapshot, allocate
from corral.master.core.preemption import Candidate, Demand, Room, choose
from corral.resources import Resources, scalars

TOTAL = scalars(cpus=8, mem=16384)


def cluster(agents: int, tasks: int, seed: int) -> list[Room]:
    rng = random.Random(seed)
    rooms = []
    for a in range(agents):
        cands = tuple(
            Candidate(
                f"t{a}-{i}",
                f"f{i % 4}",
                scalars(cpus=rng.choice([0.5, 1, 2]), mem=rng.choice([128, 512, 1024])),
                rng.randint(0, 5),
                rng.choice(["preferred", "preemptible"]),
            )
            for i in range(tasks)
        )
        rooms.append(Room(f"a{a}", scalars(cpus=0.1, mem=64), TOTAL, cands))
    return rooms


def median_ms(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", default="500,2000,10000")
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--cpus", type=float, default=3.0)
    ap.add_argument("--mem", type=float, default=2048.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    demand = Demand(scalars(cpus=args.cpus, mem=args.mem), priority=10)
    print(f"{'agents':>7} {'tasks':>6} {'allocate ms':>12} {'choose ms':>10} {'victims':>8}")
    for n in (int(x) for x in args.agents.split(",")):
        rooms = cluster(n, args.tasks, seed=n)
        # Baseline: one allocation pass over the same agents, 0.5 cpu free on each.
        snap = Snapshot(
            agents=tuple(AgentView(r.agent_id, TOTAL, scalars(cpus=0.5, mem=512)) for r in rooms),
            frameworks=tuple(FrameworkView(f"f{i}", ("*",), {"*": Resources()}) for i in range(4)),
            now=0.0,
        )
        base = median_ms(lambda s=snap: allocate(s), args.repeat)
        picked = choose(demand, rooms)
        took = median_ms(lambda r=rooms: choose(demand, r), args.repeat)
        victims = len(picked.victims) if picked else 0
        print(f"{n:>7} {args.tasks:>6} {base:>12.1f} {took:>10.1f} {victims:>8}")


if __name__ == "__main__":
    main()
