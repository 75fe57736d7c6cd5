#!/usr/bin/env python3
"""Launch throughput and latency of trivial tasks through the real scheduler API.

Starts a ``corral.testing.LocalCluster`` (master + agents as processes on free ports), runs
N trivial tasks (``true``) with a framework written against the public SDK
(``corral.scheduler_client``), and prints:

* tasks/s end-to-end (first ACCEPT sent -> last terminal UPDATE received);
* p50/p99 of submit->RUNNING and submit->terminal, where "submit" is the moment the
  framework sends the ACCEPT carrying the task and RUNNING/terminal is the moment the
  UPDATE event reaches the framework;
* CPU seconds used by the master, the agents and their launchers, per task;
* for comparison, in the same run, the rate of spawning the same commands directly with
  ``os.posix_spawn`` (``/bin/sh -c true`` and ``/bin/true``) and reaping them, with a
  concurrency window similar to the cluster's.

With ``--rss`` it also runs ``--rss-tasks`` (default 200) ``sleep 30`` tasks, waits until
all are RUNNING and reports the launcher's (the supervisor's) RSS per running task.

Everything it starts is stopped on exit (LocalCluster stops master, agents and launchers
by pid; the framework tears itself down).

    python bench/launch.py                      # 1000 tasks, 2 agents, via /bin/sh -c
    python bench/launch.py --no-shell --json    # exec /bin/true directly, JSON output
    python bench/launch.py --rss                # + launcher RSS with 200 sleeping tasks
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import math
import os
import platform
import resource
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import psutil

from corral.resources import from_wire, scalars
from corral.scheduler_client import Scheduler, SchedulerDriver, command_task
from corral.testing.cluster import LocalCluster, wait_until
from corral.wire.common import Capability, FrameworkInfo
from corral.wire.scheduler import Offer
from corral.wire.tasks import TaskInfo, TaskStatus, is_terminal

now = time.perf_counter


# ====================================================================== statistics
def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))
    return s[k]


def ms(x: float | None) -> str:
    return "   n/a" if x is None else f"{x * 1e3:7.1f}"


# ====================================================================== the framework
@dataclass
class TaskTimes:
    submit: float | None = None
    running: float | None = None
    terminal: float | None = None
    state: str = "TASK_STAGING"
    message: str | None = None


@dataclass
class BenchFramework(Scheduler):
    """Packs every pending task that fits into each offer and launches it in one ACCEPT."""

    count: int
    command: str
    shell: bool
    arguments: list[str]
    cpus: float
    mem: float
    name: str = "bench-launch"
    spread: bool = True  # split pending tasks evenly over the offers of one OFFERS event
    stop_when: str = "terminal"  # or "running": done once every task is RUNNING
    times: dict[str, TaskTimes] = field(default_factory=dict)
    pending: deque[str] = field(default_factory=deque)
    accepts: int = 0
    offers_seen: int = 0
    declines: int = 0
    inflight: int = 0
    peak_inflight: int = 0
    running_now: int = 0
    peak_running: int = 0
    first_submit: float | None = None
    last_event: float | None = None
    subscribed_at: float | None = None
    failure_message: str | None = None
    suppressed: bool = False

    def __post_init__(self) -> None:
        prefix = f"{self.name}-{os.getpid()}-{int(time.time())}"
        ids = [f"{prefix}-{i}" for i in range(self.count)]
        self.times = {tid: TaskTimes() for tid in ids}
        self.pending = deque(ids)
        self.need = scalars(cpus=self.cpus, mem=self.mem)
        self.remaining = self.count  # tasks not yet done (terminal or RUNNING, see stop_when)
        self.done = asyncio.Event()

    def framework_info(self) -> FrameworkInfo:
        return FrameworkInfo(
            user=getpass.getuser(),
            name=self.name,
            hostname=socket.gethostname(),
            failover_timeout=0.0,
            capabilities=[Capability(type="PARTITION_AWARE")],
        )

    def subscribed(self, driver: SchedulerDriver, framework_id: str) -> None:
        self.subscribed_at = now()

    async def offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        self.offers_seen += len(offers)
        # Every call this event makes goes out together, and the SUPPRESS only after all of
        # them have been answered: corral's master rescinds outstanding offers on SUPPRESS,
        # so a SUPPRESS overtaking an ACCEPT on another connection would void that ACCEPT.
        calls: list[Any] = []
        quota = math.ceil(len(self.pending) / len(offers)) if self.spread else len(self.pending)
        for offer in offers:
            if self.suppressed:
                continue  # made before our SUPPRESS reached the master, which rescinds it
            available = from_wire(offer.resources)
            tasks: list[TaskInfo] = []
            while self.pending and len(tasks) < quota and available.contains(self.need):
                tid = self.pending.popleft()
                tasks.append(
                    command_task(
                        tid,
                        tid,
                        offer.agent_id.value,
                        self.command,
                        self.need,
                        shell=self.shell,
                        arguments=self.arguments,
                    )
                )
                available = available - self.need
            if tasks:
                self.accepts += 1
                calls.append(self._accept(driver, offer.id.value, tasks))
            else:
                # Nothing fits (or nothing is left): the filter only holds back offers that
                # are contained in this one, so resources freed by finishing tasks come back
                # at once.
                self.declines += 1
                calls.append(
                    driver.decline([offer.id.value], refuse_seconds=1.0 if self.pending else 3600.0)
                )
        suppress = not self.pending and not self.suppressed
        self.suppressed = self.suppressed or suppress
        if calls or suppress:
            driver.spawn(_calls(calls, driver.suppress() if suppress else None))

    async def _accept(self, driver: SchedulerDriver, offer_id: str, tasks: list[Any]) -> None:
        t = now()  # the ACCEPT carrying these tasks is sent now
        if self.first_submit is None:
            self.first_submit = t
        for task in tasks:
            self.times[task.task_id.value].submit = t
        self.inflight += len(tasks)
        self.peak_inflight = max(self.peak_inflight, self.inflight)
        await driver.launch([offer_id], tasks, refuse_seconds=0.0)

    def update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        t = now()
        rec = self.times.get(status.task_id.value)
        if rec is None or is_terminal(rec.state):
            return
        state = status.state
        if state == "TASK_RUNNING" and rec.running is None:
            rec.running = t
            self.running_now += 1
            self.peak_running = max(self.peak_running, self.running_now)
            if self.stop_when == "running":
                self._one_done(t)
        rec.state = state
        rec.message = status.message
        if is_terminal(state) or state == "TASK_UNREACHABLE":
            rec.terminal = t
            self.inflight -= 1
            if rec.running is not None:
                self.running_now -= 1
            if self.stop_when == "terminal" or rec.running is None:
                self._one_done(t)

    def _one_done(self, t: float) -> None:
        self.remaining -= 1
        self.last_event = t
        if self.remaining <= 0:
            self.done.set()

    def error(self, driver: SchedulerDriver, message: str) -> None:
        self.failure_message = message
        self.done.set()


async def _calls(calls: list[Any], then: Any = None) -> None:
    """Run driver calls concurrently, then ``then`` (failures are printed, not raised)."""
    for res in await asyncio.gather(*calls, return_exceptions=True):
        if isinstance(res, BaseException):
            print(f"bench: call failed: {res}", file=sys.stderr)
    if then is not None:
        try:
            await then
        except Exception as exc:
            print(f"bench: call failed: {exc}", file=sys.stderr)


async def drive(master: str, fw: BenchFramework, timeout: float) -> dict[str, float]:
    """Subscribe, run until ``fw.done``, tear down. Returns wall/CPU of this process."""
    driver = SchedulerDriver(master, fw.framework_info(), fw)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = now()
    runner = asyncio.get_running_loop().create_task(driver.run())
    try:
        waiter = asyncio.get_running_loop().create_task(fw.done.wait())
        finished, _ = await asyncio.wait(
            {runner, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if runner in finished and runner.exception() is not None:
            fw.failure_message = fw.failure_message or repr(runner.exception())
        if not finished:
            fw.failure_message = (
                fw.failure_message or f"timed out after {timeout}s ({fw.remaining} tasks left)"
            )
        waiter.cancel()
        t1 = now()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        await driver.stop()  # TEARDOWN: the master kills whatever is left
        if not runner.done():
            try:
                await asyncio.wait_for(runner, 5)
            except (TimeoutError, Exception):
                runner.cancel()
    return {
        "wall_s": t1 - t0,
        "cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
    }


def run_loop(coro: Any, use_uvloop: bool) -> Any:
    if use_uvloop:
        try:
            import uvloop

            return uvloop.run(coro)
        except ImportError:
            pass
    return asyncio.run(coro)


# ====================================================================== process accounting
def cluster_pids(c: LocalCluster) -> dict[str, list[int]]:
    assert c.master_proc is not None
    launchers = [a.launcher_pid for a in c.agents]
    return {
        "master": [c.master_proc.pid],
        "agent": [a.pid for a in c.agents],
        "launcher": [p for p in launchers if p is not None],
    }


@dataclass
class CpuSample:
    own: float  # user + system of the process itself
    children: float  # of its reaped children (for launchers: the tasks)


def cpu_sample(pids: dict[str, list[int]]) -> dict[str, CpuSample]:
    out: dict[str, CpuSample] = {}
    for role, plist in pids.items():
        own = children = 0.0
        for pid in plist:
            with contextlib.suppress(psutil.NoSuchProcess):
                ct = psutil.Process(pid).cpu_times()
                own += ct.user + ct.system
                children += ct.children_user + ct.children_system
        out[role] = CpuSample(own, children)
    return out


def cpu_delta(a: dict[str, CpuSample], b: dict[str, CpuSample]) -> dict[str, dict[str, float]]:
    return {
        role: {
            "own_s": b[role].own - a[role].own,
            "children_s": b[role].children - a[role].children,
        }
        for role in a
    }


def rss_of(pids: list[int]) -> dict[str, int]:
    rss = uss = 0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            p = psutil.Process(pid)
            rss += p.memory_info().rss
            with contextlib.suppress(psutil.AccessDenied):
                uss += p.memory_full_info().uss
    return {"rss": rss, "uss": uss}


def wait_idle(c: LocalCluster, timeout: float = 15.0) -> None:
    """Wait until the master has no tasks and no framework left (between phases)."""

    def idle() -> bool:
        st = c.state()
        return not any(f.get("active") for f in st.get("frameworks", [])) and all(
            not s.get("used_resources", {}).get("mem") for s in st.get("slaves", [])
        )

    with contextlib.suppress(TimeoutError):
        wait_until(idle, timeout, interval=0.05, what="cluster idle")


# ====================================================================== direct spawn baseline
def direct_spawn(
    argv: list[str], n: int, window: int, work: str, sandbox: bool = False
) -> dict[str, Any]:
    """posix_spawn ``argv`` n times, at most ``window`` alive at once, reaping each one.

    Each child gets what the launcher gives a task: its own session, stdin from /dev/null,
    stdout/stderr appended to files, the parent's environment. With ``sandbox`` every spawn
    also gets what the agent makes for a task: a fresh directory (two levels deep, as
    ``executors/<task>/runs/<container>``), a ``latest`` symlink, and new stdout/stderr files.
    """
    env = dict(os.environ)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND

    def actions_for(d: str) -> list[Any]:
        return [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.path.join(d, "stdout"), flags, 0o644),
            (os.POSIX_SPAWN_OPEN, 2, os.path.join(d, "stderr"), flags, 0o644),
        ]

    shared = actions_for(work)
    run_id = f"{os.getpid()}-{time.monotonic_ns()}"
    window = max(1, window)
    ru_self0 = resource.getrusage(resource.RUSAGE_SELF)
    ru_ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    alive = spawned = failed = peak = 0
    t0 = now()
    while spawned < n or alive:
        while spawned < n and alive < window:
            actions = shared
            if sandbox:
                d = os.path.join(work, "executors", f"{run_id}-{spawned}", "runs", "c")
                os.makedirs(d)
                with contextlib.suppress(OSError):
                    os.symlink("c", os.path.join(os.path.dirname(d), "latest"))
                actions = actions_for(d)
            os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True)
            spawned += 1
            alive += 1
            peak = max(peak, alive)
        _, status = os.wait()
        alive -= 1
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            failed += 1
    wall = now() - t0
    ru_self1 = resource.getrusage(resource.RUSAGE_SELF)
    ru_ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    parent_cpu = (ru_self1.ru_utime - ru_self0.ru_utime) + (ru_self1.ru_stime - ru_self0.ru_stime)
    child_cpu = (ru_ch1.ru_utime - ru_ch0.ru_utime) + (ru_ch1.ru_stime - ru_ch0.ru_stime)
    return {
        "argv": argv,
        "sandbox": sandbox,
        "n": n,
        "window": window,
        "peak_alive": peak,
        "failed": failed,
        "wall_s": wall,
        "per_s": n / wall if wall > 0 else None,
        "parent_cpu_ms_per_spawn": parent_cpu / n * 1e3,
        "child_cpu_ms_per_spawn": child_cpu / n * 1e3,
    }


def fs_probe(base: str | None, n: int = 200) -> dict[str, float]:
    """CPU cost of creating a directory and a file where the sandboxes go.

    Every task costs the agent three new directories and a symlink (Mesos's sandbox
    layout) and its launcher two new files (stdout, stderr), so this bounds how much of the
    per-task CPU is the file system's rather than corral's.
    """
    with tempfile.TemporaryDirectory(prefix="corral-bench-fs-", dir=base) as d:
        c0 = time.process_time()
        for i in range(n):
            os.mkdir(os.path.join(d, str(i)))
        c1 = time.process_time()
        for i in range(n):
            os.close(os.open(os.path.join(d, str(i), "f"), os.O_CREAT | os.O_WRONLY, 0o644))
        c2 = time.process_time()
    return {"mkdir_us": (c1 - c0) / n * 1e6, "create_us": (c2 - c1) / n * 1e6}


# ====================================================================== phases
def launch_phase(c: LocalCluster, args: argparse.Namespace) -> dict[str, Any]:
    if args.shell:
        command, arguments = "true", []
    else:
        command, arguments = "/bin/true", ["true"]
    fw = BenchFramework(
        count=args.tasks,
        command=command,
        shell=args.shell,
        arguments=arguments,
        cpus=args.task_cpus,
        mem=args.task_mem,
        spread=args.pack == "spread",
    )
    pids = cluster_pids(c)
    cpu0 = cpu_sample(pids)
    me = run_loop(drive(c.master, fw, args.timeout), args.uvloop)
    cpu1 = cpu_sample(pids)
    times = list(fw.times.values())
    finished = sum(1 for t in times if t.state == "TASK_FINISHED")
    states: dict[str, int] = {}
    for t in times:
        states[t.state] = states.get(t.state, 0) + 1
    to_running = [t.running - t.submit for t in times if t.running and t.submit]
    to_terminal = [t.terminal - t.submit for t in times if t.terminal and t.submit]
    window = (
        (fw.last_event - fw.first_submit) if fw.last_event and fw.first_submit else float("nan")
    )
    from_start = me["wall_s"]
    n = args.tasks
    cpu = cpu_delta(cpu0, cpu1)
    host_ms = (cpu["agent"]["own_s"] + cpu["launcher"]["own_s"]) / n * 1e3
    bad = [t.message for t in times if t.state != "TASK_FINISHED"][:3]
    return {
        "tasks": n,
        "finished": finished,
        "states": states,
        "examples_not_finished": bad,
        "failure": fw.failure_message,
        "accepts": fw.accepts,
        "offers": fw.offers_seen,
        "declines": fw.declines,
        "tasks_per_accept": n / fw.accepts if fw.accepts else None,
        "peak_inflight": fw.peak_inflight,
        "peak_running": fw.peak_running,
        "window_s": window,
        # finished tasks over the window: a run that lost tasks does not look fast
        "tasks_per_s": finished / window if window and window > 0 else None,
        "wall_incl_subscribe_s": from_start,
        "tasks_per_s_incl_subscribe": n / from_start if from_start > 0 else None,
        "submit_to_running_ms": {
            "p50": _ms(pct(to_running, 50)),
            "p99": _ms(pct(to_running, 99)),
            "max": _ms(max(to_running) if to_running else None),
        },
        "submit_to_terminal_ms": {
            "p50": _ms(pct(to_terminal, 50)),
            "p99": _ms(pct(to_terminal, 99)),
            "max": _ms(max(to_terminal) if to_terminal else None),
        },
        "cpu_s": {**cpu, "framework": {"own_s": me["cpu_s"], "children_s": 0.0}},
        "cpu_ms_per_task": {
            "master": cpu["master"]["own_s"] / n * 1e3,
            "agents": cpu["agent"]["own_s"] / n * 1e3,
            "launchers": cpu["launcher"]["own_s"] / n * 1e3,
            "agent_host": host_ms,  # agents + launchers, not the tasks themselves
            "tasks_themselves": cpu["launcher"]["children_s"] / n * 1e3,
            "framework": me["cpu_s"] / n * 1e3,
        },
    }


def _ms(x: float | None) -> float | None:
    return None if x is None else round(x * 1e3, 3)


def rss_phase(c: LocalCluster, args: argparse.Namespace) -> dict[str, Any]:
    pids = cluster_pids(c)
    before_l = rss_of(pids["launcher"])
    before_a = rss_of(pids["agent"])
    before_m = rss_of(pids["master"])
    n = args.rss_tasks
    if args.shell:
        command, arguments = "sleep 30", []
    else:
        command, arguments = "/bin/sleep", ["sleep", "30"]
    fw = BenchFramework(
        count=n,
        command=command,
        shell=args.shell,
        arguments=arguments,
        cpus=args.task_cpus,
        mem=args.task_mem,
        name="bench-rss",
        spread=args.pack == "spread",
        stop_when="running",
    )
    sample: dict[str, Any] = {}

    async def go() -> dict[str, float]:
        # Measure while every task is RUNNING, before the teardown kills them.
        orig = fw._one_done

        def on_done(t: float) -> None:
            orig(t)
            if fw.remaining <= 0:
                sample["launcher"] = rss_of(pids["launcher"])
                sample["agent"] = rss_of(pids["agent"])
                sample["master"] = rss_of(pids["master"])
                sample["running"] = fw.running_now
                sample["launcher_children"] = sum(
                    len(psutil.Process(p).children()) for p in pids["launcher"]
                )

        fw._one_done = on_done  # type: ignore[method-assign]
        return await drive(c.master, fw, args.timeout)

    run_loop(go(), args.uvloop)
    running = sample.get("running", 0)
    res: dict[str, Any] = {
        "tasks": n,
        "running_when_measured": running,
        "launcher_children_when_measured": sample.get("launcher_children"),
        "failure": fw.failure_message,
    }
    for role, before in (("launcher", before_l), ("agent", before_a), ("master", before_m)):
        after = sample.get(role, {"rss": 0, "uss": 0})
        res[role] = {
            "rss_idle_mb": before["rss"] / 2**20,
            "rss_loaded_mb": after["rss"] / 2**20,
            "uss_loaded_mb": after["uss"] / 2**20,
            "rss_per_running_task_mb": (after["rss"] / 2**20 / running) if running else None,
            "rss_delta_per_running_task_kb": ((after["rss"] - before["rss"]) / 1024 / running)
            if running
            else None,
        }
    return res


# ====================================================================== profiling (py-spy)
def start_profilers(
    pids: dict[str, list[int]], out_dir: str, rate: int
) -> list[tuple[str, Any, str]]:
    """``py-spy record`` attached to every cluster process; stopped by ``stop_profilers``."""
    import shutil
    import subprocess

    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--profile needs py-spy (pip install py-spy) and ptrace rights")
    os.makedirs(out_dir, exist_ok=True)
    procs = []
    for role, plist in pids.items():
        for i, pid in enumerate(plist):
            out = os.path.join(out_dir, f"{role}{i}-{pid}.txt")
            p = subprocess.Popen(
                [
                    exe,
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    str(rate),
                    "--format",
                    "raw",
                    "--output",
                    out,
                    "--nonblocking",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            procs.append((f"{role}{i}", p, out))
    time.sleep(1.0)  # py-spy needs a moment to attach
    return procs


def stop_profilers(procs: list[tuple[str, Any, str]]) -> None:
    import signal
    import subprocess

    for _, p, _ in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    for _name, p, _ in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def summarize_profile(path: str, top: int = 15) -> dict[str, Any]:
    """Self and inclusive sample counts per function from py-spy's collapsed stacks."""
    self_c: dict[str, int] = {}
    incl_c: dict[str, int] = {}
    total = 0
    try:
        with open(path) as f:
            lines = f.readlines()
    except OSError:
        lines = []
    for line in lines:
        stack, _, n = line.rstrip("\n").rpartition(" ")
        if not stack or not n.isdigit():
            continue
        c = int(n)
        frames = stack.split(";")
        total += c
        self_c[frames[-1]] = self_c.get(frames[-1], 0) + c
        for fr in set(frames):
            # corral's own functions (not the CLI entry points every stack goes through)
            if "corral/" in fr and "corral/cli/" not in fr and "corral/__main__" not in fr:
                incl_c[fr] = incl_c.get(fr, 0) + c
    busy = max(1, total)

    def rank(d: dict[str, int], k: int) -> list[tuple[str, int, float]]:
        return [
            (f, v, round(100 * v / busy, 1))
            for f, v in sorted(d.items(), key=lambda kv: -kv[1])[:k]
        ]

    # py-spy leaves out idle time by default: the percentages are of busy samples.
    return {"samples": total, "self": rank(self_c, top), "inclusive": rank(incl_c, top)}


