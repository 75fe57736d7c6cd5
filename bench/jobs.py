#!/usr/bin/env python3
"""The jobs framework at scale: many jobs due at one instant, and a large job list.

Starts a real master (``LocalCluster`` with no real agents), one process of simulated agents
(``corral.testing.simagents``: the real agent protocol, no task processes; each task runs
``--task-duration`` seconds) and a real ``corral jobs``. It defines ``--jobs`` jobs through
the REST API, ``--due`` of which are due at the same instant (``R1/<T>/PT24H``) and the rest
far in the future, then prints:

* how long defining the jobs took (POST /v1/scheduler/iso8601, 16 at a time);
* the spread between each due run's scheduled instant and its start (the task RUNNING, as
  the run history reports it): p50 / p99 / max, and when the last one started and ended;
* beside it, measured first on the same cluster: the same number of trivial tasks launched at
  once by ``bench/launch.py``'s bare framework (the public SDK, no jobs logic), first ACCEPT
  to each task RUNNING: the cluster's own floor for a burst of that size;
* latency (p50 / p99 over ``--reps`` requests) of listing every job (GET /v1/scheduler/jobs),
  the summary, a search, the graph (GET /v1/graph and /v1/scheduler/graph/csv), beside, in
  the same run, the jobs daemon's GET /ping (the HTTP floor) and the master's GET
  /master/state with the same tasks known (a reference read of similar size).

Goals (issue #12): p99 start delay <= 1 s; listing 10,000 jobs < 200 ms.

    python bench/jobs.py                          # 10,000 jobs, 1,000 due at once
    python bench/jobs.py --jobs 2000 --due 200    # a quick one

Everything it starts is stopped on exit, by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from corral.testing.cluster import LocalCluster, free_port, wait_until


def pct(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def ms(x: float) -> str:
    return f"{x * 1000:8.1f} ms"


class Procs:
    def __init__(self) -> None:
        self.popens: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            p = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        self.popens.append(p)
        return p

    def stop(self) -> None:
        for p in reversed(self.popens):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)


async def define(url: str, jobs: list[dict[str, Any]], concurrency: int = 16) -> float:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for j in jobs:
        queue.put_nowait(j)
    errors: list[str] = []
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while not queue.empty():
                job = queue.get_nowait()
                async with session.post(f"{url}/v1/scheduler/iso8601", json=job) as resp:
                    if resp.status != 204:
                        errors.append(f"{job['name']}: {resp.status} {await resp.text()}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    if errors:
        raise SystemExit(f"{len(errors)} jobs refused, e.g. {errors[0]}")
    return time.perf_counter() - t0


async def latency(url: str, reps: int) -> tuple[list[float], int]:
    out = []
    size = 0
    async with aiohttp.ClientSession() as session:
        for _ in range(reps):
            t0 = time.perf_counter()
            async with session.get(url) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"GET {url}: {resp.status} {body[:200]!r}")
            out.append(time.perf_counter() - t0)
            size = len(body)
    return out, size


def bare_burst(master: str, count: int) -> list[float]:
    """``count`` tasks launched at once by bench/launch.py's bare framework: the seconds from
    its first ACCEPT to each task's RUNNING."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from launch import BenchFramework, drive  # bench/launch.py

    fw = BenchFramework(
        count=count, command="true", shell=True, arguments=[], cpus=0.1, mem=32,
        name="bench-jobs-baseline", stop_when="running",
    )  # fmt: skip
    asyncio.run(drive(master, fw, 120.0))
    if fw.failure_message:
        raise SystemExit(f"baseline framework: {fw.failure_message}")
    first = fw.first_submit or 0.0
    return [t.running - first for t in fw.times.values() if t.running is not None]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return json.loads(resp.read())


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--jobs", type=int, default=10_000, help="jobs defined in all")
    ap.add_argument("--due", type=int, default=1_000, help="of which due at the same instant")
    ap.add_argument("--agents", type=int, default=50, help="simulated agents")
    ap.add_argument("--task-duration", type=float, default=2.0, help="seconds each run takes")
    ap.add_argument("--reps", type=int, default=20, help="requests per latency figure")
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = ap.parse_args()
    if not 0 < args.due <= min(args.jobs, 1000):
        ap.error("--due: between 1 and min(--jobs, 1000) (the run listing returns 1000)")

    procs = Procs()
    tmp = tempfile.TemporaryDirectory(prefix="corral-bench-jobs-")
    work = Path(tmp.name)
    cluster = LocalCluster(0, work_dir=work / "cluster")
    figures: dict[str, Any] = {"jobs": args.jobs, "due": args.due, "agents": args.agents}
    try:
        cluster.start_master()
        master = cluster.master
        procs.start(
            [sys.executable, "-m", "corral.testing.simagents", "--master", master,
             "--agents", str(args.agents), "--resources", "cpus:16;mem:65536;disk:500000",
             "--task-duration", str(args.task_duration), "--stats-interval", "5"],
            work / "simagents.log",
        )  # fmt: skip
        wait_until(
            lambda: sum(1 for s in cluster.state()["slaves"] if s["active"]) >= args.agents,
            60, what=f"{args.agents} simulated agents",
        )  # fmt: skip
        base = bare_burst(master, args.due)
        figures.update(
            baseline_p50_s=pct(base, 50), baseline_p99_s=pct(base, 99),
            baseline_max_s=max(base) if base else math.nan,
        )  # fmt: skip
        wait_until(
            lambda: not [f for f in cluster.state()["frameworks"] if f["tasks"]],
            60, what="the baseline's tasks to end",
        )  # fmt: skip
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        jobs_proc = procs.start(
            [sys.executable, "-m", "corral", "jobs", "--master", master, "--port", str(port),
             "--work-dir", str(work / "jobs"), "--log-level", "warning"],
            work / "jobs.log",
        )  # fmt: skip

        def jobs_up() -> bool:
            if jobs_proc.poll() is not None:
                raise SystemExit(f"corral jobs exited:\n{(work / 'jobs.log').read_text()}")
            return bool(get_json(f"{url}/v1/scheduler/jobs") == [])

        wait_until(jobs_up, 30, what="corral jobs")

        small = {"cpus": 0.1, "mem": 32, "owner": "", "command": "true", "retries": 0}
        idle = [
            {"name": f"idle-{i:05d}", "schedule": "R/2099-01-01T00:00:00Z/P1D", **small}
            for i in range(args.jobs - args.due)
        ]
        took_idle = asyncio.run(define(url, idle)) if idle else 0.0
        per_job = took_idle / max(1, len(idle)) or 0.003
        # the due instant: after the due jobs are defined (at the rate just measured), + 3 s
        due_at = round(time.time() + per_job * args.due * 1.5 + 3.0, 3)
        due = [
            {"name": f"due-{i:04d}", "schedule": f"R1/{iso(due_at)}/PT24H", **small}
            for i in range(args.due)
        ]
        took_due = asyncio.run(define(url, due))
        late = time.time() - due_at
        if late > 0:
            print(f"warning: defining the due jobs ended {late:.1f}s after their instant")
        figures["define_s"] = took_idle + took_due
        figures["define_per_job_ms"] = (took_idle + took_due) / args.jobs * 1000

        def all_ended() -> list[dict[str, Any]] | None:
            runs = [
                r for r in get_json(f"{url}/v1/runs?limit=1000")["runs"]
                if r["job"].startswith("due-")
            ]  # fmt: skip
            if len(runs) >= args.due and all(r["ended"] for r in runs):
                return runs
            return None

        wait_until(lambda: time.time() > due_at, 600, interval=0.1, what="the due instant")
        runs = wait_until(all_ended, 120 + args.task_duration, interval=0.5, what="due runs")
        states: dict[str, int] = {}
        for r in runs:
            states[r["state"]] = states.get(r["state"], 0) + 1
        delays = [parse_iso(r["started"]) - parse_iso(r["scheduled"]) for r in runs if r["started"]]
        last_start = max(parse_iso(r["started"]) for r in runs if r["started"]) - due_at
        last_end = max(parse_iso(r["ended"]) for r in runs) - due_at
        figures.update(
            states=states,
            start_delay_p50_s=pct(delays, 50),
            start_delay_p99_s=pct(delays, 99),
            start_delay_max_s=max(delays) if delays else math.nan,
            last_start_s=last_start,
            last_end_s=last_end,
        )

        # ---------------------------------------------------------------- reads
        reads = {
            "GET /v1/scheduler/jobs (all)": f"{url}/v1/scheduler/jobs",
            "GET /v1/scheduler/jobs/summary": f"{url}/v1/scheduler/jobs/summary",
            "GET /v1/scheduler/jobs/search?name=due-00": (
                f"{url}/v1/scheduler/jobs/search?name=due-00&limit=100"
            ),
            "GET /v1/graph": f"{url}/v1/graph",
            "GET /v1/scheduler/graph/csv": f"{url}/v1/scheduler/graph/csv",
            "baseline: GET /ping (jobs daemon)": f"{url}/ping",
            "baseline: GET /master/state (master)": f"http://{master}/master/state",
        }
        lat: dict[str, dict[str, float]] = {}
        for label, u in reads.items():
            values, size = asyncio.run(latency(u, args.reps))
            lat[label] = {"p50_ms": pct(values, 50) * 1000, "p99_ms": pct(values, 99) * 1000,
                          "bytes": size}  # fmt: skip
        figures["latency"] = lat
    finally:
        procs.stop()
        cluster.stop()
        tmp.cleanup()

    print(f"\njobs: {args.jobs} defined, {args.due} due at one instant; "
          f"{args.agents} simulated agents, runs of {args.task_duration:g}s")  # fmt: skip
    print(
        f"define          {figures['define_s']:.1f} s "
        f"({figures['define_per_job_ms']:.2f} ms/job, 16 in flight)"
    )
    print(f"due runs        {figures['states']}")
    print("start delay     p50 {:.3f} s   p99 {:.3f} s   max {:.3f} s   (goal: p99 <= 1 s)".format(
        figures["start_delay_p50_s"], figures["start_delay_p99_s"], figures["start_delay_max_s"]))
    print(
        "baseline        p50 {:.3f} s   p99 {:.3f} s   max {:.3f} s   (bare SDK framework, "
        "same tasks at once: first ACCEPT -> RUNNING)".format(
            figures["baseline_p50_s"], figures["baseline_p99_s"], figures["baseline_max_s"]
        )
    )
    print(
        f"last start      +{figures['last_start_s']:.3f} s, "
        f"last end +{figures['last_end_s']:.3f} s after the instant"
    )
    print(f"\n{'read':46} {'p50':>11} {'p99':>11} {'size':>10}")
    for label, v in figures["latency"].items():
        print(f"{label:46} {v['p50_ms']:8.1f} ms {v['p99_ms']:8.1f} ms {v['bytes'] / 1024:8.0f} kB")
    print("(goal: listing 10,000 jobs < 200 ms)")
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
