#!/usr/bin/env python3
"""Planned leadership handover (POST /master/resign) against a crash failover, side by side.

Starts a real 3-node ZooKeeper ensemble and three masters in HA with one agent
(``corral.testing``), then:

* handover: ``--rounds`` times, POST /master/resign to the leader and measure, from the
  moment the request is sent, until another master first answers 200 on /master/state
  (polled every 2 ms on both standbys): the time without a serving leader.
* baseline, in the same run: ``--kills`` times, SIGKILL the leader and measure the same
  (its ZooKeeper session must expire first: ``--session-timeout``), then restart it.

Timings are printed (median and max), never asserted.

    python bench/handover.py                         # 10 handovers, 2 kills, 2 s sessions
    python bench/handover.py --session-timeout 10    # Mesos's default session timeout
"""

from __future__ import annotations

import argparse
import http.client
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from corral.testing import LocalCluster, wait_until
from corral.testing.zookeeper import ZkEnsemble


def status(port: int, method: str = "GET", path: str = "/master/state") -> int:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request(method, path, body=b"" if method == "POST" else None)
        code = conn.getresponse().status
        conn.close()
        return code
    except OSError:
        return 0


def serving_other(cluster: LocalCluster, old: int, started: float, limit: float = 60.0) -> float:
    others = [p for i, p in enumerate(cluster.ports) if i != old]
    while time.monotonic() - started < limit:
        if any(status(p) == 200 for p in others):
            return time.monotonic() - started
        time.sleep(0.002)
    raise TimeoutError("no other master served within the limit")


def leader_index(cluster: LocalCluster) -> int:
    wait_until(lambda: cluster.leader_index() is not None, 30, what="a leader")
    index = cluster.leader_index()
    assert index is not None
    return index


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--kills", type=int, default=2)
    ap.add_argument("--session-timeout", type=float, default=2.0)
    args = ap.parse_args()
    with ZkEnsemble(3) as zk, LocalCluster(
        1, masters=3, zk=zk.url(f"/bench-{uuid.uuid4().hex[:6]}"),
        zk_session_timeout=args.session_timeout,
    ) as cluster:  # fmt: skip
        handovers = []
        for _ in range(args.rounds):
            old = leader_index(cluster)
            started = time.monotonic()
            code = status(cluster.ports[old], "POST", "/master/resign")
            if code != 200:
                print(f"resign answered {code}", file=sys.stderr)
                return 1
            handovers.append(serving_other(cluster, old, started))
            cluster.wait_for_agents(1, 30)
        kills = []
        for _ in range(args.kills):
            old = leader_index(cluster)
            started = time.monotonic()
            cluster.kill_master(old, signal.SIGKILL)
            kills.append(serving_other(cluster, old, started))
            cluster.start_master_index(old)
            cluster.wait_for_agents(1, 30)
    print(f"masters: 3, ZooKeeper: 3 nodes, session timeout {args.session_timeout:g} s")
    print("time without a serving leader (request or kill -> another master answers 200):")
    for name, xs in (("planned handover (POST /master/resign)", handovers),
                     ("baseline: leader SIGKILLed", kills)):  # fmt: skip
        if xs:
            print(f"  {name:<40} n={len(xs):<3} median {statistics.median(xs) * 1000:7.1f} ms"
                  f"   max {max(xs) * 1000:7.1f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