# ====================================================================== output
def print_report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(
        f"corral launch bench  {m['date']}  nproc={m['nproc']}  python={m['python']}  "
        f"loop={'uvloop' if r['config']['uvloop'] else 'asyncio'} (framework)"
    )
    cfg = r["config"]
    print(
        f"config: tasks={cfg['tasks']} agents={cfg['agents']} shell={cfg['shell']} "
        f"agent_resources={cfg['agent_resources']!r} "
        f"task=cpus:{cfg['task_cpus']};mem:{cfg['task_mem']} "
        f"pack={cfg['pack']} work_dir={cfg['work_dir']}"
    )
    fs = r["fs_probe"]
    print(
        f"file system where sandboxes go: mkdir {fs['mkdir_us']:.0f} us CPU, "
        f"file create {fs['create_us']:.0f} us CPU (tmpfs: ~5 us)"
    )
    print(f"cluster start: {r['cluster_start_s']:.2f}s")
    for i, L in enumerate(r["launch"]):
        print(f"\n== cluster run {i + 1}/{len(r['launch'])}: {L['tasks']} x {cfg['command']!r}")
        print(
            f"  finished {L['finished']}/{L['tasks']}  states={L['states']}"
            + (f"  FAILURE: {L['failure']}" if L["failure"] else "")
        )
        if L["examples_not_finished"]:
            print(f"  e.g. {L['examples_not_finished']}")
        tps = L["tasks_per_s"]
        print(
            f"  end-to-end: {tps:8.1f} tasks/s   (first ACCEPT -> last terminal update: "
            f"{L['window_s']:.3f}s; incl. subscribe: {L['tasks_per_s_incl_subscribe']:.1f} tasks/s)"
            if tps
            else "  end-to-end: n/a"
        )
        sr, st = L["submit_to_running_ms"], L["submit_to_terminal_ms"]
        print(
            f"  submit->RUNNING   p50 {_f(sr['p50'])} ms  p99 {_f(sr['p99'])} ms  "
            f"max {_f(sr['max'])} ms"
        )
        print(
            f"  submit->terminal  p50 {_f(st['p50'])} ms  p99 {_f(st['p99'])} ms  "
            f"max {_f(st['max'])} ms"
        )
        print(
            f"  offers={L['offers']} accepts={L['accepts']} declines={L['declines']} "
            f"tasks/accept={L['tasks_per_accept'] or 0:.1f} peak in flight={L['peak_inflight']} "
            f"peak running={L['peak_running']}"
        )
        c = L["cpu_ms_per_task"]
        print(
            f"  CPU ms/task: master {c['master']:.2f}  agents {c['agents']:.2f}  launchers "
            f"{c['launchers']:.2f}  => agent host {c['agent_host']:.2f} (budget <= 2.00)  "
            f"| tasks themselves {c['tasks_themselves']:.2f}  framework {c['framework']:.2f}"
        )
        cs = L["cpu_s"]
        print(
            "  CPU s total: "
            + "  ".join(f"{k} {v['own_s']:.2f}" for k, v in cs.items())
            + f"  (tasks {cs['launcher']['children_s']:.2f})"
        )
    print("\n== direct os.posix_spawn + wait (this process, same run)")
    for d in r["direct"]:
        label = " ".join(d["argv"]) + (" +sandbox" if d["sandbox"] else "")
        print(
            f"  {label:<24} {d['per_s']:8.1f} spawns/s   window={d['window']} "
            f"(peak alive {d['peak_alive']})  "
            f"parent CPU {d['parent_cpu_ms_per_spawn']:.3f} ms/spawn  "
            f"child CPU {d['child_cpu_ms_per_spawn']:.3f} ms/spawn  failed={d['failed']}  "
            f"(median of {d['all_per_s']})"
        )
    best = max((L["tasks_per_s"] or 0 for L in r["launch"]), default=0)
    for d in r["direct"]:
        if d["argv"] == r["config"]["direct_same_argv"] and d["per_s"] and best:
            label = " ".join(d["argv"]) + (" +sandbox" if d["sandbox"] else "")
            print(
                f"  cluster/direct ({label}): {best / d['per_s'] * 100:.1f}%  "
                f"(best cluster run {best:.1f} tasks/s vs {d['per_s']:.1f} spawns/s)"
            )
    if r.get("rss"):
        R = r["rss"]
        print(
            f"\n== RSS with {R['running_when_measured']} x sleep 30 RUNNING "
            f"(launcher children: {R['launcher_children_when_measured']})"
            + (f"  FAILURE: {R['failure']}" if R["failure"] else "")
        )
        fresh = r["rss_fresh_mb"]
        print(
            "  fresh cluster RSS: "
            + "  ".join(f"{role} {mb:.1f} MB" for role, mb in fresh.items())
            + "  (sums over processes)"
        )
        for role in ("launcher", "agent", "master"):
            x = R[role]
            per = x["rss_per_running_task_mb"]
            d = x["rss_delta_per_running_task_kb"]
            print(
                f"  {role:<8} RSS before {x['rss_idle_mb']:6.1f} MB  "
                f"loaded {x['rss_loaded_mb']:6.1f} MB (USS {x['uss_loaded_mb']:6.1f})  "
                f"=> {per if per is not None else float('nan'):.3f} MB/task"
                f"  (delta {d if d is not None else float('nan'):.1f} kB/task)"
                + ("  budget <= 5 MB/task" if role == "launcher" else "")
            )
    for name, prof in (r.get("profile") or {}).items():
        print(f"\n== py-spy {name}: {prof['samples']} samples ({prof['file']})")
        print("  self:")
        for fn, _n, p in prof["self"]:
            print(f"    {p:5.1f}%  {fn}")
        print("  inclusive (corral functions):")
        for fn, _n, p in prof["inclusive"]:
            print(f"    {p:5.1f}%  {fn}")
    print(f"\ntotal bench wall time: {r['total_s']:.1f}s")


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:7.1f}"


