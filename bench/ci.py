"""The ci framework's provisioning against a fixed pool of the same size.

50 builds are queued at once on a setup of 4 agent templates. A simulated CI system (FIFO
queue, each build needs labels and takes a random time) runs them on:

* **elastic**: agents made and removed by the ci framework's own rules
  (``corral.frameworks.ci.provisioning.handle``, the code the framework runs), each agent
  taking ``--startup`` seconds from creation to running;
* **fixed**: a pool with every template at its maximum, all running from the start (what a
  static pool of the same size costs).

It prints, for each, the time from enqueue to build start (p50 / p99), the time until the
last build ends, and the agent-seconds spent idle (agents running but running no build,
counted until every agent of the elastic run is gone). Simulated time in 1 s steps, so the
run takes a second of real time; ``--seed`` makes it repeatable.

    python bench/ci.py [--builds 50] [--provision-delay 10] [--idle-termination 60] [--startup 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
from dataclasses import dataclass, field

from corral.frameworks.ci import provisioning as p
from corral.frameworks.ci.templates import CiConfig, Template


def templates(delay: float, idle: float) -> CiConfig:
    def t(name: str, labels: tuple[str, ...], executors: int, maximum: int) -> Template:
        return Template(
            name=name,
            command="agent",
            labels=labels,
            executors=executors,
            max=maximum,
            provision_delay=delay,
            idle_termination=idle,
        )

    return CiConfig(
        templates=(
            t("small", ("linux",), 1, 10),
            t("big", ("linux", "big"), 2, 4),
            t("docker", ("linux", "docker"), 1, 6),
            t("arm", ("arm",), 1, 3),
        )
    )


@dataclass
class Build:
    labels: frozenset[str]
    duration: float
    queued: float = 0.0
    started: float | None = None
    agent: str | None = None


@dataclass
class Sim:
    config: CiConfig
    builds: list[Build]
    startup: float
    now: float = 0.0
    running: dict[str, list[Build]] = field(default_factory=dict)  # agent -> its builds
    up: dict[str, str] = field(default_factory=dict)  # agent -> template, while running
    idle_seconds: float = 0.0
    agent_seconds: float = 0.0

    def queue(self) -> list[Build]:
        return [b for b in self.builds if b.started is None]

    def schedule(self) -> list[tuple[str, int]]:
        """FIFO: each queued build onto a free executor of an agent with its labels."""
        reports = []
        for b in self.queue():
            for name, tname in self.up.items():
                t = self.config.template(tname)
                assert t is not None
                if t.serves(b.labels) and len(self.running.setdefault(name, [])) < t.executors:
                    b.started, b.agent = self.now, name
                    self.running[name].append(b)
                    reports.append((name, len(self.running[name])))
                    break
        return reports

    def finish(self) -> list[tuple[str, int]]:
        reports = []
        for name, builds in self.running.items():
            done = [
                b for b in builds if b.started is not None and self.now >= b.started + b.duration
            ]
            for b in done:
                builds.remove(b)
            if done:
                reports.append((name, len(builds)))
        return reports

    def account(self) -> None:
        for name in self.up:
            self.agent_seconds += 1
            if not self.running.get(name):
                self.idle_seconds += 1


def demand(builds: list[Build]) -> dict[frozenset[str], int]:
    out: dict[frozenset[str], int] = {}
    for b in builds:
        out[b.labels] = out.get(b.labels, 0) + 1
    return out


def elastic(sim: Sim) -> float:
    state = p.CiState(sim.config)
    starting: dict[str, float] = {}  # agent -> when it runs
    removing: list[str] = []
    keys: set[frozenset[str]] = set()
    end = 0.0

    def feed(event: p.Event) -> None:
        for d in p.handle(state, event, sim.now):
            if d.kind == "remove" and d.agent is not None:
                sim.up.pop(d.agent, None)
                if d.task_id is not None:
                    removing.append(d.agent)

    def set_demand() -> None:
        counts = demand(sim.queue())
        for labels in keys | set(counts):
            feed(p.SetDemand(labels, counts.get(labels, 0)))
        keys.update(counts)

    set_demand()
    while True:
        for name in removing:
            feed(p.Ended(name, "TASK_KILLED"))
        removing.clear()
        for a in state.pending():
            feed(p.Launched(a.name, a.name + ".t", "agent"))
            starting[a.name] = sim.now + sim.startup
        for name, at in list(starting.items()):
            if sim.now >= at:
                del starting[name]
                if name in state.agents:
                    feed(p.Running(name))
                    sim.up[name] = state.agents[name].template
        for name, busy in sim.finish():
            if name in state.agents:
                feed(p.Report(name, busy))
        for name, busy in sim.schedule():
            feed(p.Report(name, busy))
        set_demand()
        feed(p.Tick())
        if all(b.started is not None and sim.now >= b.started + b.duration for b in sim.builds):
            end = end or sim.now
            if not state.agents:
                return end
        sim.account()
        sim.now += 1


def fixed(sim: Sim) -> float:
    for t in sim.config.templates:
        for i in range(t.max):
            sim.up[f"{t.name}-{i}"] = t.name
    while True:
        sim.finish()
        sim.schedule()
        if all(b.started is not None and sim.now >= b.started + b.duration for b in sim.builds):
            return sim.now
        sim.account()
        sim.now += 1


def workload(n: int, seed: int) -> list[Build]:
    rng = random.Random(seed)
    kinds = (
        [frozenset({"linux"})] * 5
        + [frozenset({"big"})] * 2
        + [frozenset({"docker"})] * 2
        + [frozenset({"arm"})]
    )
    return [Build(rng.choice(kinds), rng.uniform(30, 180)) for _ in range(n)]


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builds", type=int, default=50)
    ap.add_argument("--provision-delay", type=float, default=10.0)
    ap.add_argument("--idle-termination", type=float, default=60.0)
    ap.add_argument("--startup", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    cfg = templates(args.provision_delay, args.idle_termination)
    size = sum(t.max for t in cfg.templates)
    print(
        f"{args.builds} builds queued at once; 4 templates, {size} agents at most; "
        f"provision-delay {args.provision_delay:g} s, idle-termination "
        f"{args.idle_termination:g} s, agent startup {args.startup:g} s"
    )
    print(
        f"{'pool':<8} {'wait p50 s':>10} {'wait p99 s':>10} {'last build ends s':>18} "
        f"{'agent-s':>8} {'idle agent-s':>13}"
    )
    for name, run in (("elastic", elastic), ("fixed", fixed)):
        sim = Sim(cfg, workload(args.builds, args.seed), args.startup)
        end = run(sim)
        waits = [b.started - b.queued for b in sim.builds if b.started is not None]
        print(
            f"{name:<8} {statistics.median(waits):>10.0f} {percentile(waits, 0.99):>10.0f} "
            f"{end:>18.0f} {sim.agent_seconds:>8.0f} {sim.idle_seconds:>13.0f}"
        )


if __name__ == "__main__":
    main()
