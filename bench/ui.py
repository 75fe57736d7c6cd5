#!/usr/bin/env python3
"""The web UI's Tasks page and its data calls with 100,000 tasks in one master.

Starts a real master with simulated agents (``corral.testing.simagents``) and framework
processes (``bench/scale.py``'s worker) that launch ``--tasks`` long-running tasks, waits
until every task runs and the master is quiet, then times (median of ``--repeats`` reads,
with the spread):

* the baseline, in the same run: ``GET /master/tasks`` and ``GET /master/state`` (every task);
* the UI's data calls: ``/ui/api/tasks`` (first page, a deep page, filtered by state, by a
  name substring that scans every task, by framework, by agent), ``/ui/api/dashboard``,
  ``/ui/api/agents``, ``/ui/api/history``;
* the Tasks page in headless Chromium (if Playwright and /usr/bin/chromium are there): from
  navigation until its 50 rows are drawn, and a re-filter by name until the rows change.

    python bench/ui.py                                  # 1,000 agents, 100,000 tasks
    python bench/ui.py --agents 200 --tasks 10000       # a quick one

Everything it starts is stopped on exit, by pid.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import Child, cpu_seconds, note, timed_get, wait_quiet

from corral.testing.cluster import LocalCluster, http_json, wait_until

SCALE = Path(__file__).resolve().parent / "scale.py"
CHROMIUM = "/usr/bin/chromium"


def timed(url: str, repeats: int) -> dict[str, Any]:
    runs = [timed_get(url) for _ in range(repeats)]
    times = sorted(t for t, _ in runs)
    return {
        "median_ms": statistics.median(times) * 1000,
        "min_ms": times[0] * 1000,
        "max_ms": times[-1] * 1000,
        "kb": runs[0][1] / 1024,
    }


def browser_figures(base: str, repeats: int) -> dict[str, float] | str:
    if shutil.which("chromium") is None:
        return "no chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "no playwright"
    out: dict[str, list[float]] = {"tasks_page_ms": [], "refilter_ms": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.goto(f"{base}/#/")
            for _ in range(repeats):
                page.goto(f"{base}/#/")
                page.wait_for_selector("#res-cpus-total")
                t0 = time.perf_counter()
                page.goto(f"{base}/#/tasks")
                page.wait_for_function(
                    "document.querySelectorAll('#tasks-table tbody tr').length === 50"
                )
                out["tasks_page_ms"].append((time.perf_counter() - t0) * 1000)
                first = page.locator("#tasks-table tbody tr").first.inner_text()
                t0 = time.perf_counter()
                page.fill("#f-name", "fw1-")
                page.wait_for_function(
                    "(f) => { const r = document.querySelector('#tasks-table tbody tr');"
                    " return r && r.innerText !== f; }",
                    arg=first,
                )
                out["refilter_ms"].append((time.perf_counter() - t0) * 1000)
        finally:
            browser.close()
    return {k: statistics.median(v) for k, v in out.items()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out: dict[str, Any] = {"agents": args.agents, "tasks": args.tasks}
    children: list[Child] = []
    cluster = LocalCluster(0, work_dir=args.work_dir)
    try:
        cluster.start()
        mproc = psutil.Process(cluster.master_proc.pid if cluster.master_proc else 0)
        logs = cluster.work_dir / "bench"
        logs.mkdir(parents=True, exist_ok=True)
        procs = max(1, (args.agents + 2499) // 2500)
        per = [args.agents // procs] * procs
        per[-1] += args.agents - sum(per)
        sims: list[Child] = []
        base = 0
        for i, n in enumerate(per):
            argv = [
                sys.executable, "-m", "corral.testing.simagents",
                "--master", cluster.master, "--agents", str(n), "--index-base", str(base),
                "--resources", args.agent_resources, "--stats-interval", "1",
            ]  # fmt: skip
            sims.append(Child(argv, logs / f"sim{i}.log"))
            base += n
        children += sims
        wait_until(
            lambda: sum(s.last.get("registered", 0) for s in sims) >= args.agents,
            args.timeout,
            what=f"{args.agents} simulated agents registered",
        )
        note(f"{args.agents} agents registered")
        per_fw = [args.tasks // args.frameworks] * args.frameworks
        per_fw[-1] += args.tasks - sum(per_fw)
        fws: list[Child] = []
        for i, n in enumerate(per_fw):
            argv = [
                sys.executable, str(SCALE), "--worker", "--master", cluster.master,
                "--worker-tasks", str(n), "--name", f"fw{i}",
                "--task-cpus", "0.1", "--task-mem", "32",
            ]  # fmt: skip
            fws.append(Child(argv, logs / f"fw{i}.log"))
        children += fws
        wait_until(
            lambda: all(f.final is not None for f in fws) or any(f.bad for f in fws),
            args.timeout,
            what=f"{args.tasks} tasks running",
            interval=0.5,
        )
        if any(f.bad for f in fws):
            raise RuntimeError("tasks ended unexpectedly")
        note("all tasks running; waiting for the master to go quiet")
        wait_quiet(mproc, args.timeout)
        url = cluster.url
        d = http_json(f"{url}/ui/api/dashboard")
        out["tasks_in_master"] = sum(d["tasks"]["active"].values())
        fid = http_json(f"{url}/ui/api/frameworks")["frameworks"][1]["id"]
        aid = http_json(f"{url}/ui/api/agents?limit=1")["agents"][0]["id"]
        r = args.repeats
        cpu0 = cpu_seconds(mproc)
        out["baseline"] = {
            "GET /master/tasks": timed(f"{url}/master/tasks", r),
            "GET /master/state": timed(f"{url}/master/state", r),
        }
        out["ui"] = {
            "/ui/api/tasks (first page)": timed(f"{url}/ui/api/tasks", r),
            "/ui/api/tasks?offset=90000": timed(f"{url}/ui/api/tasks?offset=90000", r),
            "/ui/api/tasks?state=TASK_RUNNING&offset=50000": timed(
                f"{url}/ui/api/tasks?state=TASK_RUNNING&offset=50000", r
            ),
            "/ui/api/tasks?name=fw3-9 (scan)": timed(f"{url}/ui/api/tasks?name=fw3-9", r),
            "/ui/api/tasks?framework=F": timed(f"{url}/ui/api/tasks?framework={fid}", r),
            "/ui/api/tasks?agent=A": timed(f"{url}/ui/api/tasks?agent={aid}", r),
            "/ui/api/tasks?agent=A&state=active": timed(
                f"{url}/ui/api/tasks?agent={aid}&state=active", r
            ),
            "/ui/api/dashboard": timed(f"{url}/ui/api/dashboard", r),
            "/ui/api/agents": timed(f"{url}/ui/api/agents", r),
            "/ui/api/history": timed(f"{url}/ui/api/history", r),
            "/ (the page)": timed(f"{url}/", r),
        }
        out["read_cpu_s"] = cpu_seconds(mproc) - cpu0
        out["browser"] = browser_figures(url, r)
        return out
    finally:
        for c in children:
            c.terminate()
        for c in reversed(children):
            c.stop()
        cluster.stop()


def show(r: dict[str, Any]) -> None:
    print(f"{r['tasks_in_master']:,} tasks in the master on {r['agents']:,} simulated agents")
    print(f"{'call':<50} {'median ms':>10} {'min-max ms':>16} {'KB':>10}")
    for section in ("baseline", "ui"):
        print(f"-- {section}")
        for name, f in r[section].items():
            spread = f"{f['min_ms']:.0f}-{f['max_ms']:.0f}"
            print(f"{name:<50} {f['median_ms']:>10.1f} {spread:>16} {f['kb']:>10.1f}")
    b = r["browser"]
    if isinstance(b, dict):
        print(
            f"-- browser: Tasks page drawn {b['tasks_page_ms']:.0f} ms after navigation; "
            f"re-filtered by name in {b['refilter_ms']:.0f} ms (medians)"
        )
    else:
        print(f"-- browser: skipped ({b})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--frameworks", type=int, default=4)
    p.add_argument("--tasks", type=int, default=100_000)
    p.add_argument("--agent-resources", default="cpus:16;mem:65536;disk:500000;ports:[31000-32000]")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--work-dir", help="keep the master's and children's logs here")
    args = p.parse_args()
    for flag in ("agents", "frameworks", "tasks", "repeats"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag}: must be at least 1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with contextlib.suppress(KeyboardInterrupt):
        show(run(args))


if __name__ == "__main__":
    main()
