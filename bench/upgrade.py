"""Rolling upgrade of 3 masters (+ZooKeeper), N agents and the services framework (on the
first master's host) with tasks running, on sshd hosts on loopback (as
tests/integration/test_upgrade.py): the upgrade's wall time and each step's, the longest
time no master answered as leader while it ran, and tasks restarted (must be 0: the
`corral run` tasks and the services app's tasks the same processes, the framework the same
id), beside a baseline from the same run: `corral deploy` of the same hosts from nothing.

    sudo python bench/upgrade.py [--agents 2] [--tasks 2] [--instances 2]
                                                       (needs root, sshd, ZooKeeper)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "integration")]

from sshd_hosts import sshd_unavailable, start_hosts, wheelhouse  # noqa: E402
from test_deploy import corral, inventory  # noqa: E402
from test_upgrade import NEW, all_tasks, bumped_wheel, task_pids  # noqa: E402

from corral.deploy import wheel as wheel_mod  # noqa: E402

STEP = re.compile(r"^(\S+)\s+(upgrade-[a-z-]+|handover): ")
OK = re.compile(r"^(\S+)\s+ok \(.*, ([0-9.]+) s\)$")


def leads(addresses: list[str]) -> bool:
    for a in addresses:
        try:
            with urllib.request.urlopen(f"http://{a}:5050/master/state", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            continue
    return False


def state_of(masters: list[str]) -> dict:  # type: ignore[type-arg]
    for a in masters:
        try:
            with urllib.request.urlopen(f"http://{a}:5050/master/state", timeout=3) as r:
                return json.load(r)  # type: ignore[no-any-return]
        except OSError:
            continue
    raise RuntimeError("no master leads")


def step_times(out: str) -> list[tuple[str, str, float]]:
    """(host, step, seconds) from `corral upgrade`'s progress lines."""
    times, current = [], ""
    for line in out.splitlines():
        if m := STEP.match(line):
            current = m.group(2)
        elif (m := OK.match(line)) and current:
            times.append((m.group(1), current, float(m.group(2))))
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=2, help="`corral run --detach` sleep tasks")
    ap.add_argument("--instances", type=int, default=2, help="instances of one services app")
    args = ap.parse_args()
    if why := sshd_unavailable():
        sys.exit(f"bench/upgrade.py: {why}")
    hosts = start_hosts(3 + args.agents)
    try:
        with tempfile.TemporaryDirectory(prefix="corral-bench-upgrade-") as tmp_s:
            tmp = Path(tmp_s)
            inv = tmp / "inventory.toml"
            old, new = wheel_mod.build(tmp / "old"), bumped_wheel(tmp)
            pip_args = wheelhouse(old, tmp / "wheelhouse")
            inv.write_text(inventory(hosts, agents=args.agents, pip_args=pip_args,
                                     extra_roles={0: ["services"]}))  # fmt: skip
            t0 = time.monotonic()
            done = corral("deploy", str(inv), "--wheel", str(old), "--timeout", "150")
            deploy_s = time.monotonic() - t0
            assert done.returncode == 0, done.stdout + done.stderr
            zk = "zk://" + ",".join(f"{h.address}:2181" for h in hosts.hosts[:3]) + "/corral"
            for _ in range(args.tasks):
                ran = corral("run", "--master", zk, "--detach", "--", "sleep", "600")
                assert ran.returncode == 0, ran.stdout + ran.stderr
            app = {"id": "/web", "cmd": "sleep 601", "cpus": 0.1, "mem": 32,
                   "instances": args.instances}  # fmt: skip
            req = urllib.request.Request(
                f"http://{hosts.hosts[0].address}:8080/v2/apps", json.dumps(app).encode(),
                method="POST", headers={"Content-Type": "application/json"},
            )  # fmt: skip
            urllib.request.urlopen(req, timeout=10).close()
            boxes = [h.root / "var/lib/corral/agent/sandboxes" for h in hosts.hosts[3:]]
            want = args.tasks + args.instances
            deadline = time.monotonic() + 30
            while len(pids := task_pids(boxes)) < want:
                assert time.monotonic() < deadline, "tasks did not start"
                time.sleep(0.2)
            masters = [h.address for h in hosts.hosts[:3]]
            fw_before = {f["name"]: f["id"] for f in state_of(masters)["frameworks"]}
            stop, gaps = threading.Event(), [0.0]

            def watch() -> None:
                last = time.monotonic()
                while not stop.is_set():
                    if leads(masters):
                        last = time.monotonic()
                    else:
                        gaps[0] = max(gaps[0], time.monotonic() - last)
                    time.sleep(0.01)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            t0 = time.monotonic()
            up = corral("upgrade", str(inv), "--to", NEW, "--find-links", str(new.parent),
                        "--no-index", "--step-timeout", "60")  # fmt: skip
            upgrade_s = time.monotonic() - t0
            stop.set()
            watcher.join()
            assert up.returncode == 0, up.stdout + up.stderr
            after = task_pids(boxes)
            restarted = sum(not p <= after.get(t, set()) for t, p in pids.items())
            state = state_of(masters)
            running = sum(s["state"] == "TASK_RUNNING" for s in all_tasks(state).values())
            same_fw = {f["name"]: f["id"] for f in state["frameworks"]}["services"] == (
                fw_before["services"]
            )
    finally:
        hosts.stop()
        if not hosts.leftovers():
            hosts.remove()
    print(f"hosts: 3 masters (+ZooKeeper, services framework on the first), {args.agents} "
          f"agents; {args.tasks} tasks + a services app of {args.instances} running")  # fmt: skip
    print(f"baseline  corral deploy of the same hosts (from nothing): {deploy_s:6.1f} s")
    print(f"corral upgrade --to {NEW} (every master, agent, framework): {upgrade_s:6.1f} s")
    for host, step, secs in step_times(up.stdout):
        print(f"  {step:<20} {host:<8} {secs:6.2f} s (the step until healthy)")
    print(f"longest time without a leader during the upgrade:       {gaps[0] * 1000:6.0f} ms")
    print(
        f"tasks restarted: {restarted} (task processes kept: {want - restarted}/{want}; "
        f"TASK_RUNNING after: {running}/{want}; services framework id kept: {same_fw})"
    )


if __name__ == "__main__":
    main()