# ====================================================================== main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--tasks", type=int, default=1000, help="tasks per cluster run (default 1000)")
    ap.add_argument("--agents", type=int, default=2, help="agents (default 2)")
    ap.add_argument(
        "--shell",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run `true` via /bin/sh -c (default), or exec /bin/true with shell=false",
    )
    ap.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="max tasks in flight cluster-wide, enforced through agent mem "
        "(task mem x ceil(C/agents) per agent); 0 = no limit (cpus:64;mem:65536 per agent)",
    )
    ap.add_argument(
        "--pack",
        choices=("spread", "first"),
        default="spread",
        help="spread: split pending tasks evenly over the offers of one event (default); "
        "first: fill each offer before the next",
    )
    ap.add_argument("--task-cpus", type=float, default=0.01)
    ap.add_argument("--task-mem", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=1, help="cluster runs on the same cluster")
    ap.add_argument(
        "--warmup", type=int, default=0, help="tasks launched once before the measured runs"
    )
    ap.add_argument(
        "--direct-window",
        type=int,
        default=0,
        help="concurrency of the direct posix_spawn baseline; 0 = --concurrency if set, "
        "else the cluster's observed peak of tasks in flight",
    )
    ap.add_argument(
        "--direct-repeat", type=int, default=3, help="repeats of each direct baseline (median kept)"
    )
    ap.add_argument("--no-direct", action="store_true", help="skip the direct-spawn baseline")
    ap.add_argument("--rss", action="store_true", help="also measure launcher RSS with sleep tasks")
    ap.add_argument("--rss-tasks", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=45.0, help="per cluster run, seconds")
    ap.add_argument(
        "--uvloop",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the framework on uvloop (as the daemons do)",
    )
    ap.add_argument(
        "--profile",
        metavar="DIR",
        help="attach py-spy (raw collapsed stacks into DIR) to master, agents and launchers "
        "during the measured runs, and print their hotspots",
    )
    ap.add_argument("--profile-rate", type=int, default=250, help="py-spy samples/s")
    ap.add_argument(
        "--containerizer",
        choices=("process", "linux"),
        default="process",
        help="agents' containerizer: plain processes, or cgroups v1 + namespaces (linux)",
    )
    ap.add_argument(
        "--work-dir",
        default=None,
        help="where the cluster's work dirs (sandboxes) and the baseline's files go "
        "(default: $TMPDIR or /tmp); e.g. /dev/shm to take the disk out of the picture",
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = ap.parse_args(argv)
    # `timeout` and CI send SIGTERM: unwind through the finally blocks that stop the cluster.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    if args.concurrency > 0:
        per_agent = math.ceil(args.concurrency / args.agents)
        mem = max(1, math.ceil(per_agent * args.task_mem))
        cpus = max(64.0, per_agent * args.task_cpus * 2)
        agent_resources = f"cpus:{cpus:g};mem:{mem};disk:10000"
    else:
        agent_resources = "cpus:64;mem:65536;disk:10000"

    t_all = now()
    result: dict[str, Any] = {
        "machine": {
            "date": time.strftime("%a %b %d %H:%M:%S %Z %Y"),
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "config": {
            "tasks": args.tasks,
            "agents": args.agents,
            "shell": args.shell,
            "command": "/bin/sh -c true" if args.shell else "/bin/true",
            "concurrency": args.concurrency,
            "pack": args.pack,
            "agent_resources": agent_resources,
            "task_cpus": args.task_cpus,
            "task_mem": args.task_mem,
            "uvloop": args.uvloop,
            "containerizer": args.containerizer,
            "work_dir": args.work_dir or tempfile.gettempdir(),
            "direct_same_argv": ["/bin/sh", "-c", "true"] if args.shell else ["/bin/true"],
        },
        "launch": [],
        "direct": [],
    }
    result["fs_probe"] = fs_probe(args.work_dir)
    t0 = now()
    cluster_tmp = tempfile.TemporaryDirectory(prefix="corral-bench-cluster-", dir=args.work_dir)
    with (
        cluster_tmp,
        LocalCluster(
            args.agents,
            work_dir=cluster_tmp.name,
            agent_resources=agent_resources,
            agent_flags=["--containerizers", args.containerizer],
        ) as c,
    ):
        wait_until(lambda: all(a.launcher_pid for a in c.agents), 15, what="launchers to start")
        result["cluster_start_s"] = now() - t0
        result["pids"] = cluster_pids(c)
        result["rss_fresh_mb"] = {
            role: rss_of(plist)["rss"] / 2**20 for role, plist in result["pids"].items()
        }
        if args.warmup:
            warm = argparse.Namespace(**{**vars(args), "tasks": args.warmup})
            launch_phase(c, warm)
            wait_idle(c)
        profilers = (
            start_profilers(
                {**result["pids"], "framework": [os.getpid()]}, args.profile, args.profile_rate
            )
            if args.profile
            else []
        )
        try:
            for _ in range(args.runs):
                result["launch"].append(launch_phase(c, args))
                wait_idle(c)
        finally:
            stop_profilers(profilers)
        if profilers:
            result["profile"] = {
                name: {**summarize_profile(out), "file": out} for name, _, out in profilers
            }
        if args.rss:
            result["rss"] = rss_phase(c, args)

    if not args.no_direct:
        window = (
            args.direct_window
            or args.concurrency
            or max((L["peak_inflight"] for L in result["launch"]), default=args.tasks)
        )
        window = min(window, args.tasks)
        with tempfile.TemporaryDirectory(prefix="corral-bench-", dir=args.work_dir) as work:
            same = result["config"]["direct_same_argv"]
            for argv_, sandbox in (
                (["/bin/sh", "-c", "true"], False),
                (["/bin/true"], False),
                (same, True),
            ):
                reps = [
                    direct_spawn(argv_, args.tasks, window, work, sandbox)
                    for _ in range(max(1, args.direct_repeat))
                ]
                reps.sort(key=lambda d: d["per_s"] or 0)
                med = dict(reps[len(reps) // 2])
                med["all_per_s"] = [round(d["per_s"] or 0, 1) for d in reps]
                result["direct"].append(med)
    result["total_s"] = now() - t_all

    if args.json:
        json.dump(result, sys.stdout, indent=2, default=str)
        print()
    else:
        print_report(result)
    ok = all(L["finished"] == L["tasks"] for L in result["launch"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
