#!/usr/bin/env python3
"""The services framework at scale, on simulated agents, beside the bare framework.

Starts a real master (``LocalCluster`` with no real agents), one process of simulated agents
(``corral.testing.simagents``: the real agent protocol, tasks "run" without a process) and
a real ``corral services``, then measures, in one run:

1. **launch**: one app of ``--instances`` (1,000) ``sleep`` instances, from ``POST /v2/apps``
   until ``tasksHealthy`` reaches the count (the app has a COMMAND health check; the simulated
   agents run no probe, they report each task healthy at once, as a real agent does after a
   first passing probe, so this counts the framework's and the master's work, not a probe's);
2. **rolling restart**: ``POST /v2/apps/{id}/restart`` until its deployment is gone
   (default upgradeStrategy 1.0/1.0: every new instance starts beside the old ones);
3. **baseline**: the same number of ``sleep`` tasks through ``bench/launch.py``'s bare
   framework (``BenchFramework``, first ACCEPT -> last RUNNING) on the same agents;
4. **list latency**: ``--apps`` (1,000) apps of ``--per-app`` (10) instances, then
   ``GET /v2/apps`` ``--reads`` times (goal: under 200 ms with 10,000 instances).

    python bench/services.py                       # the defaults above, ~2-4 min here
    python bench/services.py --apps 100 --per-app 10 --instances 200   # a quick one

Everything it starts is stopped by pid on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from corral.testing.cluster import LocalCluster, free_port, wait_until

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import launch  # noqa: E402  (bench/launch.py: the bare framework)

now = time.perf_counter


def call(method: str, url: str, body: object = None, timeout: float = 30) -> tuple[int, Any, float]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    t = now()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    took = now() - t
    return status, (json.loads(raw) if raw.strip() else None), took


def app_state(base: str, app_id: str) -> dict[str, Any]:
    _, doc, _ = call("GET", f"{base}/v2/apps{app_id}")
    return dict(doc["app"]) if doc and "app" in doc else {}


def deployments(base: str) -> list[dict[str, Any]]:
    return list(call("GET", f"{base}/v2/deployments")[1] or [])


def wait_no_deployments(base: str, timeout: float, what: str) -> None:
    wait_until(lambda: not deployments(base), timeout, interval=0.1, what=what)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(0, min(len(s) - 1, round(q / 100 * len(s) + 0.5) - 1))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--agents", type=int, default=50, help="simulated agents (default 50)")
    ap.add_argument(
        "--agent-resources", default="cpus:64;mem:262144;disk:100000;ports:[31000-32000]"
    )
    ap.add_argument("--instances", type=int, default=1000, help="instances of the one big app")
    ap.add_argument("--apps", type=int, default=1000, help="apps for the list latency")
    ap.add_argument(
        "--per-app", type=int, default=10, help="instances per app for the list latency"
    )
    ap.add_argument("--reads", type=int, default=20, help="GET /v2/apps repeats")
    ap.add_argument("--timeout", type=float, default=300.0, help="per phase, seconds")
    ap.add_argument(
        "--lease-ttl", type=float, default=5.0, help="corral services' --lease-ttl (its default 5)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    out: dict[str, Any] = {"config": vars(args), "date": time.strftime("%a %b %d %H:%M:%S %Z %Y")}
    work = Path(tempfile.mkdtemp(prefix="corral-bench-services-"))
    children: list[subprocess.Popen[bytes]] = []

    def spawn(argv_: list[str], log: str) -> subprocess.Popen[bytes]:
        with open(work / log, "ab") as f:
            p = subprocess.Popen(
                argv_, stdin=subprocess.DEVNULL, stdout=f, stderr=f, start_new_session=True
            )
        children.append(p)
        return p

    def note(msg: str) -> None:
        if not args.json:
            print(msg, flush=True)

    try:
        with LocalCluster(0, work_dir=work / "cluster") as c:
            spawn(
                [sys.executable, "-m", "corral.testing.simagents", "--master", c.master,
                 "--agents", str(args.agents), "--resources", args.agent_resources,
                 "--stats-interval", "5"],
                "sim.log",
            )  # fmt: skip
            wait_until(
                lambda: active_agents(c) >= args.agents, 60, what=f"{args.agents} simulated agents"
            )
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            spawn(
                [sys.executable, "-m", "corral", "services", "--master", c.master,
                 "--port", str(port), "--work-dir", str(work / "services"),
                 "--lease-ttl", str(args.lease_ttl)],
                "services.log",
            )  # fmt: skip
            wait_until(lambda: _pong(base), 30, what=f"corral services (log {work}/services.log)")
            note(f"cluster: 1 master, {args.agents} simulated agents, corral services at {base}")

            # ---- 1. one app of N instances
            app = {"id": "/bench/sleep", "cmd": "sleep 100000", "cpus": 0.01, "mem": 1,
                   "instances": args.instances,
                   "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"},
                                     "gracePeriodSeconds": 30}]}  # fmt: skip
            t0 = now()
            status, doc, _ = call("POST", f"{base}/v2/apps", app)
            if status != 201:
                raise SystemExit(f"POST /v2/apps: {status} {doc}")
            wait_until(
                lambda: app_state(base, "/bench/sleep").get("tasksHealthy", 0) >= args.instances,
                args.timeout, interval=0.1, what=f"{args.instances} instances healthy",
            )  # fmt: skip
            out["services_running_s"] = now() - t0
            wait_no_deployments(base, args.timeout, "the create deployment to end")
            out["services_deployed_s"] = now() - t0
            note(
                f"services: {args.instances} instances running and healthy after "
                f"{out['services_running_s']:.2f} s (deployment over after "
                f"{out['services_deployed_s']:.2f} s)"
            )

            # ---- 2. rolling restart
            before = {t["id"] for t in app_state(base, "/bench/sleep").get("tasks", [])}
            t0 = now()
            status, doc, _ = call("POST", f"{base}/v2/apps/bench/sleep/restart")
            if status != 200:
                raise SystemExit(f"restart: {status} {doc}")
            wait_no_deployments(base, args.timeout, "the restart deployment to end")
            out["services_restart_s"] = now() - t0
            after = app_state(base, "/bench/sleep")
            ids = {t["id"] for t in after.get("tasks", []) if t.get("state") == "TASK_RUNNING"}
            out["restart_replaced_all"] = len(ids) == args.instances and not ids & before
            note(
                f"services: rolling restart of {args.instances} done in "
                f"{out['services_restart_s']:.2f} s (all replaced: {out['restart_replaced_all']})"
            )
            call("DELETE", f"{base}/v2/apps/bench/sleep?force=true")
            wait_until(
                lambda: not app_state(base, "/bench/sleep"), args.timeout, what="the app deleted"
            )

            # ---- 3. the bare framework, same tasks, same agents
            fw = launch.BenchFramework(
                count=args.instances, command="sleep 100000", shell=True, arguments=[],
                cpus=0.01, mem=1, stop_when="running",
            )  # fmt: skip
            asyncio.run(launch.drive(c.master, fw, args.timeout))
            if fw.first_submit is not None and fw.last_event is not None and fw.subscribed_at:
                out["bare_running_s"] = fw.last_event - fw.first_submit
                out["bare_running_incl_subscribe_s"] = fw.last_event - fw.subscribed_at
            out["bare_failure"] = fw.failure_message
            nan = float("nan")
            failure = f"  FAILURE: {fw.failure_message}" if fw.failure_message else ""
            note(
                f"bare framework: {args.instances} running "
                f"{out.get('bare_running_s', nan):.2f} s after its first ACCEPT "
                f"({out.get('bare_running_incl_subscribe_s', nan):.2f} s after subscribing)"
                + failure
            )

            # ---- 4. GET /v2/apps with apps x per-app instances
            t0 = now()

            def create(i: int) -> int:
                body = {"id": f"/list/app-{i:05d}", "cmd": "sleep 100000", "cpus": 0.01,
                        "mem": 1, "instances": args.per_app}  # fmt: skip
                return call("POST", f"{base}/v2/apps", body)[0]

            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(create, range(args.apps)))
            bad = [c_ for c_ in codes if c_ != 201]
            if bad:
                raise SystemExit(f"creating apps: {len(bad)} answers were not 201 (e.g. {bad[0]})")
            out["create_apps_s"] = now() - t0
            total = args.apps * args.per_app

            def all_running() -> bool:
                _, doc, _ = call("GET", f"{base}/v2/apps")
                return sum(a.get("tasksRunning", 0) for a in doc["apps"]) >= total

            wait_until(all_running, args.timeout, interval=0.5, what=f"{total} instances running")
            out["list_all_running_s"] = now() - t0
            wait_no_deployments(base, args.timeout, "the create deployments to end")
            time.sleep(1.0)  # let acknowledgements drain before timing reads
            lat = []
            size = 0
            for _ in range(args.reads):
                _, doc, took = call("GET", f"{base}/v2/apps")
                lat.append(took)
                size = len(json.dumps(doc))
            out["list_ms"] = {
                "median": statistics.median(lat) * 1e3,
                "p90": pct(lat, 90) * 1e3,
                "max": max(lat) * 1e3,
                "bytes": size,
            }
            _, _, took_tasks = call("GET", f"{base}/v2/tasks")
            out["tasks_ms"] = took_tasks * 1e3
            m = out["list_ms"]
            note(
                f"GET /v2/apps with {args.apps} apps / {total} instances: median "
                f"{m['median']:.1f} ms, p90 {m['p90']:.1f}, max {m['max']:.1f} "
                f"({m['bytes'] / 1e3:.0f} kB; goal < 200 ms); "
                f"GET /v2/tasks once {out['tasks_ms']:.0f} ms"
            )
            note(
                f"(created {args.apps} apps in {out['create_apps_s']:.1f} s; "
                f"all running after {out['list_all_running_s']:.1f} s)"
            )
    finally:
        for p in reversed(children):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if os.environ.get("KEEP_BENCH_LOGS"):
            print(f"logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    return 0


def active_agents(c: LocalCluster) -> int:
    return sum(1 for s in c.state().get("slaves", []) if s.get("active"))


def _pong(base: str) -> bool:
    """Up, leading (``/metrics`` is answered by each instance itself) and answering."""
    try:
        with urllib.request.urlopen(base + "/metrics", timeout=1) as resp:
            doc = json.loads(resp.read())
        with urllib.request.urlopen(base + "/v2/apps", timeout=2) as resp:
            ok = resp.status == 200
    except (OSError, ValueError):
        return False
    return ok and doc.get("gauges", {}).get("services.leading", {}).get("value") == 1


if __name__ == "__main__":
    sys.exit(main())
