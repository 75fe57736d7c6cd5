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

``--real`` then runs both on a real local cluster: ``corral ci`` with ``sleep`` agents, the
simulated CI system driving it through ``/v1/demand`` and ``/v1/agents/NAME/report``, build
times and delays scaled by ``--scale`` (0.05: a 1 min build takes 3 s); the fixed pool is the
same templates with ``min = max``, warmed up before the builds are queued.

    python bench/ci.py [--builds 50] [--provision-delay 10] [--idle-termination 60]
                       [--startup 5] [--real]
"""

from __future__ import annotations

import argparse
import random
import statistics
from dataclasses import dataclass, field
from typing import Any

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
    ap.add_argument(
        "--real",
        action="store_true",
        help="also run both on a real local cluster (corral ci, sleep agents)",
    )
    ap.add_argument(
        "--scale",
        type=float,
        default=0.05,
        help="with --real: builds and delays this many times as long",
    )
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
    if args.real:
        real(args, cfg)


# ---------------------------------------------------------------------- on a real cluster
def toml(cfg: CiConfig, fixed_pool: bool) -> str:
    out = []
    for t in cfg.templates:
        labels = ", ".join(f'"{x}"' for x in t.labels)
        out.append(
            f'[[template]]\nname = "{t.name}"\nlabels = [{labels}]\ncpus = 0.1\nmem = 32\n'
            f"executors = {t.executors}\nmax = {t.max}\nmin = {t.max if fixed_pool else 0}\n"
            f"provision-delay = {t.provision_delay:g}\nidle-termination = "
            f'{t.idle_termination:g}\ncommand = "sleep 3600"\n'
        )
    return "\n".join(out)


def real(args: argparse.Namespace, cfg: CiConfig) -> None:
    import json
    import os
    import subprocess
    import sys
    import tempfile
    import time
    import urllib.request
    from pathlib import Path

    from corral.testing import LocalCluster, free_port, wait_until

    def call(url: str, body: object | None = None) -> Any:
        req = urllib.request.Request(
            url,
            data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
        )
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    print(
        f"on a real cluster: build times and delays scaled by {args.scale:g}, "
        f"provision-delay {args.provision_delay * args.scale:g} s, idle-termination "
        f"{args.idle_termination * args.scale:g} s"
    )
    print(
        f"{'pool':<8} {'wait p50 s':>10} {'wait p99 s':>10} {'last build ends s':>18} "
        f"{'idle agent-s':>13}"
    )
    scaled = templates(args.provision_delay * args.scale, args.idle_termination * args.scale)
    with (
        tempfile.TemporaryDirectory(prefix="corral-bench-ci-") as tmp,
        LocalCluster(
            1, agent_resources="cpus:8;mem:8192;disk:10000;ports:[31000-32000]"
        ) as cluster,
    ):
        for name, fixed_pool in (("elastic", False), ("fixed", True)):
            work = Path(tmp) / name
            work.mkdir()
            (work / "t.toml").write_text(toml(scaled, fixed_pool))
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "corral",
                    "ci",
                    "--master",
                    cluster.master,
                    "--config",
                    str(work / "t.toml"),
                    "--port",
                    str(port),
                    "--work-dir",
                    str(work / "state"),
                    "--unregister-after",
                    "1",
                    "--log-level",
                    "warning",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ},
                start_new_session=True,
            )
            try:
                wait_until(lambda u=url: call(u + "/v1/status"), 20, what="corral ci")
                size = sum(t.max for t in scaled.templates)
                if fixed_pool:
                    wait_until(
                        lambda u=url, n=size: (
                            sum(1 for a in call(u + "/v1/agents") if a["state"] == "idle") == n
                        ),
                        60,
                        what="the pool",
                    )
                builds = workload(args.builds, args.seed)
                for b in builds:
                    b.duration *= args.scale
                t0 = time.monotonic()
                running: dict[str, list[Build]] = {}
                posted: dict[frozenset[str], int] = {}
                idle = 0.0
                last = t0
                end = 0.0
                while True:
                    now = time.monotonic() - t0
                    agents = {a["name"]: a for a in call(url + "/v1/agents")}
                    for name_, bs in running.items():
                        done = [b for b in bs if now >= (b.started or 0) + b.duration]
                        for b in done:
                            bs.remove(b)
                        if done and name_ in agents:
                            call(f"{url}/v1/agents/{name_}/report", {"busy": len(bs)})
                    up = {n: a for n, a in agents.items() if a["state"] in ("idle", "busy")}
                    for b in builds:
                        if b.started is not None:
                            continue
                        for n, a in up.items():
                            t = scaled.template(str(a["template"]))
                            assert t is not None
                            if t.serves(b.labels) and len(running.setdefault(n, [])) < t.executors:
                                b.started = now
                                running[n].append(b)
                                call(f"{url}/v1/agents/{n}/report", {"busy": len(running[n])})
                                break
                    waiting = demand([b for b in builds if b.started is None])
                    for labels in set(posted) | set(waiting):
                        if posted.get(labels) != waiting.get(labels, 0):
                            posted[labels] = waiting.get(labels, 0)
                            call(
                                url + "/v1/demand",
                                {"labels": sorted(labels), "count": posted[labels]},
                            )
                    dt = time.monotonic() - last
                    last = time.monotonic()
                    idle += dt * sum(1 for n in up if not running.get(n))
                    if all(b.started is not None and now >= b.started + b.duration for b in builds):
                        end = end or now
                        if fixed_pool or not agents:
                            break
                    time.sleep(0.1)
                waits = [b.started or 0.0 for b in builds]
                print(
                    f"{name:<8} {statistics.median(waits):>10.1f} "
                    f"{percentile(waits, 0.99):>10.1f} {end:>18.1f} {idle:>13.0f}"
                )
            finally:
                proc.terminate()
                proc.wait(20)


if __name__ == "__main__":
    main()
