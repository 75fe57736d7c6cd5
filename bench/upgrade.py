"""Rolling upgrade of 3 masters (+ZooKeeper) and N agents with tasks running, on sshd hosts
on loopback (as tests/integration/test_upgrade.py): the upgrade's wall time, the longest
time no master answered as leader while it ran, and tasks restarted (must be 0), beside a
baseline from the same run: `corral deploy` of the same hosts from nothing.

    sudo python bench/upgrade.py [--agents 2] [--tasks 2]      (needs root, sshd, ZooKeeper)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "integration")]

from sshd_hosts import sshd_unavailable, start_hosts  # noqa: E402
from test_deploy import corral, in_sandboxes, inventory  # noqa: E402
from test_upgrade import bumped_wheel  # noqa: E402

from corral.deploy import wheel as wheel_mod  # noqa: E402


def leads(addresses: list[str]) -> bool:
    for a in addresses:
        try:
            with urllib.request.urlopen(f"http://{a}:5050/master/state", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            continue
    return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=2)
    args = ap.parse_args()
    if why := sshd_unavailable():
        sys.exit(f"bench/upgrade.py: {why}")
    hosts = start_hosts(3 + args.agents)
    try:
        with tempfile.TemporaryDirectory(prefix="corral-bench-upgrade-") as tmp_s:
            tmp = Path(tmp_s)
            inv = tmp / "inventory.toml"
            inv.write_text(inventory(hosts, agents=args.agents))
            old, new = wheel_mod.build(tmp / "old"), bumped_wheel(tmp)
            t0 = time.monotonic()
            done = corral("deploy", str(inv), "--wheel", str(old), "--timeout", "150")
            deploy_s = time.monotonic() - t0
            assert done.returncode == 0, done.stdout + done.stderr
            zk = "zk://" + ",".join(f"{h.address}:2181" for h in hosts.hosts[:3]) + "/corral"
            for _ in range(args.tasks):
                ran = corral("run", "--master", zk, "--detach", "--", "sleep", "600")
                assert ran.returncode == 0, ran.stdout + ran.stderr
            boxes = [h.root / "var/lib/corral/agent/sandboxes" for h in hosts.hosts[3:]]
            deadline = time.monotonic() + 20
            while len(pids := set().union(*(in_sandboxes(b) for b in boxes))) < args.tasks:
                assert time.monotonic() < deadline, "tasks did not start"
                time.sleep(0.2)
            masters = [h.address for h in hosts.hosts[:3]]
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
            up = corral("upgrade", str(inv), "--to", str(new), "--step-timeout", "60")
            upgrade_s = time.monotonic() - t0
            stop.set()
            watcher.join()
            assert up.returncode == 0, up.stdout + up.stderr
            after = set().union(*(in_sandboxes(b) for b in boxes))
            restarted = len(pids - after)
            leader = next(a for a in masters if leads([a]))
            state = json.load(urllib.request.urlopen(f"http://{leader}:5050/master/state"))
            running = sum(
                t["state"] == "TASK_RUNNING" for f in state["frameworks"] for t in f["tasks"]
            )
    finally:
        hosts.stop()
        if not hosts.leftovers():
            hosts.remove()
    print(f"hosts: 3 masters (+ZooKeeper), {args.agents} agents, {args.tasks} tasks running")
    print(f"baseline  corral deploy of the same hosts (from nothing): {deploy_s:6.1f} s")
    print(f"corral upgrade (rolling, every master and agent):       {upgrade_s:6.1f} s")
    print(f"longest time without a leader during the upgrade:       {gaps[0] * 1000:6.0f} ms")
    print(f"tasks restarted: {restarted} (task processes kept: {len(after & pids)}/{len(pids)}; "
          f"TASK_RUNNING after: {running}/{args.tasks})")  # fmt: skip


if __name__ == "__main__":
    main()
