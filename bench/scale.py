#!/usr/bin/env python3
"""One master driving thousands of simulated agents and many frameworks.

Starts a real corral master (``LocalCluster`` with no real agents), ``--sim-procs`` processes
of simulated agents (``corral.testing.simagents``: the real agent protocol over loopback, no
task processes), waits until every agent is registered, then starts ``--frameworks`` framework
processes on the public SDK that together launch ``--tasks`` long-running tasks, packing each
offer. It prints:

* time to register all agents;
* placement rate (tasks launched per second, first ACCEPT -> last ACCEPT) and the time from the
  frameworks' start until every task is RUNNING;
* the master's allocation pass time p50/p99 (``allocator/allocation_run_ms``: snapshot,
  allocator and sending the offers) and offer -> ACCEPT round trip p50/p99
  (``master/offer_accept_ms``), from its ``/metrics/snapshot``;
* the master's RSS and CPU seconds (registration phase and placement phase);
* ``/master/state`` and operator ``GET_TASKS`` latency (and size) with all tasks running.

    python bench/scale.py --agents 10000 --frameworks 10 --tasks 100000
    python bench/scale.py --agents 1000 --frameworks 4 --tasks 10000     # a quick one

Everything it starts is stopped on exit, by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import psutil

from corral.resources import scalars
from corral.scheduler_client import Scheduler, SchedulerDriver, command_task
from corral.testing.cluster import LocalCluster, wait_until
from corral.wire.common import FrameworkInfo
from corral.wire.scheduler import Call, Offer
from corral.wire.tasks import TaskStatus

HERE = Path(__file__).resolve()


# ====================================================================== framework worker
class Placer(Scheduler):
    """Launches ``total`` long-running tasks, packing each offer; reports progress on stdout."""

    def __init__(self, total: int, cpus: float, mem: float, name: str) -> None:
        self.total, self.cpus, self.mem, self.name = total, cpus, mem, name
        self.launched = 0
        self.running = 0
        self.first_launch: float | None = None
        self.last_launch: float | None = None
        self.all_running: float | None = None
        self.offers_seen = 0
        self.suppressed = False
        self.done = asyncio.Event()

    def offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        self.offers_seen += len(offers)
        unused: list[str] = []
        for offer in offers:
            left = self.total - self.launched
            fits = self._fits(offer)
            n = min(left, fits)
            if n <= 0:
                unused.append(offer.id.value)
                continue
            tasks = [
                command_task(
                    f"{self.name}-{self.launched + i}",
                    "sleep",
                    offer.agent_id.value,
                    "sleep 3600",
                    scalars(cpus=self.cpus, mem=self.mem),
                )
                for i in range(n)
            ]
            self.launched += n
            now = time.time()
            self.first_launch = self.first_launch or now
            self.last_launch = now
            self._call(driver.launch([offer.id.value], tasks, refuse_seconds=60))
        if unused:
            self._call(driver.decline(unused, refuse_seconds=60))
        if self.launched >= self.total and not self.suppressed:
            self.suppressed = True
            self._call(driver.suppress())

    def _call(self, call: Coroutine[Any, Any, None]) -> None:
        async def run() -> None:
            try:
                await call
            except Exception as exc:  # reported, and the run fails
                print(json.dumps({"bad_state": "CALL_FAILED", "message": str(exc)}), flush=True)

        asyncio.get_running_loop().create_task(run())

    def _fits(self, offer: Offer) -> int:
        cpus = sum(r.scalar.value for r in offer.resources if r.name == "cpus" and r.scalar)
        mem = sum(r.scalar.value for r in offer.resources if r.name == "mem" and r.scalar)
        return int(min(cpus / self.cpus + 1e-9, mem / self.mem + 1e-9))

    def update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        if status.state == "TASK_RUNNING":
            self.running += 1
            if self.running >= self.total and self.all_running is None:
                self.all_running = time.time()
                self.done.set()
        elif status.state != "TASK_STARTING":
            print(json.dumps({"bad_state": status.state, "message": status.message}), flush=True)


async def worker_main(args: argparse.Namespace) -> None:
    placer = Placer(args.worker_tasks, args.task_cpus, args.task_mem, args.name)
    info = FrameworkInfo(user=getpass.getuser(), name=args.name, failover_timeout=0.0)
    driver = SchedulerDriver(args.master, info, placer)
    runner = asyncio.get_running_loop().create_task(driver.run())  # ends with the process
    started = time.time()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    def report(final: bool = False) -> None:
        print(
            json.dumps(
                {
                    "name": args.name,
                    "final": final,
                    "started": started,
                    "launched": placer.launched,
                    "running": placer.running,
                    "offers": placer.offers_seen,
                    "first_launch": placer.first_launch,
                    "last_launch": placer.last_launch,
                    "all_running": placer.all_running,
                    "rss_mb": psutil.Process().memory_info().rss / 2**20,
                }
            ),
            flush=True,
        )

    while not placer.done.is_set() and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(placer.done.wait(), 1.0)
        report()
    report(final=True)
    await stop.wait()  # keep the tasks running until the driver process is told to go
    rss = psutil.Process().memory_info().rss / 2**20
    print(json.dumps({"name": args.name, "rss_mb": rss}), flush=True)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(driver.call(Call(type="TEARDOWN")), 5)
    runner.cancel()
    os._exit(0)  # the master removes the framework and kills its tasks; nothing else to wait for


# ====================================================================== orchestration
class Child:
    """A child process whose JSON stdout lines are kept (the last one, and all finals)."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log.open("wb")
        self.popen = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL
        )
        self.last: dict[str, Any] = {}
        self.final: dict[str, Any] | None = None
        self.bad: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if "bad_state" in doc:
                self.bad.append(doc)
                continue
            self.last = doc
            if doc.get("final"):
                self.final = doc

    def terminate(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> None:
        if self.popen.poll() is None:
            self.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()


def note(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def timed_get(url: str, body: bytes | None = None) -> tuple[float, int]:
    req = urllib.request.Request(url, data=body)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as resp:
        n = len(resp.read())
    return time.perf_counter() - t0, n


def wait_quiet(proc: psutil.Process, timeout: float, busy: float = 0.15) -> float:
    """Wait until ``proc`` uses under ``busy`` of a core over one second; how long it took."""
    t0 = time.time()
    last = cpu_seconds(proc)
    while time.time() - t0 < timeout:
        time.sleep(1.0)
        now = cpu_seconds(proc)
        if now - last < busy:
            break
        last = now
    return time.time() - t0


def metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics/snapshot", timeout=60) as resp:
        doc: dict[str, float] = json.loads(resp.read())
    return doc


def cpu_seconds(p: psutil.Process) -> float:
    t = p.cpu_times()
    return float(t.user + t.system)


def run(args: argparse.Namespace) -> dict[str, Any]:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out: dict[str, Any] = {
        "agents": args.agents,
        "frameworks": args.frameworks,
        "tasks": args.tasks,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cores": os.cpu_count(),
    }
    children: list[Child] = []
    cluster = LocalCluster(0, work_dir=args.work_dir, master_flags=args.master_flag or [])
    try:
        cluster.start()
        master_pid = cluster.master_proc.pid if cluster.master_proc else 0
        mproc = psutil.Process(master_pid)
        spy = None
        if args.profile:
            spy = subprocess.Popen(
                ["py-spy", "record", "-p", str(master_pid), "-r", "200", "--format", "raw",
                 "-o", args.profile, "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        logs = cluster.work_dir / "bench"
        logs.mkdir(parents=True, exist_ok=True)

        # ---- registration
        cpu0, t0 = cpu_seconds(mproc), time.time()
        per = [args.agents // args.sim_procs] * args.sim_procs
        per[-1] += args.agents - sum(per)
        base = 0
        sims: list[Child] = []
        for i, n in enumerate(per):
            argv = [
                sys.executable, "-m", "corral.testing.simagents",
                "--master", cluster.master, "--agents", str(n), "--index-base", str(base),
                "--resources", args.agent_resources, "--stats-interval", "0.2",
            ]  # fmt: skip
            sims.append(Child(argv, logs / f"sim{i}.log"))
            base += n
        children += sims
        wait_until(
            lambda: sum(s.last.get("registered", 0) for s in sims) >= args.agents,
            args.timeout,
            what=f"{args.agents} simulated agents registered",
        )
        out["register_s"] = time.time() - t0
        note(f"{args.agents} agents registered in {out['register_s']:.2f} s")
        out["master_cpu_register_s"] = cpu_seconds(mproc) - cpu0
        out["master_rss_agents_mb"] = mproc.memory_info().rss / 2**20

        # ---- placement
        cpu1, t1 = cpu_seconds(mproc), time.time()
        per_fw = [args.tasks // args.frameworks] * args.frameworks
        per_fw[-1] += args.tasks - sum(per_fw)
        fws: list[Child] = []
        for i, n in enumerate(per_fw):
            argv = [
                sys.executable, str(HERE), "--worker", "--master", cluster.master,
                "--worker-tasks", str(n), "--name", f"fw{i}",
                "--task-cpus", str(args.task_cpus), "--task-mem", str(args.task_mem),
            ]  # fmt: skip
            fws.append(Child(argv, logs / f"fw{i}.log"))
        children += fws
        wait_until(
            lambda: all(f.final is not None for f in fws) or any(f.bad for f in fws),
            args.timeout,
            what=f"{args.tasks} tasks running",
            interval=0.2,
        )
        note("all tasks running")
        bad = [b for f in fws for b in f.bad]
        if bad:
            raise RuntimeError(f"tasks ended unexpectedly: {bad[:3]}")
        finals = [f.final for f in fws if f.final is not None]
        first = min(f["first_launch"] for f in finals)
        last = max(f["last_launch"] for f in finals)
        out["placement_rate"] = args.tasks / max(last - first, 1e-9)
        out["all_running_s"] = max(f["all_running"] for f in finals) - t1
        out["master_cpu_place_s"] = cpu_seconds(mproc) - cpu1
        out["framework_rss_mb"] = max(f["rss_mb"] for f in finals)
        out["master_rss_mb"] = mproc.memory_info().rss / 2**20
        m = metrics(cluster.url)
        for k in ("p50", "p99", "max", "count"):
            out[f"alloc_ms_{k}"] = m.get(f"allocator/allocation_run_ms/{k}")
            out[f"offer_accept_ms_{k}"] = m.get(f"master/offer_accept_ms/{k}")
        out["tasks_running_master"] = m.get("master/tasks_running")

        # ---- read APIs at this size: once while acknowledgements still stream in, then
        # after the master has gone quiet (the frameworks' ACKNOWLEDGE calls trail RUNNING).
        out["state_busy_s"] = timed_get(f"{cluster.url}/master/state")[0]
        out["quiet_after_s"] = wait_quiet(mproc, args.timeout)
        state = [timed_get(f"{cluster.url}/master/state") for _ in range(args.read_repeats)]
        out["state_all_s"] = [round(t, 3) for t, _ in state]
        out["state_s"] = sorted(t for t, _ in state)[len(state) // 2]
        out["state_mb"] = state[0][1] / 2**20
        body = b'{"type": "GET_TASKS"}'
        gt = [timed_get(f"{cluster.url}/api/v1", body) for _ in range(args.read_repeats)]
        out["get_tasks_all_s"] = [round(t, 3) for t, _ in gt]
        out["get_tasks_s"] = sorted(t for t, _ in gt)[len(gt) // 2]
        out["get_tasks_mb"] = gt[0][1] / 2**20
        out["master_rss_final_mb"] = mproc.memory_info().rss / 2**20
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        return out
    finally:
        for c in children:
            c.terminate()
        for c in reversed(children):
            c.stop()
        cluster.stop()


def show(r: dict[str, Any]) -> None:
    def f(key: str, fmt: str = "{:.1f}") -> str:
        v = r.get(key)
        return "n/a" if v is None else fmt.format(v)

    print(f"corral scale: {r['agents']} simulated agents, {r['frameworks']} frameworks, "
          f"{r['tasks']} tasks ({r['date']}, {r['cores']} cores)")  # fmt: skip
    rows = [
        ("register all agents", f("register_s", "{:.2f}") + " s"),
        ("placement rate", f("placement_rate", "{:,.0f}") + " tasks/s"),
        ("all tasks RUNNING after", f("all_running_s", "{:.2f}") + " s"),
        ("allocation pass p50 / p99 / max", f"{f('alloc_ms_p50')} / {f('alloc_ms_p99')} / "
         f"{f('alloc_ms_max')} ms ({f('alloc_ms_count', '{:.0f}')} passes)"),
        ("offer -> accept p50 / p99", f"{f('offer_accept_ms_p50')} / "
         f"{f('offer_accept_ms_p99')} ms"),
        ("master CPU: register / place", f"{f('master_cpu_register_s')} / "
         f"{f('master_cpu_place_s')} s"),
        ("master RSS: agents / tasks / end", f"{f('master_rss_agents_mb', '{:.0f}')} / "
         f"{f('master_rss_mb', '{:.0f}')} / {f('master_rss_final_mb', '{:.0f}')} MB"),
        ("largest framework process RSS", f("framework_rss_mb", "{:.0f}") + " MB"),
        ("/master/state while busy", f"{f('state_busy_s', '{:.3f}')} s"),
        ("master quiet after", f"{f('quiet_after_s')} s"),
        ("/master/state (median)", f"{f('state_s', '{:.3f}')} s ({f('state_mb')} MB) "
         f"{r.get('state_all_s')}"),
        ("GET_TASKS (median)", f"{f('get_tasks_s', '{:.3f}')} s ({f('get_tasks_mb')} MB) "
         f"{r.get('get_tasks_all_s')}"),
    ]  # fmt: skip
    for name, value in rows:
        print(f"  {name:<34} {value}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--frameworks", type=int, default=4)
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument("--sim-procs", type=int, default=0, help="default: one per 2,500 agents")
    p.add_argument("--agent-resources", default="cpus:16;mem:65536;disk:500000;ports:[31000-32000]")
    p.add_argument("--task-cpus", type=float, default=1.0)
    p.add_argument("--task-mem", type=float, default=1024.0)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--master-flag", action="append", help="extra flag for the master")
    p.add_argument("--json", action="store_true")
    p.add_argument("--read-repeats", type=int, default=5, help="timed reads of each view")
    p.add_argument("--work-dir", help="keep the master's and children's logs here")
    p.add_argument("--profile", help="py-spy the master into this file (collapsed stacks)")
    # worker mode (one framework process)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--master", help=argparse.SUPPRESS)
    p.add_argument("--worker-tasks", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--name", default="fw", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        with contextlib.suppress(ImportError):
            import uvloop

            uvloop.install()
        asyncio.run(worker_main(args))
        return
    for flag in ("agents", "frameworks", "tasks"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag}: must be at least 1")
    # `timeout` and CI send SIGTERM: unwind through the finally blocks that stop what we started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.sim_procs <= 0:
        args.sim_procs = max(1, (args.agents + 2499) // 2500)
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        show(result)


if __name__ == "__main__":
    main()
